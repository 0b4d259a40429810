import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitUntil } from '@ticketboss/adapters-postgres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listening, repositoryRoot, startMain, waitForOutput, type Server } from './testing/main-process.js';

/** The bash blocks of a section of a Markdown file of the repository (README.md, docs/api.md). */
async function blocksOf(file: string, section: string): Promise<string[]> {
  const text = await readFile(join(repositoryRoot, file), 'utf8');
  const start = text.indexOf(`\n${section}\n`);
  expect(start, `${file} has no section ${section}`).toBeGreaterThan(0);
  const end = text.indexOf('\n## ', start + section.length + 2);
  const body = text.slice(start, end < 0 ? undefined : end);
  return [...body.matchAll(/```bash\n([\s\S]*?)```/g)].map((match) => match[1]!);
}

/** Every block starts by defaulting TICKETBOSS_URL, and no command names the server any other way. */
const URL_LINE = 'TICKETBOSS_URL=${TICKETBOSS_URL:-http://localhost:3000}';

/** A tour's answers with what differs from run to run (ids, times, the event's version) left out. */
function comparable(lines: readonly string[]): unknown[] {
  return lines.map((line) => {
    if (!line.startsWith('{')) return line.trim().split(/\s+/).at(-1);
    const {
      reservationId: _id,
      createdAt: _at,
      version: _v,
      items,
      ...rest
    } = JSON.parse(line) as Record<string, unknown>;
    return items === undefined
      ? rest
      : { ...rest, items: comparable((items as unknown[]).map((i) => JSON.stringify(i))) };
  });
}

/**
 * The examples of README.md and docs/api.md, run as written against `pnpm start` with nothing configured, with the
 * tokens that its first start prints, as a new user would paste them.
 */
describe('README.md and docs/api.md examples', () => {
  let server: Server;
  let baseUrl: string;
  let dataDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'ticketboss-readme-'));
    server = startMain({ TICKETBOSS_DATA_DIR: dataDir }, {});
    baseUrl = await listening(server);
    await waitForOutput(server, /export PARTNER_TOKEN=/);
    const exports = Object.fromEntries(
      [...server.output().matchAll(/^ {2}export (ADMIN_TOKEN|PARTNER_TOKEN)=(\S+)/gm)].map((m) => [m[1]!, m[2]!]),
    );
    expect(Object.keys(exports).sort()).toEqual(['ADMIN_TOKEN', 'PARTNER_TOKEN']);
    env = { PATH: process.env.PATH ?? '', ...exports };
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    await rm(dataDir, { recursive: true, force: true });
  });

  async function run(script: string, extraEnv: Record<string, string> = {}): Promise<string[]> {
    expect(script.split('\n')[0]).toBe(URL_LINE);
    expect(script.split('localhost:3000')).toHaveLength(2);
    // The test server listens on a free port, given as TICKETBOSS_URL. A newline after each body, one per line.
    const local = script.replaceAll(/(curl -s)/g, '$1 -w "\\n"');
    const { stdout } = await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', local], {
      env: { ...env, TICKETBOSS_URL: baseUrl, ...extraEnv },
    });
    return stdout.split('\n').filter((line) => line.trim() !== '');
  }

  /**
   * Waits until Acme's rate limit budget, which the tour empties on purpose and which all of Acme's keys share, is
   * full again, as it is for someone who reads the output before the next run: a request on a key of Acme's own
   * leaves 99 of the 100 only when the bucket was full. Acme not created yet: its budget was never touched.
   */
  async function acmeBudgetFull(): Promise<void> {
    const created = await fetch(`${baseUrl}/v1/partners/acme/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
    });
    if (created.status === 404) return;
    expect(created.status).toBe(201);
    const { token } = (await created.json()) as { token: string };
    const full = async () => {
      const probe = await fetch(`${baseUrl}/v1/events`, { headers: { authorization: `Bearer ${token}` } });
      await probe.arrayBuffer();
      return /;r=99;/.test(probe.headers.get('ratelimit') ?? '');
    };
    await waitUntil(full, "Acme's rate limit budget to be full again", { everyMs: 250 });
  }

  /** Checks one run of the tour; `version` is the event's at its start (0 on a new server). */
  function expectTour(lines: readonly string[], version: number): void {
    expect(JSON.parse(lines[0]!)).toEqual({
      eventId: 'jazz-night',
      name: 'Jazz night',
      totalSeats: 100,
      availableSeats: 100,
      reservedSeats: 0,
      heldSeats: 0,
      reservationCount: 0,
      maxSeatsPerReservation: 4,
      version,
    });
    const mine = JSON.parse(lines[1]!) as Record<string, unknown>;
    expect(mine).toMatchObject({ eventId: 'jazz-night', partnerId: 'acme', seats: 2, status: 'confirmed' });
    expect(JSON.parse(lines[2]!)).toEqual({ error: 'Reservation not found', code: 'RESERVATION_NOT_FOUND' });
    expect(JSON.parse(lines[3]!)).toEqual({ items: [mine], nextCursor: null });
    expect(JSON.parse(lines[4]!)).toEqual({ error: 'seats must be between 1 and 4', code: 'VALIDATION_ERROR' });
    expect(lines[5]).toBe('204');
    const counts = Object.fromEntries(
      lines.slice(6).map((line) => line.trim().split(/\s+/).reverse() as [string, string]),
    );
    expect(Object.keys(counts).sort()).toEqual(['200', '429']);
    expect(Number(counts['200'])).toBeGreaterThanOrEqual(100);
    expect(Number(counts['200']) + Number(counts['429'])).toBe(300);
  }

  it('the tour: a partner and an event, a reservation only its partner sees, then the rate limit', async () => {
    const [tour] = await blocksOf('README.md', '## Try it');
    expectTour(await run(tour!), 0);
  });

  it('the tour again, twice on the same server: the same answers', async () => {
    const [tour] = await blocksOf('README.md', '## Try it');
    // Each run reserves and cancels: two changes of the event.
    await acmeBudgetFull();
    const second = await run(tour!);
    expectTour(second, 2);
    await acmeBudgetFull();
    const third = await run(tour!);
    expectTour(third, 4);
    expect(comparable(third)).toEqual(comparable(second));
  });

  it("the classic routes, with the demo partner's key", async () => {
    const [classic] = await blocksOf('docs/api.md', '## The classic routes');
    const lines = await run(classic!);
    expect(JSON.parse(lines[0]!)).toMatchObject({ status: 'ok' });
    expect(JSON.parse(lines[1]!)).toEqual({
      eventId: 'node-meetup-2025',
      name: 'Node.js Meet-up',
      totalSeats: 500,
      availableSeats: 500,
      reservedSeats: 0,
      reservationCount: 0,
      version: 0,
    });
    expect(JSON.parse(lines[2]!)).toEqual({ reservationId: expect.any(String), seats: 3, status: 'confirmed' });
    expect(lines[3]).toBe('204');
    expect(JSON.parse(lines[4]!)).toEqual({
      error: 'Reservation already cancelled',
      code: 'RESERVATION_ALREADY_CANCELLED',
    });
    expect(JSON.parse(lines[5]!)).toEqual({ error: 'seats must be between 1 and 10', code: 'VALIDATION_ERROR' });
    expect(JSON.parse(lines[6]!)).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(lines).toHaveLength(7);
  });
  it('holds and safe retries, for the partner the tour made, with a key and an event of their own', async () => {
    // The tour emptied Acme's budget on purpose; the block's new key shares it.
    await acmeBudgetFull();
    const [block] = await blocksOf('docs/api.md', '## Holds, and retrying safely');
    const lines = await run(block!);
    const held = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(held).toMatchObject({ eventId: 'jazz-brunch', partnerId: 'acme', seats: 2, status: 'held' });
    // Ten minutes from the commit that took the seats, a moment after the request arrived.
    const holdMs = Date.parse(held.expiresAt as string) - Date.parse(held.createdAt as string);
    expect(holdMs).toBeGreaterThanOrEqual(600_000);
    // Not measured against the request's arrival with any precision: only that it is not, say, doubled.
    expect(holdMs).toBeLessThan(660_000);
    expect(lines[1]).toBe(lines[0]);
    expect(JSON.parse(lines[2]!)).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    expect(JSON.parse(lines[3]!)).toMatchObject({ availableSeats: 98, reservedSeats: 0, heldSeats: 2 });
    expect(JSON.parse(lines[4]!)).toMatchObject({ reservationId: held.reservationId, status: 'confirmed' });
    expect(JSON.parse(lines[5]!)).toMatchObject({ code: 'HOLD_EXPIRED' });
    expect(lines).toHaveLength(6);
  });
});

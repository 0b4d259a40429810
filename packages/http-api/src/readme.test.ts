import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listening, repositoryRoot, startMain, type Server } from './testing/main-process.js';

/** The curl examples of README.md's "The API" section, run as written against the embedded default. */
describe('README.md curl examples', () => {
  let server: Server;
  let baseUrl: string;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'ticketboss-readme-'));
    server = startMain({ TICKETBOSS_DATA_DIR: dataDir });
    baseUrl = await listening(server);
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    await rm(dataDir, { recursive: true, force: true });
  });

  it('answer as the README says', async () => {
    const readme = await readFile(join(repositoryRoot, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## The API'));
    const script = /```bash\n([\s\S]*?)```/.exec(section)?.[1];
    expect(script).toBeDefined();
    // Only the port differs: the test server listens on a free one.
    const local = script!.replaceAll('http://localhost:3000', baseUrl);
    const { stdout } = await promisify(execFile)('bash', [
      '-euo',
      'pipefail',
      '-c',
      local.replaceAll(/(curl -s)/g, '$1 -w "\\n"'),
    ]);
    const lines = stdout.split('\n').filter((line) => line.trim() !== '');
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
    expect(lines).toHaveLength(6);
  });
});

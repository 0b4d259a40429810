import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '@ticketboss/adapters-postgres/testing';
import { createManualClock } from '@ticketboss/domain/testing';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { ticketboss, type Run } from '../testing/cli-process.js';
import { listening, startMain, type Server } from '../testing/main-process.js';
import { createServices, type Services } from '../server/services.js';

const TOKEN = /tb_[a-z0-9]{16}_[A-Za-z0-9_-]{43}/;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Fixture {
  readonly database: TestDatabase;
  readonly services: Services;
  readonly cli: (...args: string[]) => Promise<Run>;
}

async function fresh(options: { migrated?: boolean } = {}): Promise<Fixture> {
  const database = await createTestDatabase(options);
  cleanups.push(() => database.drop());
  // An unmigrated database has no ticketboss_now() for the database clock; its tests use the command line alone.
  const clock = options.migrated === false ? createManualClock() : undefined;
  const services = await createServices(database.db, { maxWaitMs: 2000, clock });
  cleanups.push(() => services.close());
  return {
    database,
    services,
    cli: (...args) => ticketboss({ DATABASE_URL: database.url }, ...args),
  };
}

const parse = (run: Run): unknown => JSON.parse(run.stdout);

describe('partners', () => {
  it('create prints a token, said to be shown once, that authenticates as the partner; a second create exits 1', async () => {
    const { cli, services } = await fresh();
    const created = await cli('partners', 'create', 'acme', 'Acme', 'Tickets', 'Ltd');
    expect(created.code).toBe(0);
    expect(created.stdout).toContain('shown once');
    const token = TOKEN.exec(created.stdout)?.[0];
    expect(await services.partners.authenticate(token!)).toMatchObject({ partnerId: 'acme' });

    const [again, invalid, list] = await Promise.all([
      cli('partners', 'create', 'acme', 'Someone else'),
      cli('partners', 'create', 'no spaces!', 'Name', '--json'),
      cli('partners', 'list', '--json'),
    ]);
    expect(again).toEqual({ code: 1, stdout: '', stderr: 'ticketboss: partner acme already exists\n' });
    expect(invalid.code).toBe(1);
    expect(parse(invalid)).toEqual({ error: expect.stringContaining('partnerId must be'), code: 'VALIDATION_ERROR' });
    expect(parse(list)).toEqual({
      items: [{ partnerId: 'acme', name: 'Acme Tickets Ltd', createdAt: expect.any(String) }],
    });
  });
});

describe('keys', () => {
  it('create adds a working key beside the old one; revoke stops only the revoked one', async () => {
    const { cli, services } = await fresh();
    const outcome = await services.partners.createPartner({ partnerId: 'acme', name: 'Acme' });
    if (outcome.kind !== 'created') throw new Error(outcome.kind);
    const first = { id: outcome.key.keyId, token: outcome.token };

    const rotated = await cli('keys', 'create', 'acme', '--json');
    expect(rotated.code).toBe(0);
    const second = parse(rotated) as { id: string; token: string; prefix: string };
    expect(second.prefix).toBe(`tb_${second.id}_`);
    expect(await services.partners.authenticate(first.token)).toMatchObject({ partnerId: 'acme' });
    expect(await services.partners.authenticate(second.token)).toMatchObject({ keyId: second.id });

    const revoked = await cli('keys', 'revoke', 'acme', first.id);
    expect(revoked.code).toBe(0);
    expect(await services.partners.authenticate(first.token)).toBeUndefined();
    expect(await services.partners.authenticate(second.token)).toMatchObject({ keyId: second.id });

    const [text, json, unknownPartner, unknownKey] = await Promise.all([
      cli('keys', 'list', 'acme'),
      cli('keys', 'list', 'acme', '--json'),
      cli('keys', 'create', 'nobody'),
      cli('keys', 'revoke', 'acme', 'nosuchkey'),
    ]);
    // id, visible prefix, created, revoked ("-" while it works); never the token.
    expect(text.stdout).toMatch(new RegExp(`^${first.id}\\s+tb_${first.id}_\\s+\\S+\\s+\\d{4}-\\S+$`, 'm'));
    expect(text.stdout).toMatch(new RegExp(`^${second.id}\\s+tb_${second.id}_\\s+\\S+\\s+-$`, 'm'));
    expect(text.stdout).not.toContain(first.token.slice(-43));
    expect(parse(json)).toEqual({
      items: [
        expect.objectContaining({ id: first.id, revokedAt: expect.any(String) }),
        expect.objectContaining({ id: second.id, revokedAt: null }),
      ],
    });
    expect(unknownPartner).toMatchObject({ code: 1, stderr: 'ticketboss: partner nobody not found\n' });
    expect(unknownKey).toMatchObject({ code: 1, stderr: 'ticketboss: partner acme has no API key nosuchkey\n' });
  });
});

describe('events', () => {
  it('create makes the event; list shows every page; bad arguments exit 64, refused ones 1', async () => {
    const { cli, services } = await fresh();
    const created = await cli(
      ...['events', 'create', '--name', 'Summer Fest', '--seats', '500', '--id', 'summer-fest'],
      ...['--max-per-reservation', '4'],
    );
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(created.stdout).toContain('created event summer-fest');
    expect(await services.events.getEvent('summer-fest')).toMatchObject({
      name: 'Summer Fest',
      totalSeats: 500,
      availableSeats: 500,
      maxSeatsPerReservation: 4,
    });
    // More than one page of the use case's listing (100 a page).
    for (let i = 0; i < 120; i++) {
      await services.events.createEvent({
        eventId: `e-${i}`,
        name: `E ${i}`,
        totalSeats: 1,
        maxSeatsPerReservation: 1,
      });
    }

    const [listed, duplicate, badSeats, badId, noName] = await Promise.all([
      cli('events', 'list', '--json'),
      cli('events', 'create', '--name', 'Again', '--seats', '5', '--id', 'summer-fest'),
      cli('events', 'create', '--name', 'X', '--seats', '12abc'),
      cli('events', 'create', '--name', 'X', '--seats', '5', '--id', 'Not_An_Id'),
      cli('events', 'create', '--seats', '5'),
    ]);
    const items = (parse(listed) as { items: { eventId: string }[] }).items;
    expect(items).toHaveLength(121);
    expect(items.find((e) => e.eventId === 'summer-fest')).toMatchObject({ totalSeats: 500, reservedSeats: 0 });
    expect(duplicate).toMatchObject({ code: 1, stderr: 'ticketboss: event summer-fest already exists\n' });
    expect(badSeats).toEqual({
      code: 64,
      stdout: '',
      stderr: 'ticketboss: --seats must be a whole number from 0 to 1000000\n',
    });
    expect(badId.code).toBe(1);
    expect(badId.stderr).toMatch(/^ticketboss: --id must be .*\n$/);
    expect(noName).toMatchObject({ code: 64, stderr: 'ticketboss: events create needs --name <name>\n' });
  });
});

describe('audit', () => {
  it('exits 0 while every event adds up, and 2 naming the event whose seats were changed behind its back', async () => {
    const { cli, services, database } = await fresh();
    await services.events.createEvent({ eventId: 'fine', name: 'Fine', totalSeats: 10, maxSeatsPerReservation: 5 });
    await services.events.createEvent({ eventId: 'broken', name: 'Broken', totalSeats: 10, maxSeatsPerReservation: 5 });
    expect(await services.reservations.reserveSeats({ eventId: 'broken', partnerId: 'p', seats: 3 })).toMatchObject({
      kind: 'reserved',
    });
    expect(await cli('audit')).toEqual({ code: 0, stdout: 'ok: 2 events checked, invariant holds\n', stderr: '' });

    await sql`UPDATE event_seat_pools SET available_seats = available_seats - 1 WHERE event_id = 'broken' AND available_seats > 0 AND pool = (SELECT min(pool) FROM event_seat_pools WHERE event_id = 'broken' AND available_seats > 0)`.execute(
      database.db,
    );
    const [text, json] = await Promise.all([cli('audit'), cli('audit', '--json')]);
    expect(text.code).toBe(2);
    const breachLines = text.stdout.split('\n').filter((line) => line.startsWith('breach:'));
    expect(breachLines).toHaveLength(1);
    expect(breachLines[0]).toContain('event broken: total 10, available 6, confirmed 3, held 0');
    expect(json.code).toBe(2);
    expect(parse(json)).toEqual({
      ok: false,
      eventsChecked: 2,
      breaches: [
        {
          eventId: 'broken',
          totalSeats: 10,
          availableSeats: 6,
          reservedSeats: 3,
          heldSeats: 0,
          confirmedReservations: 1,
          heldReservations: 0,
          unmarkedExpiredHolds: 0,
          recordedReservationCount: 1,
        },
      ],
    });
  });
});

describe('usage and failures', () => {
  it('answers usage errors with 64 before touching the database, and help with 0', async () => {
    const unreachable = { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' };
    const [none, help, unknown, extra, misplaced] = await Promise.all([
      ticketboss(unreachable),
      ticketboss(unreachable, 'help'),
      ticketboss(unreachable, 'refund', 'everything'),
      ticketboss(unreachable, 'keys', 'list', 'acme', 'extra'),
      ticketboss(unreachable, 'partners', 'list', '--seats', '3'),
    ]);
    expect(none.code).toBe(64);
    expect(none.stderr).toContain('Usage: pnpm ticketboss <command>');
    expect(help).toMatchObject({ code: 0, stdout: '' });
    expect(help.stderr).toContain('Usage: pnpm ticketboss <command>');
    expect(unknown.code).toBe(64);
    expect(unknown.stderr).toMatch(/^ticketboss: unknown command "refund"\n\nUsage:/);
    expect(extra).toMatchObject({ code: 64, stderr: 'ticketboss: keys list: unexpected argument "extra"\n' });
    expect(misplaced).toMatchObject({ code: 64, stderr: 'ticketboss: --seats applies to events create only\n' });
  });

  it('exits 1 with one line when it cannot connect, or the configuration is bad', async () => {
    const [unreachable, asJson, badConfig] = await Promise.all([
      ticketboss({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' }, 'audit'),
      ticketboss({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' }, 'audit', '--json'),
      ticketboss({ DATABASE_URL: 'mysql://db/x' }, 'audit'),
    ]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/^ticketboss: cannot connect to the database: [^\n]+\n$/);
    expect(asJson.code).toBe(1);
    expect(parse(asJson)).toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
    expect(badConfig).toMatchObject({ code: 1, stderr: expect.stringMatching(/^ticketboss: DATABASE_URL must be/) });
  });

  it('refuses a database with pending migrations, naming them, and applies none itself', async () => {
    const { cli, database } = await fresh({ migrated: false });
    const run = await cli('partners', 'list');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^ticketboss: the database lacks \d+ migration\(s\): 0001_init\.sql, .*\n$/);
    const { rows } = await sql<{ ledger: string | null }>`SELECT to_regclass('schema_migrations') AS ledger`.execute(
      database.db,
    );
    expect(rows[0]?.ledger).toBeNull();
  });
});

describe('with no DATABASE_URL (embedded PostgreSQL)', () => {
  it('starts its own server on a fresh data folder, then works beside `pnpm start` on the same folder', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ticketboss-cli-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const env = { TICKETBOSS_DATA_DIR: dataDir };

    const alone = await ticketboss(
      env,
      'events',
      'create',
      '--name',
      'Made offline',
      '--seats',
      '7',
      '--id',
      'offline',
    );
    expect(alone).toMatchObject({ code: 0, stderr: '' });

    // The command released the folder (the server can start there) and the server now holds it.
    const server: Server = startMain(env);
    cleanups.push(async () => {
      server.child.kill('SIGTERM');
      await server.exited;
    });
    await listening(server);
    const beside = await ticketboss(env, 'events', 'list', '--json');
    expect(beside).toMatchObject({ code: 0, stderr: '' });
    expect((parse(beside) as { items: { eventId: string }[] }).items.map((e) => e.eventId)).toEqual([
      'node-meetup-2025',
      'offline',
    ]);
  });
});

import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readEventTotals } from '@ticketboss/adapters-postgres';
import { createTestDatabase, waitUntil, type TestDatabase } from '@ticketboss/adapters-postgres/testing';
import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { listening, startMain, waitForOutput, type Server } from '../testing/main-process.js';

const running: Server[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const server of running.splice(0)) {
    if (server.child.exitCode === null) server.child.kill('SIGKILL');
  }
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function freshDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const database = await createTestDatabase(options);
  cleanups.push(() => database.drop());
  return database;
}

function run(env: Record<string, string>): Server {
  const server = startMain(env);
  running.push(server);
  return server;
}

/** How many backends wait on a lock: the reservation held up behind a test's row lock. */
const LOCK_WAITERS = "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'";
const lockWaiters = async (db: TestDatabase['db']) =>
  (await sql<{ n: number }>`${sql.raw(LOCK_WAITERS)}`.execute(db)).rows[0]!.n;

/** pino's level-60 lines: what made start-up stop. */
function fatalLines(server: Server): string[] {
  return server
    .output()
    .split('\n')
    .filter((line) => line.includes('"level":60'));
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago): connecting to it is refused. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function reserve(baseUrl: string, seats: number): Promise<Response> {
  return fetch(`${baseUrl}/reservations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ partnerId: 'main-test', seats }),
  });
}

describe('start-up with DATABASE_URL', () => {
  it('migrates, seeds the default event, serves, and never resets the event on restart', async () => {
    const database = await freshDatabase({ migrated: false });
    const first = run({ DATABASE_URL: database.url });
    const url = await listening(first);
    expect(await (await fetch(`${url}/reservations`)).json()).toMatchObject({
      eventId: 'node-meetup-2025',
      totalSeats: 500,
      availableSeats: 500,
      version: 0,
    });
    expect((await reserve(url, 7)).status).toBe(201);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = run({ DATABASE_URL: database.url });
    const again = await listening(second);
    expect(await (await fetch(`${again}/reservations`)).json()).toMatchObject({ availableSeats: 493, version: 1 });
    expect(second.output()).toContain('schema is up to date');
  });

  it('with TICKETBOSS_MIGRATE=off, refuses to serve while a migration is pending, naming it', async () => {
    const database = await freshDatabase({ migrated: false });
    const server = run({ DATABASE_URL: database.url, TICKETBOSS_MIGRATE: 'off' });
    expect(await server.exited).toBe(1);
    const fatal = fatalLines(server);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toContain('0001_init.sql');
    expect(fatal[0]).toContain('pending');
  });

  it('with TICKETBOSS_MIGRATE=off and the schema applied, serves', async () => {
    const database = await freshDatabase();
    const url = await listening(run({ DATABASE_URL: database.url, TICKETBOSS_MIGRATE: 'off' }));
    expect((await fetch(`${url}/health`)).status).toBe(200);
  });

  it('stops with one line naming the file when an applied migration was changed', async () => {
    const database = await freshDatabase();
    await sql`UPDATE schema_migrations SET checksum = 'edited' WHERE name = '0001_init.sql'`.execute(database.db);
    const server = run({ DATABASE_URL: database.url });
    expect(await server.exited).toBe(1);
    const fatal = fatalLines(server);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatch(/migration 0001_init\.sql was changed after it was applied/);
  });

  it('stops with one fatal line that carries the error and its stack when the database refuses connections', async () => {
    const port = await closedPort();
    const server = run({ DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/none` });
    expect(await server.exited).toBe(1);
    const fatal = fatalLines(server);
    expect(fatal).toHaveLength(1);
    const line = JSON.parse(fatal[0]!) as { msg: string; err?: { message: string; stack: string } };
    expect(line.msg).toContain('ECONNREFUSED');
    // The error itself, its stack included (pino's message adds those of its causes).
    expect(line.err).toMatchObject({
      message: expect.stringContaining(line.msg) as unknown,
      stack: expect.stringMatching(/ECONNREFUSED[^]*\n\s+at /) as unknown,
    });
  });

  it('refuses a database a newer build migrated, with TICKETBOSS_MIGRATE on or off, in one line naming the files', async () => {
    const database = await freshDatabase();
    await sql`INSERT INTO schema_migrations (name, checksum) VALUES ('9999_newer.sql', ${'a'.repeat(64)})`.execute(
      database.db,
    );
    for (const migrate of ['on', 'off']) {
      const server = run({ DATABASE_URL: database.url, TICKETBOSS_MIGRATE: migrate });
      expect(await server.exited).toBe(1);
      const fatal = fatalLines(server);
      expect(fatal).toHaveLength(1);
      expect(fatal[0]).toContain('this build does not know: 9999_newer.sql');
    }
  });

  it('stops with one line naming the variable when a setting is invalid', async () => {
    const server = run({ DATABASE_URL: 'postgres://127.0.0.1/none', PORT: 'eighty' });
    expect(await server.exited).toBe(1);
    expect(server.output().trim()).toBe('ticketboss: PORT must be a whole number from 0 to 65535, got "eighty"');
  });

  it('on SIGTERM, finishes the request in flight, then exits 0 and takes no new connections', async () => {
    const database = await freshDatabase();
    const server = run({ DATABASE_URL: database.url });
    const url = await listening(server);
    // Hold the event row so the next reservation waits inside the database.
    const blocker = await database.db.startTransaction().execute();
    await sql`SELECT 1 FROM events WHERE event_id = 'node-meetup-2025' FOR UPDATE`.execute(blocker);
    const inFlight = reserve(url, 2);
    await waitUntil(() => lockWaiters(database.db).then((n) => n > 0), 'the reservation to wait on the row lock');
    server.child.kill('SIGTERM');
    await waitForOutput(server, /shutting down/);
    await waitUntil(
      () =>
        fetch(`${url}/health`).then(
          () => false,
          () => true,
        ),
      'the listener to close',
    );
    await blocker.commit().execute();
    expect((await inFlight).status).toBe(201);
    expect(await server.exited).toBe(0);
    expect(await readEventTotals(database.db, 'node-meetup-2025')).toMatchObject({ availableSeats: 498 });
  });
});

describe('start-up with no DATABASE_URL (embedded PostgreSQL)', () => {
  it('with PORT in use, says so in one line before anything is created', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ticketboss-main-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const occupant = createServer();
    await new Promise<void>((resolve) => occupant.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => occupant.close(() => resolve())));
    const { port } = occupant.address() as AddressInfo;

    const server = run({ TICKETBOSS_DATA_DIR: dataDir, PORT: String(port) });
    expect(await server.exited).toBe(1);
    expect(server.output()).toBe(`ticketboss: PORT ${port} is in use by another process; stop it or set PORT\n`);
    expect(existsSync(join(dataDir, 'admin-token'))).toBe(false);
    expect(existsSync(join(dataDir, 'pgdata'))).toBe(false);
  });

  it('a signal during start-up, or a second one during shutdown, exits at once and stops its PostgreSQL', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ticketboss-main-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const pidFile = join(dataDir, 'pgdata', 'postmaster.pid');

    // Interrupted while its cluster is being created: the next start must still find a clean slate.
    const early = run({ TICKETBOSS_DATA_DIR: dataDir });
    await waitUntil(
      () => early.output().includes('initialising') || early.child.exitCode !== null,
      'the cluster to be initialising',
      { everyMs: 5 },
    );
    early.child.kill('SIGTERM');
    expect(await early.exited).toBe(1);
    expect(early.output()).toContain('signal during start-up');

    const server = run({ TICKETBOSS_DATA_DIR: dataDir });
    const url = await listening(server);
    const postgresPid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
    // Keep a request in flight (its event row locked from outside) so the first signal has something to wait for.
    const port = /embedded PostgreSQL listening on 127\.0\.0\.1:(\d+)/.exec(server.output())![1];
    const password = (await readFile(join(dataDir, 'postgres-password'), 'utf8')).trim();
    const blocker = new pg.Client({ host: '127.0.0.1', port: Number(port), user: 'postgres', password });
    blocker.on('error', () => undefined);
    await blocker.connect();
    await blocker.query("BEGIN; SELECT 1 FROM events WHERE event_id = 'node-meetup-2025' FOR UPDATE");
    const inFlight = reserve(url, 1).catch(() => undefined);
    // Another connection watches: a transaction's own view of pg_stat_activity would not change.
    const watcher = new pg.Client({ host: '127.0.0.1', port: Number(port), user: 'postgres', password });
    watcher.on('error', () => undefined);
    await watcher.connect();
    try {
      await waitUntil(
        async () => (await watcher.query<{ n: number }>(LOCK_WAITERS)).rows[0]!.n > 0,
        'the reservation to wait on the row lock',
      );
    } finally {
      await watcher.end().catch(() => undefined);
    }
    server.child.kill('SIGINT');
    await waitForOutput(server, /shutting down/);
    server.child.kill('SIGINT');
    expect(await server.exited).toBe(1);
    await inFlight;
    await blocker.end().catch(() => undefined);
    expect(server.output()).toContain('second signal');
    await waitUntil(() => !isRunning(postgresPid), 'the embedded PostgreSQL to stop');
  });

  it('starts its own PostgreSQL, keeps the data across restarts, and stops it on SIGTERM', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ticketboss-main-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));

    const first = run({ TICKETBOSS_DATA_DIR: dataDir });
    const url = await listening(first);
    expect(first.output()).toContain('DATABASE_URL is not set');
    expect(new URL(url).hostname).toBe('127.0.0.1');
    // First start: an admin token and a demo partner's key, printed once; the admin token kept for its owner only.
    const adminToken = (await waitForOutput(first, /export ADMIN_TOKEN=(\S+)/))[1]!;
    await waitForOutput(first, /export PARTNER_TOKEN=tb_/);
    expect((await stat(join(dataDir, 'admin-token'))).mode & 0o777).toBe(0o600);
    expect((await reserve(url, 5)).status).toBe(201);
    const pidFile = join(dataDir, 'pgdata', 'postmaster.pid');
    const postgresPid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(existsSync(pidFile)).toBe(false);
    expect(isRunning(postgresPid)).toBe(false);

    const second = run({ TICKETBOSS_DATA_DIR: dataDir });
    const again = await listening(second);
    expect(await (await fetch(`${again}/reservations`)).json()).toMatchObject({ availableSeats: 495, version: 1 });
    const events = await fetch(`${again}/v1/events`, { headers: { authorization: `Bearer ${adminToken}` } });
    expect(events.status).toBe(200);
    expect(second.output()).not.toContain('export ');
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('after the API process was killed, the next start takes over the data folder', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ticketboss-main-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const first = run({ TICKETBOSS_DATA_DIR: dataDir });
    const url = await listening(first);
    expect((await reserve(url, 3)).status).toBe(201);
    first.child.kill('SIGKILL');
    await first.exited;

    const second = run({ TICKETBOSS_DATA_DIR: dataDir });
    const again = await listening(second);
    expect(await (await fetch(`${again}/reservations`)).json()).toMatchObject({ availableSeats: 497 });
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });
});

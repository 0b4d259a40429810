import { Writable } from 'node:stream';
import { createDatabase, ensureEvent, findInvariantBreaches, readMigrations } from '@ticketboss/adapters-postgres';
import { createTestDatabase, waitUntil, type TestDatabase } from '@ticketboss/adapters-postgres/testing';
import { DEFAULT_EVENT } from '@ticketboss/domain';
import { sql } from 'kysely';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from './server/api-keys.js';
import { buildApp } from './server/app.js';
import { loadConfig } from './server/config.js';
import { openDatabase, type OpenDatabase } from './server/database.js';
import { createReadinessCheck } from './server/readiness.js';
import { createServices, type Services } from './server/services.js';
import { startTcpProxy, type TcpProxy } from './testing/tcp-proxy.js';

interface LogLine {
  readonly level: number;
  readonly msg: string;
}

const ADMIN_TOKEN = 'outage-admin-token-0123456789abcdef';
const logLines: LogLine[] = [];
let database: TestDatabase;
let proxy: TcpProxy;
let opened: OpenDatabase;
let readinessDb: ReturnType<typeof createDatabase>;
let app: FastifyInstance;
let services: Services;
let token: string;

beforeAll(async () => {
  database = await createTestDatabase();
  const direct = new URL(database.url);
  proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
  const proxied = new URL(database.url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(proxy.port);
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(JSON.parse(chunk.toString()) as LogLine);
      done();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  // Wired as start.ts wires it: the requests' pool from openDatabase (which logs outages), /ready on its own.
  opened = await openDatabase(loadConfig({ DATABASE_URL: proxied.toString(), TICKETBOSS_MAX_WAIT_MS: '2000' }), logger);
  await ensureEvent(opened.db, DEFAULT_EVENT);
  readinessDb = createDatabase({ connectionString: proxied.toString(), poolSize: 1, connectTimeoutMs: 1000 });
  services = await createServices(opened.db, { maxWaitMs: 2000 });
  app = buildApp({
    ...services,
    readiness: createReadinessCheck(readinessDb, (await readMigrations()).files, 1000),
    defaultEventId: DEFAULT_EVENT.eventId,
    seedAuth: 'api-key',
    adminTokenHash: sha256(ADMIN_TOKEN),
    logger,
  });
  const partner = await services.partners.createPartner({ partnerId: 'outage', name: 'Outage partner' });
  if (partner.kind !== 'created') throw new Error(partner.kind);
  token = partner.token;
});

afterAll(async () => {
  try {
    await app?.close();
    await services?.close();
    await readinessDb?.destroy();
    await opened?.close();
    await proxy?.close();
  } finally {
    await database?.drop();
  }
});

const reserve = () =>
  app.inject({
    method: 'POST',
    url: '/reservations',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    payload: { seats: 1 },
  });

const ready = async () => (await app.inject({ method: 'GET', url: '/ready' })).statusCode;

describe('when the database goes away and comes back', () => {
  it('answers 503 DATABASE_UNAVAILABLE with Retry-After meanwhile, logs the outage once, and serves again after', async () => {
    expect((await reserve()).statusCode).toBe(201);
    expect((await app.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(200);

    await proxy.cut();
    const during = [
      await reserve(),
      await reserve(),
      // The key lookup of an authenticated route is the first thing to meet the outage.
      await app.inject({ method: 'GET', url: '/v1/events', headers: { authorization: `Bearer ${token}` } }),
      await app.inject({ method: 'GET', url: '/reservations' }),
      await app.inject({
        method: 'GET',
        url: `/v1/events/${DEFAULT_EVENT.eventId}`,
        headers: { authorization: `Bearer ${token}` },
      }),
    ];
    for (const response of during) {
      expect(response.statusCode).toBe(503);
      expect(response.headers['retry-after']).toBe('2');
      expect(response.json()).toEqual({ error: expect.stringContaining('database'), code: 'DATABASE_UNAVAILABLE' });
    }
    // A readiness report answers the probes of the second after its check began: the outage shows within it.
    await waitUntil(async () => (await ready()) === 503, '/ready to answer 503');
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    const warnings = logLines.filter((line) => line.level === 40);
    expect(warnings.map((line) => line.msg)).toEqual(['database unavailable: answering 503 until it answers again']);
    expect(logLines.filter((line) => line.level >= 50)).toEqual([]);

    await proxy.restore();
    expect((await reserve()).statusCode).toBe(201);
    await waitUntil(async () => (await ready()) === 200, '/ready to answer 200 again');
    // The end of the outage is logged once queries have succeeded for a quiet second.
    await waitUntil(async () => {
      expect((await reserve()).statusCode).toBe(201);
      return logLines.some((line) => line.msg === 'database answers again');
    }, 'the end of the outage to be logged');
    expect(logLines.filter((line) => line.msg === 'database answers again')).toHaveLength(1);
    expect(logLines.filter((line) => line.level === 40)).toHaveLength(1);
    expect(await findInvariantBreaches(database.db)).toEqual([]);
  });
});

describe('when the database goes away under a reservation with an Idempotency-Key', () => {
  it('answers 503, and the key left claimed is logged at info, not at warn once per request', async () => {
    await proxy.restore();
    await waitUntil(async () => (await reserve()).statusCode === 201, 'the database to answer through the proxy');
    const before = logLines.length;
    // The commit waits on the event row, locked over a direct connection, while the proxy is cut under it.
    const blocker = await database.db.startTransaction().execute();
    try {
      await sql`SELECT 1 FROM events WHERE event_id = ${DEFAULT_EVENT.eventId} FOR UPDATE`.execute(blocker);
      const answer = app.inject({
        method: 'POST',
        url: '/reservations',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': 'cut-1' },
        payload: { seats: 1 },
      });
      await waitUntil(
        async () =>
          (
            await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE wait_event_type = 'Lock' AND datname = current_database()`.execute(database.db)
          ).rows[0]!.n > 0,
        'the commit to wait on the row lock',
      );
      await proxy.cut();
      const response = await answer;
      expect(response.statusCode).toBe(503);
      expect(response.json()).toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
    } finally {
      await blocker.rollback().execute();
      await proxy.restore();
    }
    const lines = logLines.slice(before);
    expect(lines.filter((line) => line.level === 30 && /Idempotency-Key not given back/.test(line.msg))).toHaveLength(
      1,
    );
    expect(lines.filter((line) => line.level >= 40).map((line) => line.msg)).toEqual([
      'database unavailable: answering 503 until it answers again',
    ]);
    expect(await findInvariantBreaches(database.db)).toEqual([]);
  });
});

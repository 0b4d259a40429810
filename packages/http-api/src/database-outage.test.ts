import { Writable } from 'node:stream';
import { createDatabase, ensureEvent, findInvariantBreaches, readMigrations } from '@ticketboss/adapters-postgres';
import { createTestDatabase, type TestDatabase } from '@ticketboss/adapters-postgres/testing';
import { DEFAULT_EVENT } from '@ticketboss/domain';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from './api-keys.js';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';
import { openDatabase, type OpenDatabase } from './database.js';
import { createReadinessCheck } from './readiness.js';
import { createServices } from './services.js';
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
  // Wired as main.ts wires it: the requests' pool from openDatabase (which logs outages), /ready on its own.
  opened = await openDatabase(loadConfig({ DATABASE_URL: proxied.toString(), TICKETBOSS_MAX_WAIT_MS: '2000' }), logger);
  await ensureEvent(opened.db, DEFAULT_EVENT);
  readinessDb = createDatabase({ connectionString: proxied.toString(), poolSize: 1, connectTimeoutMs: 1000 });
  const services = createServices(opened.db, { maxWaitMs: 2000 });
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
    expect((await app.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(503);
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    const warnings = logLines.filter((line) => line.level === 40);
    expect(warnings.map((line) => line.msg)).toEqual(['database unavailable: answering 503 until it answers again']);
    expect(logLines.filter((line) => line.level >= 50)).toEqual([]);

    await proxy.restore();
    expect((await reserve()).statusCode).toBe(201);
    expect((await app.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(200);
    expect(logLines.filter((line) => line.msg === 'database answers again')).toHaveLength(1);
    expect(logLines.filter((line) => line.level === 40)).toHaveLength(1);
    expect(await findInvariantBreaches(database.db)).toEqual([]);
  });
});

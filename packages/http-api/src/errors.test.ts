import { Writable } from 'node:stream';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '@ticketboss/adapters-postgres/testing';
import { createAppWithDatabase, TEST_ADMIN_TOKEN, type AppWithDatabase } from './testing/app-with-database.js';

const logLines: string[] = [];
let t: AppWithDatabase;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  t = await createAppWithDatabase({ logger: pino({ level: 'info' }, sink) });
});
afterAll(() => t.close());

describe('when the database fails inside a reservation', () => {
  it('answers a bare 500, keeps seats and version unchanged, and logs the cause', async () => {
    await sql`ALTER TABLE reservations ADD CONSTRAINT test_only_reject CHECK (partner_id <> 'explode')`.execute(
      t.database.db,
    );
    const before = (await t.app.inject({ method: 'GET', url: '/reservations' })).json<unknown>();

    const response = await t.app.inject({
      method: 'POST',
      url: '/reservations',
      headers: { 'content-type': 'application/json', 'x-request-id': 'explode-1' },
      payload: { partnerId: 'explode', seats: 5 },
    });

    expect(response.statusCode).toBe(500);
    expect(response.json()).toEqual({ error: 'Internal server error', code: 'INTERNAL_ERROR' });
    expect(response.body).not.toMatch(/constraint|reservations|sql|stack|at /i);
    expect((await t.app.inject({ method: 'GET', url: '/reservations' })).json()).toEqual(before);
    expect(await t.invariantBreaches()).toEqual([]);
    const logged = logLines.map(
      (line) => JSON.parse(line) as { reqId?: string; level: number; err?: { message: string } },
    );
    expect(logged).toContainEqual(
      expect.objectContaining({
        reqId: 'explode-1',
        level: 50,
        err: expect.objectContaining({ message: expect.stringContaining('test_only_reject') }),
      }),
    );

    await sql`ALTER TABLE reservations DROP CONSTRAINT test_only_reject`.execute(t.database.db);
    const retried = await t.app.inject({
      method: 'POST',
      url: '/reservations',
      headers: { 'content-type': 'application/json' },
      payload: { partnerId: 'explode', seats: 5 },
    });
    expect(retried.statusCode).toBe(201);
  });
});

describe('when someone else holds the event row longer than a request may wait', () => {
  it('answers 503 CONTENDED with Retry-After in bounded time, and applies nothing', async () => {
    const database = await createTestDatabase();
    const busy = await createAppWithDatabase({ database, maxWaitMs: 500, lockTimeoutMs: 250 });
    try {
      const blocker = await database.db.startTransaction().execute();
      await sql`SELECT 1 FROM events WHERE event_id = 'node-meetup-2025' FOR UPDATE`.execute(blocker);
      const started = performance.now();
      const response = await busy.app.inject({
        method: 'POST',
        url: '/reservations',
        headers: { 'content-type': 'application/json' },
        payload: { partnerId: 'patient', seats: 2 },
      });
      const waited = performance.now() - started;
      await blocker.commit().execute();

      expect(response.statusCode).toBe(503);
      expect(response.headers['retry-after']).toBe('1');
      expect(response.json<{ code: string }>().code).toBe('CONTENDED');
      // It waited its full allowance, and was answered while the row was still locked: bounded, not by the lock.
      expect(waited).toBeGreaterThanOrEqual(500);
      expect(await busy.invariantBreaches()).toEqual([]);
      const event = await database.db.selectFrom('events').selectAll().executeTakeFirstOrThrow();
      expect(event).toMatchObject({ available_seats: 500, version: '0' });
      // Once the row is free, the same request goes through.
      const retried = await busy.app.inject({
        method: 'POST',
        url: '/reservations',
        headers: { 'content-type': 'application/json' },
        payload: { partnerId: 'patient', seats: 2 },
      });
      expect(retried.statusCode).toBe(201);
    } finally {
      await busy.close();
      await database.drop();
    }
  });
});

describe('when a migration holds the events table', () => {
  it('a read answers 503 CONTENDED rather than failing', async () => {
    const database = await createTestDatabase();
    const busy = await createAppWithDatabase({ database, lockTimeoutMs: 200 });
    try {
      const blocker = await database.db.startTransaction().execute();
      await sql`LOCK TABLE events IN ACCESS EXCLUSIVE MODE`.execute(blocker);
      const summary = await busy.app.inject({ method: 'GET', url: '/reservations' });
      await blocker.commit().execute();
      expect(summary.statusCode).toBe(503);
      expect(summary.json()).toMatchObject({ code: 'CONTENDED' });
      expect((await busy.app.inject({ method: 'GET', url: '/reservations' })).statusCode).toBe(200);
    } finally {
      await busy.close();
      await database.drop();
    }
  });
});

describe('admin and key reads behind a lock', () => {
  it('a PATCH behind a held event row, and a key lookup behind a locked keys table, answer 503, applying nothing', async () => {
    const database = await createTestDatabase();
    const busy = await createAppWithDatabase({ database, lockTimeoutMs: 200 });
    const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' };
    try {
      const token = await busy.createPartner('locked-out');
      const blocker = await database.db.startTransaction().execute();
      await sql`SELECT 1 FROM events WHERE event_id = 'node-meetup-2025' FOR UPDATE`.execute(blocker);
      await sql`LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE`.execute(blocker);
      const patch = await busy.app.inject({
        method: 'PATCH',
        url: '/v1/events/node-meetup-2025',
        headers: admin,
        payload: { totalSeats: 600 },
      });
      const read = await busy.app.inject({
        method: 'GET',
        url: '/v1/events',
        headers: { authorization: `Bearer ${token}` },
      });
      await blocker.commit().execute();
      expect([patch.statusCode, read.statusCode]).toEqual([503, 503]);
      expect(patch.json()).toMatchObject({ code: 'CONTENDED' });
      expect(patch.headers['retry-after']).toBe('1');
      const event = await database.db.selectFrom('events').selectAll().executeTakeFirstOrThrow();
      expect(event).toMatchObject({ total_seats: 500, version: '0' });
    } finally {
      await busy.close();
      await database.drop();
    }
  });
});

import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEventTotals } from '@ticketboss/adapters-postgres';
import { createTestDatabase, waitUntil } from '@ticketboss/adapters-postgres/testing';
import { createAppWithDatabase, TEST_ADMIN_TOKEN, type AppWithDatabase } from '../testing/app-with-database.js';

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
      expect(await readEventTotals(database.db, 'node-meetup-2025')).toMatchObject({ availableSeats: 500, version: 0 });
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

/** An HTTP answer read off a raw socket: status, headers (lower-case names) and the body parsed as JSON. */
interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: unknown;
}

/** Writes `request` as is on a new connection and reads the answer until the server closes it. */
async function rawRequest(address: string, request: string): Promise<RawAnswer> {
  const { port } = new URL(address);
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(request));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
  const split = text.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n');
  const headers = Object.fromEntries(
    lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
  );
  const body = text.slice(split + 4);
  return { status: Number(statusLine.split(' ')[1]), headers, body: body === '' ? undefined : JSON.parse(body) };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface LoggedLine {
  reqId?: string;
  msg?: string;
  res?: { statusCode?: number };
}

/** The log lines of one request id, once there is at least one (waited for, as lines may trail the answer). */
async function loggedFor(reqId: string): Promise<LoggedLine[]> {
  const lines = () => logLines.map((line) => JSON.parse(line) as LoggedLine).filter((line) => line.reqId === reqId);
  await waitUntil(() => lines().length > 0, `a log line of request ${reqId}`);
  return lines();
}

describe('answers given before a route is found', () => {
  let address: string;
  beforeAll(async () => {
    address = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });

  it('a URL that cannot be decoded: 400 in the error shape, with an X-Request-Id, logged', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/v1/reservations/%ZZ' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: 'The request URL is not valid', code: 'BAD_REQUEST' });
    const id = response.headers['x-request-id'];
    expect(id).toMatch(UUID);
    expect(await loggedFor(String(id))).toContainEqual(expect.objectContaining({ res: { statusCode: 400 } }));
    const given = await t.app.inject({ method: 'GET', url: '/%zz', headers: { 'x-request-id': 'bad-url-1' } });
    expect(given.headers['x-request-id']).toBe('bad-url-1');
    const counted = await t.app.inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    });
    expect(counted.body).toMatch(/^ticketboss_http_requests_total\{method="GET",route="unmatched",status="400"\} 2$/m);
  });

  it('oversized headers and unparseable HTTP, answered on the socket: the error shape, an X-Request-Id, a log line', async () => {
    const huge = await rawRequest(address, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    const garbage = await rawRequest(address, 'THIS IS NOT HTTP\r\n\r\n');
    expect(huge).toMatchObject({
      status: 431,
      body: { error: 'Request headers are too large', code: 'HEADERS_TOO_LARGE' },
    });
    expect(garbage).toMatchObject({ status: 400, body: { error: 'Malformed HTTP request', code: 'BAD_REQUEST' } });
    for (const [answer, status] of [
      [huge, 431],
      [garbage, 400],
    ] as const) {
      expect(answer.headers['x-request-id']).toMatch(UUID);
      expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(await loggedFor(answer.headers['x-request-id']!)).toEqual([
        expect.objectContaining({
          req: { remoteAddress: '127.0.0.1' },
          res: { statusCode: status },
          msg: 'request refused',
        }),
      ]);
    }
  });

  it('an HTTP/1.1 request without Host: 400 naming the header, in the error shape, with an X-Request-Id', async () => {
    const answer = await rawRequest(address, 'GET /health HTTP/1.1\r\nConnection: close\r\n\r\n');
    expect(answer).toMatchObject({
      status: 400,
      body: { error: 'HTTP/1.1 requests must send a Host header', code: 'BAD_REQUEST' },
    });
    expect(answer.headers['x-request-id']).toMatch(UUID);
    expect(await loggedFor(answer.headers['x-request-id']!)).toContainEqual(
      expect.objectContaining({ res: expect.objectContaining({ statusCode: 400 }) }),
    );
    // HTTP/1.0 has no Host requirement.
    const old = await rawRequest(address, 'GET /health HTTP/1.0\r\n\r\n');
    expect(old).toMatchObject({ status: 200, body: { status: 'ok' } });
  });
});

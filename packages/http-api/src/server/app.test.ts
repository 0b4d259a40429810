import { connect } from 'node:net';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAppWithDatabase, type AppWithDatabase } from '../testing/app-with-database.js';

let t: AppWithDatabase;

beforeAll(async () => {
  t = await createAppWithDatabase();
});
afterEach(async () => {
  expect(await t.invariantBreaches()).toEqual([]);
});
afterAll(() => t.close());

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function post(payload: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  return t.app.inject({
    method: 'POST',
    url: '/reservations',
    headers,
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
}

async function summary() {
  return (await t.app.inject({ method: 'GET', url: '/reservations' })).json<Record<string, number | string>>();
}

function expectError(response: LightMyRequestResponse, status: number, error: string, code: string) {
  expect(response.statusCode).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  expect(response.json()).toEqual({ error, code });
}

describe('GET /health', () => {
  it('answers 200 with status ok and an ISO 8601 timestamp', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/health' });
    expect(response.statusCode).toBe(200);
    const body = response.json<{ status: string; timestamp: string }>();
    expect(Object.keys(body)).toEqual(['status', 'timestamp']);
    expect(body.status).toBe('ok');
    expect(new Date(body.timestamp).toISOString()).toBe(body.timestamp);
  });
});

describe('GET /reservations', () => {
  it('answers the summary of the default event with exactly the documented fields', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/reservations' });
    expect(response.statusCode).toBe(200);
    const body = response.json<Record<string, unknown>>();
    expect(Object.keys(body).sort()).toEqual(
      ['availableSeats', 'eventId', 'name', 'reservationCount', 'reservedSeats', 'totalSeats', 'version'].sort(),
    );
    expect(body).toMatchObject({ eventId: 'node-meetup-2025', name: 'Node.js Meet-up', totalSeats: 500 });
  });
});

describe('POST /reservations', () => {
  it('reserves seats: 201 with a UUID, the seats and status confirmed; the summary follows', async () => {
    const before = await summary();
    const response = await post({ partnerId: 'abc-corp', seats: 3 });
    expect(response.statusCode).toBe(201);
    const body = response.json<{ reservationId: string }>();
    expect(body).toEqual({ reservationId: expect.stringMatching(UUID), seats: 3, status: 'confirmed' });
    expect(await summary()).toMatchObject({
      availableSeats: Number(before.availableSeats) - 3,
      reservedSeats: Number(before.reservedSeats) + 3,
      reservationCount: Number(before.reservationCount) + 1,
      version: Number(before.version) + 1,
    });
  });

  it('keeps a sane X-Request-Id from the caller and makes one up otherwise', async () => {
    const given = await t.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'partner-42.a' } });
    expect(given.headers['x-request-id']).toBe('partner-42.a');
    const made = await t.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'bad id\u0001' } });
    expect(made.headers['x-request-id']).toMatch(UUID);
  });

  it('400 "seats is required" when seats is missing', async () => {
    expectError(await post({ partnerId: 'abc' }), 400, 'seats is required', 'VALIDATION_ERROR');
  });

  it.each([0, 11, -1, 2.5, '3', null, true, [3], { n: 3 }])(
    '400 "seats must be between 1 and 10" for seats = %j',
    async (seats) => {
      expectError(await post({ partnerId: 'abc', seats }), 400, 'seats must be between 1 and 10', 'VALIDATION_ERROR');
    },
  );

  it('400 "partnerId is required" when partnerId is missing', async () => {
    expectError(await post({ seats: 2 }), 400, 'partnerId is required', 'VALIDATION_ERROR');
  });

  it.each([5, null, '', '   ', '\t', 'x'.repeat(65), 'a\u0000b', ['abc'], { id: 'abc' }])(
    '400 for partnerId = %j, naming the rule',
    async (partnerId) => {
      expectError(
        await post({ partnerId, seats: 2 }),
        400,
        'partnerId must be a non-empty string of at most 64 characters',
        'VALIDATION_ERROR',
      );
    },
  );

  it('accepts a partnerId of exactly 64 characters', async () => {
    expect((await post({ partnerId: 'p'.repeat(64), seats: 1 })).statusCode).toBe(201);
  });

  it.each([[], 'a string', 42, null])('400 when the body is not a JSON object: %j', async (body) => {
    expectError(await post(JSON.stringify(body)), 400, 'body must be a JSON object', 'VALIDATION_ERROR');
  });

  it('400 for malformed JSON and an empty JSON body', async () => {
    expectError(await post('{"partnerId": "abc", "seats": '), 400, 'Request body is not valid JSON', 'INVALID_JSON');
    expectError(await post(''), 400, 'Request body is empty', 'INVALID_JSON');
  });

  it('400 when there is no body at all', async () => {
    const response = await t.app.inject({ method: 'POST', url: '/reservations' });
    expectError(response, 400, 'body must be a JSON object', 'VALIDATION_ERROR');
  });

  it('415 for other content types', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      expectError(
        await post('partnerId=abc&seats=1', { 'content-type': type }),
        415,
        'Content-Type must be application/json',
        'UNSUPPORTED_MEDIA_TYPE',
      );
    }
  });

  it('413 for a body over 64 KiB, and accepts one just under', async () => {
    const padding = (n: number) => JSON.stringify({ partnerId: 'abc', seats: 1, note: 'x'.repeat(n) });
    const base = padding(0).length;
    expect((await post(padding(64 * 1024 - base))).statusCode).toBe(201);
    expectError(
      await post(padding(64 * 1024 - base + 1)),
      413,
      'Request body is larger than 64 KiB',
      'PAYLOAD_TOO_LARGE',
    );
  });

  it('409 "Not enough seats left" when the seats do not fit, and nothing changes', async () => {
    const start = await summary();
    const ids: string[] = [];
    for (let left = Number(start.availableSeats); left > 0;) {
      const seats = Math.min(10, left);
      const response = await post({ partnerId: 'bulk', seats });
      expect(response.statusCode).toBe(201);
      ids.push(response.json<{ reservationId: string }>().reservationId);
      left -= seats;
    }
    const soldOut = await summary();
    expect(soldOut.availableSeats).toBe(0);
    expectError(await post({ partnerId: 'late', seats: 1 }), 409, 'Not enough seats left', 'INSUFFICIENT_SEATS');
    expect(await summary()).toEqual(soldOut);

    // Cancelling everything gives every seat back.
    for (const id of ids) {
      expect((await t.app.inject({ method: 'DELETE', url: `/reservations/${id}` })).statusCode).toBe(204);
    }
    expect(await summary()).toMatchObject({ availableSeats: start.availableSeats, reservedSeats: start.reservedSeats });
  });
});

describe('DELETE /reservations/:reservationId', () => {
  it('204 with an empty body, the seats return to the pool; a second DELETE says already cancelled', async () => {
    const created = await post({ partnerId: 'abc', seats: 4 });
    expect(created.statusCode).toBe(201);
    const { reservationId } = created.json<{ reservationId: string }>();
    const before = await summary();

    const response = await t.app.inject({ method: 'DELETE', url: `/reservations/${reservationId}` });
    expect(response.statusCode).toBe(204);
    expect(response.body).toBe('');
    expect(await summary()).toMatchObject({
      availableSeats: Number(before.availableSeats) + 4,
      reservedSeats: Number(before.reservedSeats) - 4,
      reservationCount: Number(before.reservationCount) - 1,
      version: Number(before.version) + 1,
    });

    const after = await summary();
    expectError(
      await t.app.inject({ method: 'DELETE', url: `/reservations/${reservationId}` }),
      404,
      'Reservation already cancelled',
      'RESERVATION_ALREADY_CANCELLED',
    );
    expect(await summary()).toEqual(after);
  });

  it.each(['8d3f1c9e-0000-4000-8000-000000000000', 'not-a-uuid', '1%27%20OR%20%271%27%3D%271', 'x'.repeat(300)])(
    '404 "Reservation not found" for %s',
    async (id) => {
      expectError(
        await t.app.inject({ method: 'DELETE', url: `/reservations/${id}` }),
        404,
        'Reservation not found',
        'RESERVATION_NOT_FOUND',
      );
    },
  );
});

describe('requests the framework refuses before any route', () => {
  it('a URL that cannot be decoded: 400 in the usual error shape', async () => {
    expectError(await t.app.inject({ method: 'GET', url: '/%zz' }), 400, 'The request URL is not valid', 'BAD_REQUEST');
  });

  it('a JSON body with __proto__ or constructor.prototype keys: the keys are dropped, never applied', async () => {
    const response = await post(
      '{"partnerId":"abc","seats":1,"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}',
    );
    expect(response.statusCode).toBe(201);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('unparseable HTTP and oversized headers: answered in the usual error shape on the socket', async () => {
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = new URL(address);
    const raw = (request: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () => socket.write(request));
        let answer = '';
        socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
        socket.on('close', () => resolve(answer));
        socket.on('error', reject);
      });
    const garbage = await raw('THIS IS NOT HTTP\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    expect(JSON.parse(garbage.slice(garbage.indexOf('\r\n\r\n') + 4))).toEqual({
      error: 'Malformed HTTP request',
      code: 'BAD_REQUEST',
    });
    const huge = await raw(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(huge).toMatch(/^HTTP\/1\.1 431 /);
    expect(huge).toContain('"code":"HEADERS_TOO_LARGE"');
  });
});

describe('unknown routes', () => {
  it('answer 404 JSON', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/v0/nothing?x=1' });
    expectError(response, 404, 'Route GET /v0/nothing not found', 'ROUTE_NOT_FOUND');
    expect((await t.app.inject({ method: 'PUT', url: '/reservations' })).statusCode).toBe(404);
  });
});

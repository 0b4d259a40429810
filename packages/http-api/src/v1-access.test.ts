import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryRateLimiter } from './plugins/rate-limit.js';
import { createAppWithDatabase, TEST_ADMIN_TOKEN, type AppWithDatabase } from './testing/app-with-database.js';
import { admin, bearer, expectError, uniqueId, useApiKeyApp, UUID, v1Calls } from './testing/v1-api.js';

const t = useApiKeyApp();
const { call, newEvent, reserve, reserved } = v1Calls(t);

describe('authentication', () => {
  it('answers 401 UNAUTHORIZED, with WWW-Authenticate, without a token, with a wrong one or a malformed header', async () => {
    for (const headers of [
      {},
      bearer('tb_aaaaaaaaaaaaaaaa_' + 'x'.repeat(43)),
      bearer('nonsense'),
      { authorization: TEST_ADMIN_TOKEN },
      { authorization: `Basic ${TEST_ADMIN_TOKEN}` },
    ]) {
      const response = await call('GET', '/v1/events', headers);
      expectError(response, 401, 'UNAUTHORIZED');
      expect(response.headers['www-authenticate']).toBe('Bearer realm="ticketboss"');
    }
  });

  it('answers 403 FORBIDDEN to a partner token on admin routes, and to the admin token on partner routes', async () => {
    const token = await t.createPartner(uniqueId('p'));
    expectError(await call('POST', '/v1/events', bearer(token), { name: 'X', totalSeats: 1 }), 403, 'FORBIDDEN');
    expectError(await call('POST', '/v1/partners', bearer(token), { partnerId: 'x', name: 'X' }), 403, 'FORBIDDEN');
    expectError(await call('PATCH', '/v1/events/node-meetup-2025', bearer(token), { name: 'X' }), 403, 'FORBIDDEN');
    expectError(await reserve(TEST_ADMIN_TOKEN, 'node-meetup-2025', 1), 403, 'FORBIDDEN');
  });

  it('without TICKETBOSS_ADMIN_TOKEN, the admin routes answer 401 to everyone', async () => {
    const other = await createAppWithDatabase({ database: t.database, adminToken: null });
    try {
      const response = await call('POST', '/v1/partners', admin, { partnerId: 'nobody', name: 'N' }, other.app);
      expectError(response, 401, 'UNAUTHORIZED');
      const token = await t.createPartner(uniqueId('no-admin'));
      expectError(
        await call('POST', '/v1/events', bearer(token), { name: 'X', totalSeats: 1 }, other.app),
        401,
        'UNAUTHORIZED',
      );
      expect((await call('GET', '/v1/events', bearer(token), undefined, other.app)).statusCode).toBe(200);
    } finally {
      await other.close();
    }
  });
});

describe('the classic routes with TICKETBOSS_AUTH=api-key', () => {
  it("POST needs a partner key; the partner is the key's; a different partnerId in the body answers 403", async () => {
    const partnerId = uniqueId('seed');
    const token = await t.createPartner(partnerId);
    expectError(await call('POST', '/reservations', {}, { partnerId, seats: 1 }), 401, 'UNAUTHORIZED');
    expectError(await call('POST', '/reservations', admin, { partnerId, seats: 1 }), 403, 'FORBIDDEN');
    expectError(
      await call('POST', '/reservations', bearer(token), { partnerId: 'someone-else', seats: 1 }),
      403,
      'FORBIDDEN',
    );
    const plain = await call('POST', '/reservations', bearer(token), { seats: 2 });
    expect(plain.statusCode).toBe(201);
    expect(plain.json()).toEqual({ reservationId: expect.stringMatching(UUID), seats: 2, status: 'confirmed' });
    expect((await call('POST', '/reservations', bearer(token), { partnerId, seats: 1 })).statusCode).toBe(201);
    const { reservationId } = plain.json<{ reservationId: string }>();
    expect((await call('GET', `/v1/reservations/${reservationId}`, bearer(token))).json()).toMatchObject({
      partnerId,
      eventId: 'node-meetup-2025',
    });
    expectError(
      await call('POST', '/reservations', bearer(token), { seats: 11 }),
      400,
      'VALIDATION_ERROR',
      'seats must be between 1 and 10',
    );
  });

  it("DELETE needs a partner key and cancels only the partner's own reservations", async () => {
    const [owner, other] = [await t.createPartner(uniqueId('own')), await t.createPartner(uniqueId('oth'))];
    const { reservationId } = (await call('POST', '/reservations', bearer(owner), { seats: 1 })).json<{
      reservationId: string;
    }>();
    expectError(await call('DELETE', `/reservations/${reservationId}`), 401, 'UNAUTHORIZED');
    expectError(await call('DELETE', `/reservations/${reservationId}`, bearer(other)), 404, 'RESERVATION_NOT_FOUND');
    expect((await call('DELETE', `/reservations/${reservationId}`, bearer(owner))).statusCode).toBe(204);
  });

  it('GET /reservations and GET /health stay open', async () => {
    expect((await call('GET', '/reservations')).statusCode).toBe(200);
    expect((await call('GET', '/health')).statusCode).toBe(200);
  });

  it('cancels through the classic route only reservations of the default event', async () => {
    const token = await t.createPartner(uniqueId('evt'));
    const id = await reserved(token, await newEvent(), 1);
    expectError(await call('DELETE', `/reservations/${id}`, bearer(token)), 404, 'RESERVATION_NOT_FOUND');
    expect((await call('DELETE', `/v1/reservations/${id}`, bearer(token))).statusCode).toBe(204);
  });
});

describe('rate limits', () => {
  let limited: AppWithDatabase;
  let now = 0;
  const policy = { perSecond: 1, burst: 3 };

  beforeAll(async () => {
    limited = await createAppWithDatabase({
      database: t.database,
      seedAuth: 'api-key',
      rateLimit: { policy, limiter: createMemoryRateLimiter(policy, () => now) },
    });
  });
  afterAll(() => limited.close());

  it('answers 429 RATE_LIMITED past the burst, with Retry-After and the draft RateLimit headers', async () => {
    const token = await t.createPartner(uniqueId('rl'));
    const responses = [];
    for (let i = 0; i < 4; i += 1)
      responses.push(await call('GET', '/v1/events', bearer(token), undefined, limited.app));
    expect(responses.map((r) => r.statusCode)).toEqual([200, 200, 200, 429]);
    expect(responses[0]!.headers['ratelimit-policy']).toBe('"per-partner";q=3;w=3');
    expect(responses.map((r) => r.headers.ratelimit)).toEqual([
      '"per-partner";r=2;t=1',
      '"per-partner";r=1;t=2',
      '"per-partner";r=0;t=3',
      // Refused: t is the wait until the next request fits, as Retry-After (the draft wants them to agree).
      '"per-partner";r=0;t=1',
    ]);
    expectError(responses[3]!, 429, 'RATE_LIMITED');
    expect(responses[3]!.headers['retry-after']).toBe('1');
    expect(responses[2]!.headers['retry-after']).toBeUndefined();

    // Another partner's key has its own budget; the first gets one request back per second.
    const other = await t.createPartner(uniqueId('rl2'));
    expect((await call('GET', '/v1/events', bearer(other), undefined, limited.app)).statusCode).toBe(200);
    now += 1000;
    expect((await call('GET', '/v1/events', bearer(token), undefined, limited.app)).statusCode).toBe(200);
    expect((await call('GET', '/v1/events', bearer(token), undefined, limited.app)).statusCode).toBe(429);
  });

  it('counts requests without a valid key per client address, and never limits /health', async () => {
    now += 10_000;
    const statuses = [];
    for (let i = 0; i < 4; i += 1)
      statuses.push((await call('GET', '/reservations', {}, undefined, limited.app)).statusCode);
    expect(statuses).toEqual([200, 200, 200, 429]);
    // A wrong token is no key: it is counted against the address.
    const bad = await call('GET', '/v1/events', bearer('wrong'), undefined, limited.app);
    expectError(bad, 429, 'RATE_LIMITED');
    expect(bad.headers.ratelimit).toBe('"per-address";r=0;t=1');
    for (let i = 0; i < 10; i += 1) {
      expect((await call('GET', '/health', {}, undefined, limited.app)).statusCode).toBe(200);
    }
  });
});

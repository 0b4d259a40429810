import { randomUUID } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '@ticketboss/adapters-postgres/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryRateLimiter, type RateLimiter, type RateLimitPolicy } from './plugins/rate-limit.js';
import { createRedisRateLimiter } from './plugins/rate-limit-redis.js';
import { createAppWithDatabase, type AppWithDatabase } from './testing/app-with-database.js';
import { bearer, uniqueId } from './testing/v1-api.js';

/** A partner's API keys share one rate limit budget: adding keys adds no requests, with either limiter. */

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const REDIS_REQUIRED = process.env.TEST_REDIS_URL !== undefined;

/** A client for inspecting and cleaning up, or undefined when no Redis answers. */
async function connectRedis(url: string): Promise<Redis | undefined> {
  const client = new Redis(url, { lazyConnect: true, retryStrategy: () => null, connectTimeout: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return client;
  } catch {
    client.disconnect();
    return undefined;
  }
}

const redis = await connectRedis(REDIS_URL);
const skipped = { needs: 'Redis', reason: `no Redis at ${REDIS_URL}; set TEST_REDIS_URL to require it` };
if (!redis && !REDIS_REQUIRED) console.warn(`[partner-budget.test] skipped: ${skipped.reason}`);

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await redis?.quit();
  await database?.drop();
});

/** A partner with two API keys: the one it was created with and a second one, as a rotation leaves it. */
async function partnerWithTwoKeys(t: AppWithDatabase, partnerId: string): Promise<[string, string]> {
  const first = await t.createPartner(partnerId);
  const second = await t.services.partners.issueKey(partnerId);
  if (second.kind !== 'issued') throw new Error(`second key of ${partnerId}: ${second.kind}`);
  return [first, second.token];
}

const getEvents = (t: AppWithDatabase, token: string) =>
  t.app.inject({ method: 'GET', url: '/v1/events', headers: bearer(token) });

/** Six requests alternating between a new partner's two keys, under a burst of 3; then another partner's. */
async function expectOneBudget(t: AppWithDatabase, partnerId: string): Promise<void> {
  const keys = await partnerWithTwoKeys(t, partnerId);
  const responses = [];
  for (let i = 0; i < 6; i += 1) responses.push(await getEvents(t, keys[i % 2]!));
  expect(responses.map((r) => r.statusCode)).toEqual([200, 200, 200, 429, 429, 429]);
  expect(responses.map((r) => r.headers.ratelimit)).toEqual([
    expect.stringMatching(/^"per-partner";r=2;/),
    expect.stringMatching(/^"per-partner";r=1;/),
    expect.stringMatching(/^"per-partner";r=0;/),
    expect.stringMatching(/^"per-partner";r=0;/),
    expect.stringMatching(/^"per-partner";r=0;/),
    expect.stringMatching(/^"per-partner";r=0;/),
  ]);
  expect(responses[3]!.json()).toMatchObject({ code: 'RATE_LIMITED' });
  // Another partner's budget is its own.
  const other = await t.createPartner(uniqueId('other'));
  expect((await getEvents(t, other)).statusCode).toBe(200);
}

async function appWith(limiter: RateLimiter, policy: RateLimitPolicy): Promise<AppWithDatabase> {
  return createAppWithDatabase({ database, seedAuth: 'api-key', rateLimit: { policy, limiter } });
}

describe("a partner's keys, with the in-memory limiter", () => {
  it('share one budget: requests alternating between two keys are refused after one burst', async () => {
    const policy = { perSecond: 1, burst: 3 };
    // A clock that never moves: an empty bucket stays empty.
    const t = await appWith(
      createMemoryRateLimiter(policy, () => 0),
      policy,
    );
    try {
      await expectOneBudget(t, uniqueId('memory'));
    } finally {
      await t.close();
    }
  });
});

describe.skipIf(!redis && !REDIS_REQUIRED)("a partner's keys, with the Redis limiter", { meta: { skipped } }, () => {
  it('share one budget, kept under ticketboss:rl:partner:<partnerId>', async () => {
    if (!redis) throw new Error(`no Redis answers at ${REDIS_URL} (TEST_REDIS_URL)`);
    // 100 s a request: no bucket refills while the test runs on a slow machine (Redis's clock moves).
    const policy = { perSecond: 0.01, burst: 3 };
    const keyPrefix = `ticketboss:rl:test:${randomUUID()}:`;
    const errors: Error[] = [];
    const limiter = createRedisRateLimiter(policy, {
      url: REDIS_URL,
      keyPrefix,
      commandTimeoutMs: 2000,
      onError: (e) => errors.push(e),
    });
    const t = await appWith(limiter, policy);
    try {
      const partnerId = uniqueId('redis');
      await expectOneBudget(t, partnerId);
      // Decided in Redis, not by the local fallback; one bucket for the partner, none per key.
      expect(errors).toEqual([]);
      const stored = await redis.keys(`${keyPrefix}*`);
      expect(stored.filter((key) => key.includes(partnerId))).toEqual([`${keyPrefix}partner:${partnerId}`]);
      expect(stored.every((key) => key.startsWith(`${keyPrefix}partner:`))).toBe(true);
    } finally {
      await t.close();
      await limiter.close();
      const stored = await redis.keys(`${keyPrefix}*`);
      if (stored.length > 0) await redis.del(...stored);
    }
  });
});

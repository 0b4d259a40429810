import { createHook } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { setRateLimitHeaders } from './rate-limit.js';
import { createRedisRateLimiter } from './rate-limit-redis.js';
import { allowed, fakeReply } from '../testing/rate-limit.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const REDIS_REQUIRED = process.env.TEST_REDIS_URL !== undefined;

/** A client for inspecting and cleaning up, or undefined when no Redis answers. */
async function connectAdmin(url: string): Promise<Redis | undefined> {
  const client = new Redis(url, { lazyConnect: true, retryStrategy: () => null, connectTimeout: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    return client;
  } catch {
    client.disconnect();
    return undefined;
  }
}

const admin = await connectAdmin(REDIS_URL);
const skipped = { needs: 'Redis', reason: `no Redis at ${REDIS_URL}; set TEST_REDIS_URL to require it` };
if (!admin && !REDIS_REQUIRED) console.warn(`[rate-limit-redis.test] skipped: ${skipped.reason}`);

// Long intervals (100 s a request), so that no bucket refills while a test runs on a slow machine.
const policy = { perSecond: 0.01, burst: 4 };
const keyPrefix = `ticketboss:rl:test:${randomUUID()}:`;

afterAll(async () => {
  if (!admin) return;
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await admin.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  await admin.quit();
});

function redis(): Redis {
  if (!admin) throw new Error(`no Redis answers at ${REDIS_URL} (TEST_REDIS_URL)`);
  return admin;
}

/**
 * Watches the sockets and timers created from now on; `expectAllClosed` waits (a little, bounded) for them to close
 * and fails naming those that would still keep the process alive.
 */
function watchHandles(): { expectAllClosed(): Promise<void> } {
  const created = new Map<number, { type: string; resource: object }>();
  let recording = true;
  const hook = createHook({
    init(asyncId, type, _triggerId, resource) {
      if (recording && (type === 'TCPWRAP' || type === 'Timeout')) created.set(asyncId, { type, resource });
    },
    destroy(asyncId) {
      created.delete(asyncId);
    },
  }).enable();
  const open = (): string[] =>
    [...created.values()]
      .filter(({ type, resource }) => type === 'TCPWRAP' || (resource as NodeJS.Timeout).hasRef())
      .map(({ type }) => type);
  return {
    async expectAllClosed() {
      recording = false;
      for (let i = 0; i < 50 && open().length > 0; i++) await sleep(20);
      hook.disable();
      expect(open()).toEqual([]);
    },
  };
}

/** A TCP proxy to Redis that can stop passing Redis's answers on: a Redis that hangs, for one client. */
async function freezableProxy(target: string): Promise<{ url: string; freeze(): void; close(): Promise<void> }> {
  const upstreamUrl = new URL(target);
  const sockets = new Set<Socket>();
  let frozen = false;
  const server = createServer((downstream) => {
    const upstream = connect(Number(upstreamUrl.port || 6379), upstreamUrl.hostname);
    sockets.add(downstream).add(upstream);
    downstream.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (!frozen) downstream.write(chunk);
    });
    for (const socket of [downstream, upstream]) {
      socket.on('error', () => {});
      socket.on('close', () => {
        downstream.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.toString(),
    freeze: () => (frozen = true),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('createRedisRateLimiter without Redis', () => {
  it('decides locally at once, tells onError, and closes cleanly', async () => {
    const handles = watchHandles();
    const errors: Error[] = [];
    // Nothing listens on port 1.
    const limiter = createRedisRateLimiter(
      { perSecond: 0.01, burst: 2 },
      { url: 'redis://127.0.0.1:1', onError: (e) => errors.push(e) },
    );
    try {
      const started = performance.now();
      const decisions = [await limiter.consume('k'), await limiter.consume('k'), await limiter.consume('k')];
      // Far beyond the few milliseconds it takes: only a limiter that waited for Redis to come back fails this.
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(decisions).toEqual([
        allowed(1, 100),
        allowed(0, 200),
        { allowed: false, remaining: 0, resetSeconds: 200, retryAfterSeconds: 100 },
      ]);
      expect(errors.length).toBeGreaterThanOrEqual(1);
      expect(errors[0]).toBeInstanceOf(Error);
      expect(errors[0]?.message).toMatch(/^Redis rate limiter (connection failed|failed, deciding locally)/);
    } finally {
      await limiter.close();
    }
    await handles.expectAllClosed();
  });

  it('does not reject or throw when closed before its first connection attempt ends', async () => {
    const limiter = createRedisRateLimiter({ perSecond: 0.01, burst: 2 }, { url: 'redis://127.0.0.1:1' });
    await limiter.close();
    expect(await limiter.consume('k')).toEqual(allowed(1, 100));
  });
});

describe.skipIf(!admin && !REDIS_REQUIRED)('createRedisRateLimiter against Redis', { meta: { skipped } }, () => {
  it('reaches the Redis of TEST_REDIS_URL', () => {
    expect(admin, `no Redis answers at ${REDIS_URL}`).toBeDefined();
  });

  it('closes its connection and leaves no timer running', async () => {
    const handles = watchHandles();
    const limiter = createRedisRateLimiter(policy, { url: REDIS_URL, keyPrefix, commandTimeoutMs: 2000 });
    await limiter.consume('closing');
    await limiter.close();
    await handles.expectAllClosed();
  });

  it('shares one bucket between limiters with their own connections, as separate processes would', async () => {
    const errors: Error[] = [];
    const options = { url: REDIS_URL, keyPrefix, commandTimeoutMs: 2000, onError: (e: Error) => errors.push(e) };
    const first = createRedisRateLimiter(policy, options);
    const second = createRedisRateLimiter(policy, options);
    try {
      const decisions = [
        await first.consume('shared'),
        await second.consume('shared'),
        await first.consume('shared'),
        await second.consume('shared'),
      ];
      expect(decisions.map((d) => [d.allowed, d.remaining])).toEqual([
        [true, 3],
        [true, 2],
        [true, 1],
        [true, 0],
      ]);
      for (const limiter of [first, second]) {
        const refused = await limiter.consume('shared');
        expect(refused).toMatchObject({ allowed: false, remaining: 0 });
        // 100 s until one request is back, 400 s until all four are, less what the test took.
        expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(99);
        expect(refused.retryAfterSeconds).toBeLessThanOrEqual(100);
        expect(refused.resetSeconds).toBeGreaterThanOrEqual(399);
        expect(refused.resetSeconds).toBeLessThanOrEqual(400);
      }
      expect(await second.consume('another')).toEqual(allowed(3, 100));
      expect(errors).toEqual([]);
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('lets a key expire when its bucket is full again', async () => {
    const limiter = createRedisRateLimiter(policy, { url: REDIS_URL, keyPrefix, commandTimeoutMs: 2000 });
    try {
      await limiter.consume('expiring');
      await limiter.consume('expiring');
      const ttl = await redis().pttl(`${keyPrefix}expiring`);
      expect(ttl).toBeGreaterThan(190_000);
      expect(ttl).toBeLessThanOrEqual(200_000);
    } finally {
      await limiter.close();
    }
  });

  it('decides from the stored theoretical arrival time, on the Redis clock', async () => {
    const limiter = createRedisRateLimiter(policy, { url: REDIS_URL, keyPrefix, commandTimeoutMs: 2000 });
    try {
      const key = `${keyPrefix}stored`;
      // Long past: the bucket is full.
      await redis().set(key, '0');
      expect(await limiter.consume('stored')).toEqual(allowed(3, 100));

      // 150 s ahead of Redis's now: 1.5 requests spent, so 1.5 left after this one, floored to 1.
      const [seconds = 0, micros = 0] = ((await redis().call('TIME')) as string[]).map(Number);
      await redis().set(key, String(seconds * 1_000_000 + micros + 150_000_000));
      const decision = await limiter.consume('stored');
      expect(decision).toMatchObject({ allowed: true, remaining: 1 });
      expect(decision.resetSeconds).toBeGreaterThanOrEqual(249);
      expect(decision.resetSeconds).toBeLessThanOrEqual(250);
    } finally {
      await limiter.close();
    }
  });

  it('gives setRateLimitHeaders what it needs', async () => {
    const errors: Error[] = [];
    const limiter = createRedisRateLimiter(
      { perSecond: 0.01, burst: 1 },
      { url: REDIS_URL, keyPrefix, commandTimeoutMs: 2000, onError: (e) => errors.push(e) },
    );
    try {
      const first = fakeReply();
      setRateLimitHeaders(first, 'partner', { perSecond: 0.01, burst: 1 }, await limiter.consume('headers'));
      expect(first.headers).toEqual({ 'ratelimit-policy': '"partner";q=1;w=100', ratelimit: '"partner";r=0;t=100' });

      const second = fakeReply();
      setRateLimitHeaders(second, 'partner', { perSecond: 0.01, burst: 1 }, await limiter.consume('headers'));
      expect(second.headers['ratelimit-policy']).toBe('"partner";q=1;w=100');
      expect(second.headers.ratelimit).toMatch(/^"partner";r=0;t=(99|100)$/);
      expect(second.headers['retry-after']).toMatch(/^(99|100)$/);
      expect(errors).toEqual([]);
    } finally {
      await limiter.close();
    }
  });

  it('decides locally, within the command timeout, when Redis stops answering', async () => {
    const proxy = await freezableProxy(REDIS_URL);
    const errors: Error[] = [];
    const limiter = createRedisRateLimiter(policy, {
      url: proxy.url,
      keyPrefix,
      commandTimeoutMs: 1000,
      onError: (e) => errors.push(e),
    });
    try {
      expect(await limiter.consume('hanging')).toEqual(allowed(3, 100));
      expect(errors).toEqual([]);

      proxy.freeze();
      const started = performance.now();
      // Redis has one request counted (it would say 2 remaining); the local bucket is fresh.
      expect(await limiter.consume('hanging')).toEqual(allowed(3, 100));
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(errors).toHaveLength(1);
      expect(errors[0]?.message).toMatch(/deciding locally: Command timed out/);
    } finally {
      await limiter.close();
      await proxy.close();
    }
  });
});

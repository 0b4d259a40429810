import { describe, expect, it } from 'vitest';
import {
  createMemoryRateLimiter,
  setRateLimitHeaders,
  type RateLimitDecision,
  type RateLimitPolicy,
} from './rate-limit.js';
import { allowed, fakeReply } from '../testing/rate-limit.js';

function manualClock(startMs = Date.UTC(2026, 0, 1)): { now: () => number; advance: (ms: number) => void } {
  let nowMs = startMs;
  return { now: () => nowMs, advance: (ms) => (nowMs += ms) };
}

const refused = (resetSeconds: number, retryAfterSeconds: number): RateLimitDecision => ({
  allowed: false,
  remaining: 0,
  resetSeconds,
  retryAfterSeconds,
});

describe('createMemoryRateLimiter', () => {
  it('allows exactly burst requests at once, then refuses until one has refilled', async () => {
    const clock = manualClock();
    // One request per 500 ms, five at once.
    const limiter = createMemoryRateLimiter({ perSecond: 2, burst: 5 }, clock.now);

    const burst = [];
    for (let i = 0; i < 5; i++) burst.push(await limiter.consume('partner'));
    expect(burst).toEqual([allowed(4, 1), allowed(3, 1), allowed(2, 2), allowed(1, 2), allowed(0, 3)]);
    expect(await limiter.consume('partner')).toEqual(refused(3, 1));

    clock.advance(499);
    expect(await limiter.consume('partner')).toEqual(refused(3, 1));
    clock.advance(1);
    expect(await limiter.consume('partner')).toEqual(allowed(0, 3));
    expect(await limiter.consume('partner')).toEqual(refused(3, 1));
  });

  it('refills at perSecond and is full again after burst / perSecond', async () => {
    const clock = manualClock();
    const limiter = createMemoryRateLimiter({ perSecond: 2, burst: 5 }, clock.now);
    for (let i = 0; i < 5; i++) await limiter.consume('partner');

    clock.advance(1000);
    expect(await limiter.consume('partner')).toEqual(allowed(1, 2));
    expect(await limiter.consume('partner')).toEqual(allowed(0, 3));
    expect(await limiter.consume('partner')).toEqual(refused(3, 1));

    clock.advance(2500);
    const again = [];
    for (let i = 0; i < 6; i++) again.push((await limiter.consume('partner')).allowed);
    expect(again).toEqual([true, true, true, true, true, false]);
  });

  it('counts Retry-After and reset in whole seconds, rounded up', async () => {
    const clock = manualClock();
    // One request per 10 s, two at once.
    const limiter = createMemoryRateLimiter({ perSecond: 0.1, burst: 2 }, clock.now);
    expect(await limiter.consume('partner')).toEqual(allowed(1, 10));
    expect(await limiter.consume('partner')).toEqual(allowed(0, 20));
    expect(await limiter.consume('partner')).toEqual(refused(20, 10));

    clock.advance(2500);
    expect(await limiter.consume('partner')).toEqual(refused(18, 8));
    clock.advance(7499);
    expect(await limiter.consume('partner')).toEqual(refused(11, 1));
    clock.advance(1);
    expect(await limiter.consume('partner')).toEqual(allowed(0, 20));
  });

  it('keeps one bucket per key', async () => {
    const clock = manualClock();
    const limiter = createMemoryRateLimiter({ perSecond: 1, burst: 2 }, clock.now);
    await limiter.consume('a');
    await limiter.consume('a');
    expect((await limiter.consume('a')).allowed).toBe(false);

    expect(await limiter.consume('b')).toEqual(allowed(1, 1));
    expect(await limiter.consume('b')).toEqual(allowed(0, 2));
    expect((await limiter.consume('a')).allowed).toBe(false);
  });

  it('prunes full buckets, so that many one-off keys do not grow the map without bound', async () => {
    const clock = manualClock();
    const limiter = createMemoryRateLimiter({ perSecond: 1, burst: 1 }, clock.now);
    let largest = 0;
    for (let i = 0; i < 20_000; i++) {
      await limiter.consume(`once-${i}`);
      largest = Math.max(largest, limiter.size);
      clock.advance(100);
    }
    // Ten keys are busy at any time (each for 1 s, one new every 100 ms); pruning starts at 1,024.
    expect(largest).toBeLessThanOrEqual(1025);
  });

  it('never prunes a bucket that is not full', async () => {
    const clock = manualClock();
    // One request per hour.
    const limiter = createMemoryRateLimiter({ perSecond: 1 / 3600, burst: 1 }, clock.now);
    for (let i = 0; i < 2000; i++) await limiter.consume(`old-${i}`);
    clock.advance(3600_000);
    await limiter.consume('hot');
    for (let i = 0; i < 2000; i++) {
      await limiter.consume(`new-${i}`);
      clock.advance(100);
    }

    // The 2,000 old keys are full again and gone; the hot one and the 2,000 new ones are kept.
    expect(limiter.size).toBe(2001);
    expect(await limiter.consume('hot')).toEqual(refused(3400, 3400));
    expect((await limiter.consume('new-0')).allowed).toBe(false);
  });

  it('refuses a policy it cannot enforce', () => {
    const bad: RateLimitPolicy[] = [
      { perSecond: 0, burst: 1 },
      { perSecond: Number.NaN, burst: 1 },
      { perSecond: Infinity, burst: 1 },
      { perSecond: 1, burst: 0 },
      { perSecond: 1, burst: 1.5 },
      { perSecond: 1e-10, burst: 1 },
    ];
    for (const policy of bad) expect(() => createMemoryRateLimiter(policy)).toThrow(RangeError);
  });

  it('uses a monotonic clock by default', async () => {
    const limiter = createMemoryRateLimiter({ perSecond: 0.001, burst: 2 });
    expect(await limiter.consume('partner')).toEqual(allowed(1, 1000));
    expect(await limiter.consume('partner')).toEqual(allowed(0, 2000));
    expect((await limiter.consume('partner')).allowed).toBe(false);
    await limiter.close();
    expect(limiter.size).toBe(0);
  });
});

describe('setRateLimitHeaders', () => {
  const policy = { perSecond: 10, burst: 20 };

  it('sets RateLimit-Policy and RateLimit in the draft-10 syntax when allowed, and no Retry-After', () => {
    const reply = fakeReply();
    setRateLimitHeaders(reply, 'partner', policy, allowed(19, 1));
    expect(reply.headers).toEqual({
      'ratelimit-policy': '"partner";q=20;w=2',
      ratelimit: '"partner";r=19;t=1',
    });
  });

  it('adds Retry-After when refused, and t points at the same moment', () => {
    const reply = fakeReply();
    setRateLimitHeaders(reply, 'partner', policy, refused(2, 1));
    expect(reply.headers).toEqual({
      'ratelimit-policy': '"partner";q=20;w=2',
      ratelimit: '"partner";r=0;t=1',
      'retry-after': '1',
    });
  });

  it('gives a window of at least one second, rounded up', () => {
    const fast = fakeReply();
    setRateLimitHeaders(fast, 'fast', { perSecond: 100, burst: 10 }, allowed(9, 1));
    expect(fast.headers['ratelimit-policy']).toBe('"fast";q=10;w=1');
    const slow = fakeReply();
    setRateLimitHeaders(slow, 'slow', { perSecond: 3, burst: 10 }, allowed(9, 1));
    expect(slow.headers['ratelimit-policy']).toBe('"slow";q=10;w=4');
  });

  it('writes the policy name as a Structured Field string', () => {
    const reply = fakeReply();
    setRateLimitHeaders(reply, 'say "hi" \\o/', policy, allowed(19, 1));
    expect(reply.headers.ratelimit).toBe('"say \\"hi\\" \\\\o/";r=19;t=1');
    expect(() => setRateLimitHeaders(fakeReply(), 'café', policy, allowed(19, 1))).toThrow(TypeError);
  });

  it('reports what the memory limiter decided', async () => {
    const clock = manualClock();
    const limiter = createMemoryRateLimiter(policy, clock.now);
    const reply = fakeReply();
    for (let i = 0; i < 20; i++) await limiter.consume('partner');
    setRateLimitHeaders(reply, 'partner', policy, await limiter.consume('partner'));
    expect(reply.headers).toEqual({
      'ratelimit-policy': '"partner";q=20;w=2',
      ratelimit: '"partner";r=0;t=1',
      'retry-after': '1',
    });
  });
});

/**
 * Per-key rate limiting by GCRA (the generic cell rate algorithm): a token bucket of `burst` requests refilled at
 * `perSecond`, kept as one number per key, its theoretical arrival time (TAT): the moment the bucket is full again.
 * A request is allowed when, counting it, the TAT stays within one bucket's worth of time from now.
 */

export interface RateLimitPolicy {
  /** Steady rate: requests per second the bucket refills at. */
  readonly perSecond: number;
  /** Bucket size: requests allowed at once after a quiet spell. */
  readonly burst: number;
}

export interface RateLimitDecision {
  readonly allowed: boolean;
  /** Requests still allowed right now after this one, floored, >= 0. */
  readonly remaining: number;
  /** Whole seconds (ceil) until the bucket is full again; 0 if it is full. */
  readonly resetSeconds: number;
  /** When refused: whole seconds (ceil, >= 1) until one request is allowed; 0 when allowed. */
  readonly retryAfterSeconds: number;
}

export interface RateLimiter {
  consume(key: string): Promise<RateLimitDecision>;
  close(): Promise<void>;
}

export interface MemoryRateLimiter extends RateLimiter {
  /** Keys held, full buckets not yet pruned included: for tests and metrics. */
  readonly size: number;
}

/**
 * A policy in whole microseconds, so that every sum and comparison on TATs (about 2^51 µs since the epoch) is exact
 * in a double. Rounding the interval to a microsecond changes the rate by under 0.05% up to 1,000 per second.
 */
export interface Gcra {
  /** What one request costs: 1 / perSecond. */
  readonly intervalUs: number;
  /** What a full bucket holds: burst x interval. */
  readonly capacityUs: number;
}

/** Keeps TAT + capacity far below 2^53 µs. */
const MAX_CAPACITY_US = 1e15;

/** Validates a policy (a bad one is a bug: it throws a RangeError) and converts it to microseconds. */
export function gcraOf(policy: RateLimitPolicy): Gcra {
  const { perSecond, burst } = policy;
  if (!(Number.isFinite(perSecond) && perSecond > 0 && perSecond <= 1_000_000)) {
    throw new RangeError(`rate limit perSecond must be above 0 and at most 1,000,000, got ${perSecond}`);
  }
  if (!Number.isSafeInteger(burst) || burst < 1) {
    throw new RangeError(`rate limit burst must be a whole number of at least 1, got ${burst}`);
  }
  const intervalUs = Math.round(1_000_000 / perSecond);
  const capacityUs = intervalUs * burst;
  if (capacityUs > MAX_CAPACITY_US) {
    throw new RangeError(`rate limit burst / perSecond must be at most 30 years, got ${burst} / ${perSecond}`);
  }
  return { intervalUs, capacityUs };
}

export interface GcraStep {
  readonly allowed: boolean;
  /** The TAT to store when allowed. */
  readonly tatUs: number;
  /** TAT minus now after the decision, >= 0: how far the bucket is from full. */
  readonly aheadUs: number;
}

/** One GCRA step. `tatUs` undefined: a key never seen or pruned, that is, a full bucket. GCRA_LUA is the same rule. */
export function stepGcra(gcra: Gcra, tatUs: number | undefined, nowUs: number): GcraStep {
  const tat = Math.max(tatUs ?? nowUs, nowUs);
  const next = tat + gcra.intervalUs;
  if (next - gcra.capacityUs > nowUs) return { allowed: false, tatUs: tat, aheadUs: tat - nowUs };
  return { allowed: true, tatUs: next, aheadUs: next - nowUs };
}

function ceilSeconds(us: number): number {
  return Math.ceil(us / 1_000_000);
}

/** The decision for a step's outcome; the Redis limiter gets the same two numbers from its script. */
export function decisionOf(gcra: Gcra, allowed: boolean, aheadUs: number): RateLimitDecision {
  if (!allowed) {
    return {
      allowed,
      remaining: 0,
      resetSeconds: ceilSeconds(aheadUs),
      retryAfterSeconds: Math.max(1, ceilSeconds(aheadUs + gcra.intervalUs - gcra.capacityUs)),
    };
  }
  return {
    allowed,
    remaining: Math.max(0, Math.floor((gcra.capacityUs - aheadUs) / gcra.intervalUs)),
    resetSeconds: ceilSeconds(aheadUs),
    retryAfterSeconds: 0,
  };
}

/** Below this many keys the map is never swept. */
const MIN_SWEEP_SIZE = 1024;

/**
 * One process's buckets in a Map. Full buckets are pruned lazily: when the map outgrows twice what the last sweep
 * left (at least MIN_SWEEP_SIZE), so it stays within about twice the busy keys and sweeps cost O(1) per call
 * amortised. No timers. `now` is in milliseconds; by default a monotonic clock.
 */
export function createMemoryRateLimiter(
  policy: RateLimitPolicy,
  now: () => number = () => performance.now(),
): MemoryRateLimiter {
  const gcra = gcraOf(policy);
  const tats = new Map<string, number>();
  let sweepAbove = MIN_SWEEP_SIZE;

  function sweep(nowUs: number): void {
    for (const [key, tat] of tats) {
      if (tat <= nowUs) tats.delete(key);
    }
    sweepAbove = Math.max(MIN_SWEEP_SIZE, 2 * tats.size);
  }

  return {
    async consume(key) {
      const nowUs = Math.round(now() * 1000);
      const step = stepGcra(gcra, tats.get(key), nowUs);
      if (step.allowed) {
        tats.set(key, step.tatUs);
        if (tats.size > sweepAbove) sweep(nowUs);
      }
      return decisionOf(gcra, step.allowed, step.aheadUs);
    },
    async close() {
      tats.clear();
    },
    get size() {
      return tats.size;
    },
  };
}

/** Structured Field String (RFC 9651 section 3.3.3): printable ASCII, quoted, `"` and `\` escaped. */
function sfString(value: string): string {
  if (!/^[\x20-\x7e]*$/.test(value)) {
    throw new TypeError(`rate limit policy name must be printable ASCII, got ${JSON.stringify(value)}`);
  }
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/**
 * Sets RateLimit-Policy and RateLimit as draft-ietf-httpapi-ratelimit-headers-10 defines them (sections 3 and 4:
 * lists of items named by the policy, `"name";q=<quota>;w=<window s>` and `"name";r=<remaining>;t=<s>`) and, when
 * refused, Retry-After. The bucket maps to q = burst and w = the seconds an empty bucket takes to refill (at least 1:
 * the draft wants a non-zero integer). t is the seconds until the bucket is full again, except on a refusal, where
 * it equals Retry-After: the draft (section 6) says Retry-After SHOULD NOT point earlier than t.
 */
export function setRateLimitHeaders(
  reply: { header(name: string, value: string): unknown },
  policyName: string,
  policy: RateLimitPolicy,
  decision: RateLimitDecision,
): void {
  const name = sfString(policyName);
  const windowSeconds = Math.max(1, ceilSeconds(gcraOf(policy).capacityUs));
  const t = decision.allowed ? decision.resetSeconds : decision.retryAfterSeconds;
  reply.header('ratelimit-policy', `${name};q=${policy.burst};w=${windowSeconds}`);
  reply.header('ratelimit', `${name};r=${decision.remaining};t=${t}`);
  if (!decision.allowed) reply.header('retry-after', String(decision.retryAfterSeconds));
}

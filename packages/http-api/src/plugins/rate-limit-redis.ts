import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import {
  createMemoryRateLimiter,
  decisionOf,
  gcraOf,
  type RateLimitDecision,
  type RateLimiter,
  type RateLimitPolicy,
} from './rate-limit.js';

export interface RedisRateLimiterOptions {
  /** `redis://` or `rediss://` URL. */
  readonly url: string;
  /** Put before every key; default `ticketboss:rl:`. */
  readonly keyPrefix?: string;
  /** How long a decision may wait on Redis before it is made locally; default 100 ms. */
  readonly commandTimeoutMs?: number;
  /** Redis failures, at most one call per ERROR_REPORT_INTERVAL_MS; the caller logs them. Must not throw. */
  readonly onError?: (error: Error) => void;
}

const ERROR_REPORT_INTERVAL_MS = 10_000;

/**
 * stepGcra (rate-limit.ts) as one atomic script, on Redis's clock (TIME) so that processes with skewed clocks share
 * one bucket. Whole microseconds throughout. The key expires when its bucket is full again, as an absent key means.
 * KEYS[1]: the bucket; ARGV: interval and capacity in µs. Returns {1 if allowed else 0, TAT - now in µs}.
 */
const GCRA_LUA = `
-- Redis < 5 replicates scripts verbatim, which forbids writing after TIME.
if redis.replicate_commands then redis.replicate_commands() end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local tat = math.max(tonumber(redis.call('GET', KEYS[1])) or now, now)
local after = tat + interval
if after - capacity > now then
  return {0, tat - now}
end
local ttl = math.ceil((after - now) / 1000)
redis.call('SET', KEYS[1], string.format('%.0f', after), 'PX', string.format('%.0f', ttl))
return {1, after - now}
`;

/** The script, sent by EVALSHA (EVAL once per connection) through ioredis's `scripts` option. */
interface GcraClient extends Redis {
  ticketbossGcra(key: string, intervalUs: number, capacityUs: number): Promise<unknown>;
}

function parseReply(reply: unknown): { allowed: boolean; aheadUs: number } {
  if (Array.isArray(reply) && reply.length === 2) {
    const [allowed, aheadUs] = reply as unknown[];
    if ((allowed === 0 || allowed === 1) && typeof aheadUs === 'number' && aheadUs >= 0) {
      return { allowed: allowed === 1, aheadUs };
    }
  }
  throw new Error(`unexpected reply from the rate limit script: ${JSON.stringify(reply)}`);
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * Reports the first failure at once, then at most one per interval, counting the ones left out: an outage fails
 * every request, and the log needs one line, not thousands.
 */
function errorReporter(onError: ((error: Error) => void) | undefined): (context: string, error: unknown) => void {
  let lastAt = -Infinity;
  let suppressed = 0;
  return (context, error) => {
    const now = performance.now();
    if (now - lastAt < ERROR_REPORT_INTERVAL_MS) {
      suppressed++;
      return;
    }
    lastAt = now;
    const cause = asError(error);
    const more = suppressed > 0 ? ` (${suppressed} more since the last report)` : '';
    suppressed = 0;
    try {
      onError?.(new Error(`${context}: ${cause.message}${more}`, { cause }));
    } catch {
      // A failing logger must not turn into a failing request.
    }
  };
}

/**
 * A rate limiter whose buckets live in Redis, shared by every process that uses the same Redis, key prefix and
 * policy: one round trip per decision. When Redis fails, times out or cannot be reached, the decision is made by a
 * local memory limiter instead (so during an outage each process allows up to `burst` on its own) and onError is
 * told. Construction does not wait for the connection; decisions made while the first attempt is still under way
 * wait for it, no longer than commandTimeoutMs.
 */
export function createRedisRateLimiter(policy: RateLimitPolicy, options: RedisRateLimiterOptions): RateLimiter {
  const gcra = gcraOf(policy);
  const keyPrefix = options.keyPrefix ?? 'ticketboss:rl:';
  const commandTimeoutMs = options.commandTimeoutMs ?? 100;
  const fallback = createMemoryRateLimiter(policy);
  const report = errorReporter(options.onError);
  let closed = false;

  const client = new Redis(options.url, {
    commandTimeout: commandTimeoutMs,
    // Fail at once while disconnected rather than queue: a queued decision would count twice, once here locally
    // and again in Redis when the queue is sent. For the same reason a command cut off by a lost connection is
    // not sent again.
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    // A socket we drop is dead to us (a graceful close is QUIT): destroy it at once rather than keep the process
    // alive for ioredis's default 2 s, which it does even for a socket that is already closed.
    disconnectTimeout: 0,
    scripts: { ticketbossGcra: { lua: GCRA_LUA, numberOfKeys: 1 } },
  }) as GcraClient;
  // Without a listener ioredis prints every failed reconnection.
  client.on('error', (error: unknown) => report('Redis rate limiter connection failed', error));

  let firstAttempt: Promise<void> | undefined = new Promise((resolve) => {
    const settle = (): void => {
      client.off('ready', settle);
      client.off('close', settle);
      firstAttempt = undefined;
      resolve();
    };
    client.on('ready', settle);
    client.on('close', settle);
  });

  async function consume(key: string): Promise<RateLimitDecision> {
    if (closed) return fallback.consume(key);
    try {
      if (firstAttempt) await Promise.race([firstAttempt, sleep(commandTimeoutMs, undefined, { ref: false })]);
      const { allowed, aheadUs } = parseReply(
        await client.ticketbossGcra(keyPrefix + key, gcra.intervalUs, gcra.capacityUs),
      );
      return decisionOf(gcra, allowed, aheadUs);
    } catch (error) {
      report('Redis rate limiter failed, deciding locally', error);
      return fallback.consume(key);
    }
  }

  async function close(): Promise<void> {
    closed = true;
    await fallback.close();
    if (client.status === 'end') return;
    const ended = new Promise((resolve) => client.once('end', resolve));
    // QUIT lets replies still due arrive; if Redis does not answer it in time, drop the connection.
    if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
    else client.disconnect();
    // Between reconnection attempts there is no socket to close, and ioredis never says 'end'.
    if (client.status !== 'reconnecting') await ended;
  }

  return { consume, close };
}

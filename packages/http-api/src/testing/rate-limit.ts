import type { RateLimitDecision } from '../plugins/rate-limit.js';

/** A stand-in for a Fastify reply that records the headers set on it. */
export function fakeReply(): { headers: Record<string, string>; header(name: string, value: string): unknown } {
  const headers: Record<string, string> = {};
  return {
    headers,
    header(name, value) {
      headers[name] = value;
      return this;
    },
  };
}

/** The decision for an allowed request. */
export const allowed = (remaining: number, resetSeconds: number): RateLimitDecision => ({
  allowed: true,
  remaining,
  resetSeconds,
  retryAfterSeconds: 0,
});

import { describe, expect, it } from 'vitest';
import { afterFailure, DEFAULT_RETRY_POLICY, retryDelayMs, signingSecrets, type WebhookEndpoint } from './webhook.js';

const policy = { baseDelayMs: 1000, maxDelayMs: 8000, retryForMs: 60_000, disableAfterMs: 120_000 };

describe('retryDelayMs', () => {
  it('doubles from the base, capped, with half of it random', () => {
    expect([1, 2, 3, 4, 5, 9].map((n) => retryDelayMs(policy, n, 0))).toEqual([500, 1000, 2000, 4000, 4000, 4000]);
    expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(policy, n, 0.999999))).toEqual([1000, 2000, 4000, 8000, 8000]);
  });

  it('stays finite for attempt numbers far past the cap', () => {
    expect(retryDelayMs(DEFAULT_RETRY_POLICY, 10_000, 0.5)).toBe(0.75 * DEFAULT_RETRY_POLICY.maxDelayMs);
  });
});

describe('afterFailure', () => {
  const first = new Date('2026-01-01T00:00:00Z');
  it('retries while the next attempt falls inside the window, then gives up', () => {
    const at = (ms: number) => new Date(first.getTime() + ms);
    expect(afterFailure(policy, { attempt: 1, firstAttemptAt: first, now: at(0), random: 0 })).toEqual({
      kind: 'retry',
      at: at(500),
    });
    expect(afterFailure(policy, { attempt: 9, firstAttemptAt: first, now: at(55_000), random: 0 })).toEqual({
      kind: 'retry',
      at: at(59_000),
    });
    expect(afterFailure(policy, { attempt: 9, firstAttemptAt: first, now: at(57_000), random: 0 })).toEqual({
      kind: 'give_up',
    });
  });
});

describe('signingSecrets', () => {
  const endpoint = {
    secret: 'whsec_new',
    previousSecret: 'whsec_old',
    previousSecretUntil: new Date('2026-01-02T00:00:00Z'),
  } as WebhookEndpoint;
  it('signs with the previous secret too until its overlap ends', () => {
    expect(signingSecrets(endpoint, new Date('2026-01-01T23:59:59Z'))).toEqual(['whsec_new', 'whsec_old']);
    expect(signingSecrets(endpoint, new Date('2026-01-02T00:00:00Z'))).toEqual(['whsec_new']);
    expect(signingSecrets({ ...endpoint, previousSecret: undefined }, new Date(0))).toEqual(['whsec_new']);
  });
});

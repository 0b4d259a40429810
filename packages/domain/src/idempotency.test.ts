import { describe, expect, it } from 'vitest';
import { createIdempotency } from './idempotency.js';
import type { ClaimOutcome, IdempotencyScope, IdempotencyStore } from './ports.js';
import { createManualClock } from './testing/index.js';

/** A store that records each claimMany call and claims every key it has not seen. */
function recordingStore() {
  const calls: string[][] = [];
  const seen = new Set<string>();
  const store: IdempotencyStore = {
    async claimMany(requests) {
      calls.push(requests.map((r) => r.scope.key));
      await Promise.resolve();
      return requests.map(({ scope, fingerprint }): ClaimOutcome => {
        if (seen.has(scope.key)) return { kind: 'in_flight', fingerprint, lockedUntil: new Date(0) };
        seen.add(scope.key);
        return { kind: 'claimed', claim: { scope, token: `t-${scope.key}` } };
      });
    },
    complete: async () => true,
    release: async () => undefined,
    purge: async () => 0,
  };
  return { store, calls };
}

const scope = (key: string): IdempotencyScope => ({ partnerId: 'p', route: 'POST /x', key });

describe('idempotency', () => {
  it('claims the keys that arrive while a claim is in flight in one call; a key asked twice is claimed once', async () => {
    const { store, calls } = recordingStore();
    const idempotency = createIdempotency({ store, clock: createManualClock(), leaseMs: 5000, retentionMs: 60_000 });
    const attempt = async () => ({
      result: 'done',
      response: { statusCode: 201, body: '{}' },
      keep: 'recorded' as const,
    });
    const outcomes = await Promise.all(
      ['a', 'b', 'b', 'c', 'b'].map((key) => idempotency.run(scope(key), 'same-body', attempt)),
    );
    expect(calls).toEqual([['a'], ['b', 'c']]);
    expect(outcomes.map((o) => o.kind)).toEqual(['fresh', 'fresh', 'in_use', 'fresh', 'in_use']);
    expect(outcomes[2]).toEqual({ kind: 'in_use', retryAfterSeconds: 5 });
  });

  it('tells a different body under a key in flight from the same one', async () => {
    const { store } = recordingStore();
    const idempotency = createIdempotency({ store, clock: createManualClock(), leaseMs: 5000, retentionMs: 60_000 });
    const attempt = async () => ({
      result: 'done',
      response: { statusCode: 201, body: '{}' },
      keep: 'recorded' as const,
    });
    const [first, second, third] = await Promise.all([
      idempotency.run(scope('a'), 'body-1', attempt),
      idempotency.run(scope('k'), 'body-1', attempt),
      idempotency.run(scope('k'), 'body-2', attempt),
    ]);
    expect([first.kind, second.kind, third.kind]).toEqual(['fresh', 'fresh', 'reused']);
  });
});

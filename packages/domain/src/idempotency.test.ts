import { describe, expect, it } from 'vitest';
import { createIdempotency, type KeepFailure } from './idempotency.js';
import type { ClaimOutcome, IdempotencyScope, IdempotencyStore } from './ports.js';
import { createManualClock } from './testing/index.js';

/** A store that answers each claim with the next outcome given, and records releases and completions. */
function scriptedStore(outcomes: ClaimOutcome[]) {
  const released: string[] = [];
  const completed: string[] = [];
  const store: IdempotencyStore = {
    claim: async () => outcomes.shift()!,
    complete: async (claim, answer) => (completed.push(`${claim.token}:${answer.code}`), true),
    release: async (claim) => void released.push(claim.token),
    purge: async () => 0,
  };
  return { store, released, completed };
}

const scope: IdempotencyScope = { partnerId: 'p', route: 'POST /x', key: 'k' };
const clock = createManualClock(new Date('2026-11-25T12:00:00Z'));
const claimed: ClaimOutcome = { kind: 'claimed', claim: { scope, token: 't1' } };
const answer =
  (keep: 'recorded' | 'record' | 'discard', code = 201) =>
  async () => ({
    result: keep,
    answer: { code, text: '{}' },
    keep,
  });

describe('idempotency', () => {
  it('keeps or releases the key as the attempt says; an attempt that throws releases it', async () => {
    const { store, released, completed } = scriptedStore([claimed, claimed, claimed, claimed]);
    const idempotency = createIdempotency({ store, clock, leaseMs: 5000, retentionMs: 60_000 });
    expect(await idempotency.run(scope, 'f', answer('recorded'))).toMatchObject({ kind: 'fresh' });
    expect(await idempotency.run(scope, 'f', answer('record', 409))).toMatchObject({ kind: 'fresh' });
    expect(await idempotency.run(scope, 'f', answer('discard', 503))).toMatchObject({ kind: 'fresh' });
    await expect(idempotency.run(scope, 'f', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect({ released, completed }).toEqual({ released: ['t1', 't1'], completed: ['t1:409'] });
  });

  it('replays a completed key, says in use while in flight (with the lease left), and reused for another body', async () => {
    const inFlight: ClaimOutcome = {
      kind: 'in_flight',
      fingerprint: 'f',
      lockedUntil: new Date(clock.now().getTime() + 2500),
    };
    const completed: ClaimOutcome = {
      kind: 'completed',
      fingerprint: 'f',
      answer: { code: 201, text: '{"a":1}' },
    };
    const { store } = scriptedStore([completed, inFlight, completed, inFlight]);
    const idempotency = createIdempotency({ store, clock, leaseMs: 5000, retentionMs: 60_000 });
    const never = () => Promise.reject(new Error('must not run'));
    expect(await idempotency.run(scope, 'f', never)).toEqual({
      kind: 'replayed',
      answer: { code: 201, text: '{"a":1}' },
    });
    expect(await idempotency.run(scope, 'f', never)).toEqual({ kind: 'in_use', retryAfterSeconds: 3 });
    expect(await idempotency.run(scope, 'other', never)).toEqual({ kind: 'reused' });
    expect(await idempotency.run(scope, 'other', never)).toEqual({ kind: 'reused' });
  });

  it('reports a claim it could not complete or give back, and still answers the request', async () => {
    const down = new Error('connection terminated');
    const store: IdempotencyStore = {
      claim: async () => claimed,
      complete: () => Promise.reject(down),
      release: () => Promise.reject(down),
      purge: async () => 0,
    };
    const idempotency = createIdempotency({ store, clock, leaseMs: 5000, retentionMs: 60_000 });
    const failures: KeepFailure[] = [];
    const report = (failure: KeepFailure) => failures.push(failure);
    expect(await idempotency.run(scope, 'f', answer('record', 409), report)).toMatchObject({ kind: 'fresh' });
    expect(await idempotency.run(scope, 'f', answer('discard', 503), report)).toMatchObject({ kind: 'fresh' });
    await expect(idempotency.run(scope, 'f', () => Promise.reject(new Error('boom')), report)).rejects.toThrow('boom');
    expect(failures).toEqual([
      { action: 'complete', scope, error: down },
      { action: 'release', scope, error: down },
      { action: 'release', scope, error: down },
    ]);
  });
});

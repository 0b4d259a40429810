import type { Clock, IdempotencyClaim, IdempotencyScope, IdempotencyStore, RecordedAnswer } from './ports.js';

export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/**
 * How an attempt's answer is kept: `recorded` by the commit that made the change (a receipt), `record` now (a
 * decision that changed nothing, such as "not enough seats"), or `discard` (nothing was decided: a retry is a
 * fresh attempt).
 */
export type Keeping = 'recorded' | 'record' | 'discard';

export interface Attempt<T> {
  readonly result: T;
  readonly answer: RecordedAnswer;
  readonly keep: Keeping;
}

export type IdempotentOutcome<T> =
  /** This request decided; `result` is the attempt's. */
  | { readonly kind: 'fresh'; readonly result: T; readonly answer: RecordedAnswer }
  /** An earlier request with the same key and body decided; its answer, as it was sent. */
  | { readonly kind: 'replayed'; readonly answer: RecordedAnswer }
  /** An earlier request with the same key is still being decided. */
  | { readonly kind: 'in_use'; readonly retryAfterSeconds: number }
  /** The key was used with a different request. */
  | { readonly kind: 'reused' };

export interface IdempotencyOptions {
  readonly store: IdempotencyStore;
  readonly clock: Clock;
  /**
   * How long a claim holds before another request may take the key over. A request still running past it loses
   * its claim safely: its change applies only while the claim holds.
   */
  readonly leaseMs: number;
  /** How long a key's answer is kept. */
  readonly retentionMs: number;
}

/**
 * A claim that could not be completed with its answer, or given back: the key stays claimed until its lease runs
 * out, and a retry meanwhile is answered `in_use`. The request's own answer is not affected.
 */
export interface KeepFailure {
  readonly action: 'complete' | 'release';
  readonly scope: IdempotencyScope;
  readonly error: unknown;
}

export interface Idempotency {
  /**
   * Runs `attempt` once per key: the first request claims the key and decides; later ones with the same
   * fingerprint get its answer, with another fingerprint `reused`, while it runs `in_use`. An attempt that
   * throws gives the key back. `onKeepFailed` is told when the claim could not be completed or given back (to
   * log it; it must not throw).
   */
  run<T>(
    scope: IdempotencyScope,
    fingerprint: string,
    attempt: (claim: IdempotencyClaim) => Promise<Attempt<T>>,
    onKeepFailed?: (failure: KeepFailure) => void,
  ): Promise<IdempotentOutcome<T>>;
  /** Deletes answers older than the retention, `batch` rows at a time, at most `maxBatches`; returns how many. */
  purge(batch?: number, maxBatches?: number): Promise<number>;
}

/** True for a key the IETF draft allows here: 1 to 255 characters. */
export function isValidIdempotencyKey(key: string): boolean {
  return key.length >= 1 && key.length <= MAX_IDEMPOTENCY_KEY_LENGTH;
}

export function createIdempotency({ store, clock, leaseMs, retentionMs }: IdempotencyOptions): Idempotency {
  return {
    async run<T>(
      scope: IdempotencyScope,
      fingerprint: string,
      attempt: (claim: IdempotencyClaim) => Promise<Attempt<T>>,
      onKeepFailed?: (failure: KeepFailure) => void,
    ): Promise<IdempotentOutcome<T>> {
      const now = clock.now();
      const claimed = await store.claim(scope, fingerprint, { now, leaseMs, retentionMs });
      if (claimed.kind !== 'claimed') {
        if (claimed.fingerprint !== fingerprint) return { kind: 'reused' };
        if (claimed.kind === 'completed') return { kind: 'replayed', answer: claimed.answer };
        const waitMs = claimed.lockedUntil.getTime() - now.getTime();
        return { kind: 'in_use', retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
      }
      const { claim } = claimed;
      // Should either fail, the key stays claimed until its lease runs out, and a retry then decides afresh: the
      // answer sent now changed nothing, so deciding again is safe. The failure is reported, not thrown: the
      // request's answer stands.
      const keeping = (action: KeepFailure['action'], keep: () => Promise<unknown>) =>
        keep().catch((error: unknown) => onKeepFailed?.({ action, scope, error }));
      let outcome: Attempt<T>;
      try {
        outcome = await attempt(claim);
      } catch (error) {
        await keeping('release', () => store.release(claim));
        throw error;
      }
      if (outcome.keep === 'record')
        await keeping('complete', () => store.complete(claim, outcome.answer, clock.now()));
      else if (outcome.keep === 'discard') await keeping('release', () => store.release(claim));
      return { kind: 'fresh', result: outcome.result, answer: outcome.answer };
    },

    async purge(batch = 1000, maxBatches = 20) {
      // In batches, so no one statement holds many rows; as long as batches come back full, up to maxBatches.
      const before = new Date(clock.now().getTime() - retentionMs);
      let purged = 0;
      for (let round = 0; round < maxBatches; round += 1) {
        const deleted = await store.purge(before, batch);
        purged += deleted;
        if (deleted < batch) break;
      }
      return purged;
    },
  };
}

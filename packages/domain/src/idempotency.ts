import type {
  ClaimOutcome,
  Clock,
  IdempotencyClaim,
  IdempotencyScope,
  IdempotencyStore,
  StoredResponse,
} from './ports.js';

export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/**
 * How an attempt's answer is kept: `recorded` by the commit that made the change (a receipt), `record` now (a
 * decision that changed nothing, such as "not enough seats"), or `discard` (nothing was decided: a retry is a
 * fresh attempt).
 */
export type Keeping = 'recorded' | 'record' | 'discard';

export interface Attempt<T> {
  readonly result: T;
  readonly response: StoredResponse;
  readonly keep: Keeping;
}

export type IdempotentOutcome<T> =
  /** This request decided; `result` is the attempt's. */
  | { readonly kind: 'fresh'; readonly result: T; readonly response: StoredResponse }
  /** An earlier request with the same key and body decided; its answer, as it was sent. */
  | { readonly kind: 'replayed'; readonly response: StoredResponse }
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

export interface Idempotency {
  /**
   * Runs `attempt` once per key: the first request claims the key and decides; later ones with the same
   * fingerprint get its answer, with another fingerprint `reused`, while it runs `in_use`. An attempt that
   * throws gives the key back.
   */
  run<T>(
    scope: IdempotencyScope,
    fingerprint: string,
    attempt: (claim: IdempotencyClaim) => Promise<Attempt<T>>,
  ): Promise<IdempotentOutcome<T>>;
  /** Deletes answers older than the retention, `batch` rows at a time, at most `maxBatches`; returns how many. */
  purge(batch?: number, maxBatches?: number): Promise<number>;
}

/** True for a key the IETF draft allows here: 1 to 255 characters. */
export function isValidIdempotencyKey(key: string): boolean {
  return key.length >= 1 && key.length <= MAX_IDEMPOTENCY_KEY_LENGTH;
}

interface WaitingClaim {
  readonly scope: IdempotencyScope;
  readonly fingerprint: string;
  readonly resolve: (outcome: ClaimOutcome) => void;
  readonly reject: (error: unknown) => void;
}

const scopeKey = ({ partnerId, route, key }: IdempotencyScope) => JSON.stringify([partnerId, route, key]);

export function createIdempotency({ store, clock, leaseMs, retentionMs }: IdempotencyOptions): Idempotency {
  // Claims share round trips as commits do: while one claim statement is in flight, the claims that arrive wait,
  // and the next statement takes all of them. None joins a statement already sent.
  let waiting: WaitingClaim[] = [];
  let claiming = false;

  async function drainClaims(): Promise<void> {
    claiming = true;
    while (waiting.length > 0) {
      const batch = waiting;
      waiting = [];
      // One key asked twice in a batch is claimed once: the first asker decides, the others find it in flight.
      const first = new Map<string, WaitingClaim>();
      for (const w of batch) if (!first.has(scopeKey(w.scope))) first.set(scopeKey(w.scope), w);
      const unique = [...first.values()];
      const now = clock.now();
      try {
        const outcomes = await store.claimMany(unique, { now, leaseMs, retentionMs });
        const outcomeOf = new Map(unique.map((w, index) => [w, outcomes[index]!]));
        for (const w of batch) {
          const leader = first.get(scopeKey(w.scope))!;
          const outcome = outcomeOf.get(leader)!;
          if (w === leader || outcome.kind !== 'claimed') w.resolve(outcome);
          else {
            const lockedUntil = new Date(now.getTime() + leaseMs);
            w.resolve({ kind: 'in_flight', fingerprint: leader.fingerprint, lockedUntil });
          }
        }
      } catch (error) {
        for (const w of batch) w.reject(error);
      }
    }
    claiming = false;
  }

  const claimKey = (scope: IdempotencyScope, fingerprint: string) =>
    new Promise<ClaimOutcome>((resolve, reject) => {
      waiting.push({ scope, fingerprint, resolve, reject });
      if (!claiming) void drainClaims();
    });

  return {
    async run<T>(
      scope: IdempotencyScope,
      fingerprint: string,
      attempt: (claim: IdempotencyClaim) => Promise<Attempt<T>>,
    ): Promise<IdempotentOutcome<T>> {
      const claimed = await claimKey(scope, fingerprint);
      const now = clock.now();
      if (claimed.kind !== 'claimed') {
        if (claimed.fingerprint !== fingerprint) return { kind: 'reused' };
        if (claimed.kind === 'completed') return { kind: 'replayed', response: claimed.response };
        const waitMs = claimed.lockedUntil.getTime() - now.getTime();
        return { kind: 'in_use', retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
      }
      const { claim } = claimed;
      let outcome: Attempt<T>;
      try {
        outcome = await attempt(claim);
      } catch (error) {
        await store.release(claim).catch(() => undefined);
        throw error;
      }
      // Should either fail, the key stays claimed until its lease runs out, and a retry then decides afresh: the
      // answer sent now changed nothing, so deciding again is safe.
      if (outcome.keep === 'record') await store.complete(claim, outcome.response, clock.now()).catch(() => false);
      else if (outcome.keep === 'discard') await store.release(claim).catch(() => undefined);
      return { kind: 'fresh', result: outcome.result, response: outcome.response };
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

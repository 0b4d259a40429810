import type { ClaimOutcome, IdempotencyClaim } from '@ticketboss/domain';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresIdempotencyStore } from './idempotency-store.js';
import { createTestDatabase, type TestDatabase } from './testing/index.js';

let database: TestDatabase;
let store: ReturnType<typeof createPostgresIdempotencyStore>;

beforeAll(async () => {
  database = await createTestDatabase();
  store = createPostgresIdempotencyStore(database.db);
});
afterAll(() => database.drop());

const T0 = new Date('2026-11-25T12:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const LEASE = 5000;
const RETENTION = 3_600_000;
const scope = (key: string) => ({ partnerId: 'acme', route: 'POST /x', key });

/** Claims each key in turn, with the fingerprint `${prefix}-${key}`. */
function claimEach(keys: string[], prefix: string, now: Date): Promise<ClaimOutcome[]> {
  return keys.reduce<Promise<ClaimOutcome[]>>(
    async (done, key) => [
      ...(await done),
      await store.claim(scope(key), `${prefix}-${key}`, { now, leaseMs: LEASE, retentionMs: RETENTION }),
    ],
    Promise.resolve([]),
  );
}

function claimed(outcome: ClaimOutcome | undefined): IdempotencyClaim {
  if (outcome?.kind !== 'claimed') throw new Error(`expected a claim, got ${JSON.stringify(outcome)}`);
  return outcome.claim;
}

describe('the PostgreSQL idempotency store', () => {
  it('claims each key as it stands: new, in flight, completed, lease run out, retained out', async () => {
    const [inFlight, done, abandoned, old] = await claimEach(['in-flight', 'done', 'abandoned', 'old'], 'f', T0);
    expect(await store.complete(claimed(done), { code: 201, text: '{"ok":true}' }, T0)).toBe(true);
    claimed(inFlight);
    claimed(abandoned);
    expect(await store.complete(claimed(old), { code: 409, text: '{"old":true}' }, T0)).toBe(true);

    // The in-flight one was claimed 4 s before; the abandoned one's lease ran out; the old one is past retention.
    await database.db
      .updateTable('idempotency_keys')
      .set({ locked_until: at(LEASE - 1000 + 4000) })
      .where('idem_key', '=', 'in-flight')
      .execute();
    await database.db
      .updateTable('idempotency_keys')
      .set({ created_at: at(-RETENTION) })
      .where('idem_key', '=', 'old')
      .execute();
    const now = at(4000 + 1000);
    const outcomes = await claimEach(['new', 'in-flight', 'done', 'abandoned', 'old'], 'g', now);
    expect(outcomes.map((o) => o.kind)).toEqual(['claimed', 'in_flight', 'completed', 'claimed', 'claimed']);
    expect(outcomes[1]).toEqual({ kind: 'in_flight', fingerprint: 'f-in-flight', lockedUntil: at(8000) });
    expect(outcomes[2]).toEqual({
      kind: 'completed',
      fingerprint: 'f-done',
      answer: { code: 201, text: '{"ok":true}' },
    });
    // Taken over: the old claim can neither complete nor release it.
    expect(await store.complete(claimed(abandoned), { code: 201, text: '{}' }, now)).toBe(false);
    await store.release(claimed(abandoned));
    const rows = await database.db
      .selectFrom('idempotency_keys')
      .select(['idem_key', 'fingerprint', 'status_code'])
      .where('idem_key', 'in', ['abandoned', 'old'])
      .orderBy('idem_key')
      .execute();
    expect(rows).toEqual([
      { idem_key: 'abandoned', fingerprint: 'g-abandoned', status_code: null },
      { idem_key: 'old', fingerprint: 'g-old', status_code: null },
    ]);
  });

  it('purges what is older than a time, a batch at a time, and nothing younger', async () => {
    const keys = Array.from({ length: 5 }, (_, i) => `purge-${i}`);
    await claimEach(keys, 'f', at(-10_000));
    await claimEach(['young'], 'f', at(0));
    expect(await store.purge(at(-5000), 3)).toBe(3);
    expect(await store.purge(at(-5000), 3)).toBe(2);
    expect(await store.purge(at(-5000), 3)).toBe(0);
    const left = await database.db
      .selectFrom('idempotency_keys')
      .select('idem_key')
      .where('idem_key', 'like', 'purge-%')
      .execute();
    expect(left).toEqual([]);
    expect(
      await database.db.selectFrom('idempotency_keys').select('idem_key').where('idem_key', '=', 'young').execute(),
    ).toHaveLength(1);
  });
});

import { waitUntil } from '@ticketboss/adapters-postgres/testing';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cleanUp,
  exitedProcesses,
  faultPhase,
  figure,
  seed,
  sleep,
  startApi,
  startOwnedPostgres,
  type Resources,
} from './harness.js';
import { checkLedger } from './ledger.js';
import { startLoad, statusCounts } from './load.js';
import { recordScenario } from './report.js';

const LOCK_MS = 10_000;
const MAX_WAIT_MS = 1_000;
/**
 * How long an answer for the locked event may take: the bounded wait, with a wide margin for a loaded machine,
 * and still far below the lock's 10 s, which an unbounded wait would take.
 */
const ANSWER_WITHIN_MS = MAX_WAIT_MS + 4_000;
const CLIENTS = 8;
const LOCKED = 'locked-event';
/** Client i works on EVENTS[i % 4]: two clients on the locked event, six on the others. */
const EVENTS = [LOCKED, 'free-a', 'free-b', 'free-c'];

/**
 * Scenario 4: the row of one event locked for 10 s by another session (as a long transaction or a DBA would),
 * under load on four events. Changes to that event answer 503 CONTENDED within the bounded wait instead of
 * hanging; the other events are served meanwhile; afterwards the locked event is served again.
 */
describe("fault 4: an event's rows locked for 10 s under load", () => {
  const resources: Resources = {};
  afterAll(() => cleanUp(resources), 60_000);

  it('503 CONTENDED within the bounded wait, other events served meanwhile, then served again', async () => {
    const fileStartedAt = performance.now();
    const postgres = (resources.postgres = await startOwnedPostgres());
    const api = await startApi(postgres, { TICKETBOSS_MAX_WAIT_MS: String(MAX_WAIT_MS) });
    const partners = await seed(
      api,
      ['lock-partner-1', 'lock-partner-2'],
      EVENTS.map((eventId) => ({ eventId, totalSeats: 1_000_000 })),
    );
    const load = (resources.load = startLoad({
      clients: CLIENTS,
      partners,
      events: EVENTS,
      urls: () => [api.url],
      mix: 'mixed',
    }));
    const loadStartedAt = performance.now();
    await load.progress(200, 30_000);

    let lockedAt = 0;
    let releasingAt = 0;
    const servedAfterLock = () =>
      load.answers.filter((a) => a.eventId === LOCKED && a.sentAt > releasingAt && a.status >= 200 && a.status < 300);
    const failure = await faultPhase(async () => {
      const locker = await postgres.connect();
      try {
        await locker.query('BEGIN');
        // The event's row and its seat pools' rows: what a commit (its pool), a rebalance (all of them) and an
        // insert's foreign key check (the event's row) wait for.
        await locker.query(
          'SELECT 1 FROM events JOIN event_seat_pools USING (event_id) WHERE event_id = $1 FOR UPDATE',
          [LOCKED],
        );
        lockedAt = performance.now();
        // The fault itself: the lock is held this long.
        await sleep(LOCK_MS);
        releasingAt = performance.now();
        await locker.query('ROLLBACK');
      } finally {
        await locker.end();
      }
      await waitUntil(() => servedAfterLock().length > 0, 'the locked event to be served again', {
        timeoutMs: 30_000,
      });
    });
    expect(exitedProcesses([api])).toEqual([]);
    if (failure) throw failure;
    await load.stop();
    const loadSeconds = (performance.now() - loadStartedAt) / 1000;

    const whileLocked = load.answers.filter((a) => a.sentAt >= lockedAt && a.answeredAt <= releasingAt);
    const onLocked = whileLocked.filter((a) => a.eventId === LOCKED);
    const onOthers = whileLocked.filter((a) => a.eventId !== LOCKED);
    // Every change to the locked event: refused as contended, with Retry-After, within the bounded wait.
    expect(onLocked.length).toBeGreaterThanOrEqual(4);
    expect(onLocked.filter((a) => a.status !== 503 || a.code !== 'CONTENDED' || a.retryAfter === undefined)).toEqual(
      [],
    );
    const slowest = Math.max(...onLocked.map((a) => a.answeredAt - a.sentAt));
    expect(slowest).toBeLessThan(ANSWER_WITHIN_MS);
    // The other events were served meanwhile.
    const othersServed = onOthers.filter((a) => a.status >= 200 && a.status < 300).length;
    expect(othersServed).toBeGreaterThanOrEqual(20);
    // And the locked one is served again once the lock is gone.
    expect(servedAfterLock().length).toBeGreaterThanOrEqual(1);

    expect(load.answers.filter((a) => a.status === 0)).toEqual([]);
    expect(load.unexpected).toEqual([]);
    const ledger = await checkLedger(postgres.db, load);
    expect(ledger.problems).toEqual([]);
    expect(ledger.invariantBreaches).toEqual([]);

    const requests = load.answers.length;
    const counts = statusCounts(load.answers);
    console.log(
      `[faults] 4: ${onLocked.length} answers for the locked event while locked (all 503 CONTENDED, slowest ` +
        `${Math.round(slowest)} ms); ${othersServed} 2xx for the other events meanwhile; ${figure(requests)} requests ` +
        `in ${loadSeconds.toFixed(1)} s; ${counts}; file ${((performance.now() - fileStartedAt) / 1000).toFixed(1)} s`,
    );
    await recordScenario({
      id: 4,
      name: "An event's rows locked for 10 s under load",
      load: `${CLIENTS} clients on 4 events (2 on the locked one), 1 API process, ${figure(requests)} requests in ${loadSeconds.toFixed(0)} s`,
      faults: `SELECT ... FOR UPDATE on one event's row and its seat pools' rows, held ${LOCK_MS / 1000} s (TICKETBOSS_MAX_WAIT_MS=${MAX_WAIT_MS})`,
      checked:
        'every change to the locked event a 503 CONTENDED with Retry-After within the bounded wait; other events ' +
        'served meanwhile; the locked one served after; invariant; ledger',
      figures:
        `${onLocked.length} answers for the locked event, all 503 CONTENDED, slowest ${(slowest / 1000).toFixed(1)} s; ` +
        `${figure(othersServed)} 2xx for the others meanwhile; 0 exits, 0 lost, 0 doubled (${counts})`,
    });
  });
});

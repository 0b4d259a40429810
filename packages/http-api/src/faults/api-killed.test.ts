import { afterAll, describe, expect, it } from 'vitest';
import {
  cleanUp,
  exitedProcesses,
  faultPhase,
  figure,
  seed,
  startApi,
  startOwnedPostgres,
  type ApiProcess,
  type Resources,
} from './harness.js';
import { checkLedger } from './ledger.js';
import { startLoad, statusCounts } from './load.js';
import { recordScenario } from './report.js';

const KILLS = 10;
const CLIENTS = 8;
const EVENTS = ['kill-a', 'kill-b'];
/**
 * The Idempotency-Key lease is 1.5 x TICKETBOSS_MAX_WAIT_MS + 2 s: a key a killed process had claimed is free
 * again 2.75 s later, so its retries are answered within the scenario.
 */
const API_ENV = { TICKETBOSS_MAX_WAIT_MS: '500' };

/**
 * Scenario 3: two API processes under mixed load; ten times, one is killed with SIGKILL (whatever it was doing)
 * and a replacement started. Clients fail over to the live one and retry with the same Idempotency-Key: every
 * operation is decided once, nothing is lost or doubled.
 */
describe('fault 3: API processes killed with SIGKILL under load', () => {
  const resources: Resources = {};
  afterAll(() => cleanUp(resources), 60_000);

  it('10 x SIGKILL with Idempotency-Key retries: nothing lost, nothing doubled', async () => {
    const fileStartedAt = performance.now();
    const postgres = (resources.postgres = await startOwnedPostgres());
    /** The processes serving now: the clients' choice. */
    const live: ApiProcess[] = await Promise.all([startApi(postgres, API_ENV), startApi(postgres, API_ENV)]);
    const partners = await seed(
      live[0]!,
      ['kill-partner-1', 'kill-partner-2'],
      EVENTS.map((eventId) => ({ eventId, totalSeats: 1_000_000 })),
    );
    const load = (resources.load = startLoad({
      clients: CLIENTS,
      partners,
      events: EVENTS,
      urls: () => live.map((api) => api.url),
      mix: 'mixed',
    }));
    const loadStartedAt = performance.now();
    await load.progress(200, 30_000);

    const killed: ApiProcess[] = [];
    /** Requests in flight at each kill, as the clients saw them: answered later by a network failure. */
    const cutAtKill: number[] = [];
    const failure = await faultPhase(async () => {
      for (let round = 0; round < KILLS; round++) {
        const victim = live[0]!;
        const failuresBefore = load.answers.filter((a) => a.status === 0 && a.url === victim.url).length;
        killed.push(victim);
        if (victim.exited()) throw new Error(`process ${victim.pid} had exited before its kill`);
        const killAt = performance.now();
        victim.server.child.kill('SIGKILL');
        await victim.server.exited;
        live.splice(live.indexOf(victim), 1);
        live.push(await startApi(postgres, API_ENV));
        cutAtKill.push(load.answers.filter((a) => a.status === 0 && a.url === victim.url).length - failuresBefore);
        const restartedAt = performance.now();
        // The pair serves before the next kill.
        await load.progress(100, 30_000);
        console.log(
          `[faults] 3: kill ${round + 1}: replaced in ${Math.round(restartedAt - killAt)} ms, served 100 more in ` +
            `${Math.round(performance.now() - restartedAt)} ms`,
        );
      }
    });
    expect(exitedProcesses(live)).toEqual([]);
    expect(killed.map((api) => api.server.child.signalCode)).toEqual(killed.map(() => 'SIGKILL'));
    if (failure) throw failure;
    await load.stop();
    const loadSeconds = (performance.now() - loadStartedAt) / 1000;

    expect(load.unexpected).toEqual([]);
    const ledger = await checkLedger(postgres.db, load);
    expect(ledger.problems).toEqual([]);
    expect(ledger.invariantBreaches).toEqual([]);
    // The kills did cut requests in flight (else the retries were never put to the test).
    const networkFailures = load.answers.filter((a) => a.status === 0).length;
    expect(networkFailures).toBeGreaterThanOrEqual(1);

    const requests = load.answers.length;
    const counts = statusCounts(load.answers);
    console.log(
      `[faults] 3: ${KILLS} kills, requests cut per kill ${cutAtKill.join(',')}; ${figure(requests)} requests in ` +
        `${loadSeconds.toFixed(1)} s; ${counts}; ${figure(ledger.reservations)} reservations ` +
        `(${ledger.madeUnanswered} for keys given up); file ${((performance.now() - fileStartedAt) / 1000).toFixed(1)} s`,
    );
    await recordScenario({
      id: 3,
      name: 'API processes killed with SIGKILL under load',
      load: `${CLIENTS} clients on 2 API processes, ${figure(requests)} requests in ${loadSeconds.toFixed(0)} s`,
      faults: `${KILLS} x SIGKILL of an API process, a replacement started each time`,
      checked: 'failover and Idempotency-Key retries; invariant; ledger of every answer against the database',
      figures:
        `${KILLS} kills, ${figure(networkFailures)} requests cut, ${figure(requests)} requests, ` +
        `${figure(ledger.answered)} reservations answered 201, 0 lost, 0 doubled, 0 other exits (${counts})`,
    });
    // Ten starts of an API process: about 3 s each on an idle 2-core machine, several times that on a busy one.
  }, 420_000);
});

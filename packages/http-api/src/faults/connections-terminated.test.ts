import { afterAll, describe, expect, it } from 'vitest';
import {
  allExited,
  cleanUp,
  exitedProcesses,
  faultPhase,
  figure,
  HARNESS_APPLICATION_NAME,
  seed,
  startApi,
  startOwnedPostgres,
  type Resources,
} from './harness.js';
import { checkLedger } from './ledger.js';
import { startLoad, statusCounts } from './load.js';
import { recordScenario } from './report.js';

const TERMINATIONS = 10;
const CLIENTS = 8;
const EVENTS = ['terminate-a', 'terminate-b'];

/** Every backend of the API processes (all but the harness's own), as a failover or a reaper would cut them. */
const TERMINATE_API_BACKENDS = `
  SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::integer AS terminated
    FROM pg_stat_activity
   WHERE datname = current_database()
     AND backend_type = 'client backend'
     AND application_name <> '${HARNESS_APPLICATION_NAME}'
     AND pid <> pg_backend_pid()`;

/**
 * Scenario 1: PostgreSQL drops the API's connections (pg_terminate_backend) 10 times under load. No process may
 * exit: the pools replace what they lost, requests caught on a dropped connection answer 503, and the ledger of
 * every answer matches the database.
 */
describe('fault 1: connections terminated under load', () => {
  const resources: Resources = {};
  afterAll(() => cleanUp(resources), 60_000);

  it('10 x pg_terminate_backend of every API backend: no exit, nothing lost or doubled', async () => {
    const startedAt = performance.now();
    const postgres = (resources.postgres = await startOwnedPostgres());
    const apis = await Promise.all([startApi(postgres), startApi(postgres)]);
    const partners = await seed(
      apis[0],
      ['terminate-partner-1', 'terminate-partner-2'],
      EVENTS.map((eventId) => ({ eventId, totalSeats: 1_000_000 })),
    );
    const load = (resources.load = startLoad({
      clients: CLIENTS,
      partners,
      events: EVENTS,
      urls: () => apis.map((api) => api.url),
      mix: 'mixed',
    }));
    const loadStartedAt = performance.now();
    await load.progress(200, 30_000);

    const terminated: number[] = [];
    const failure = await faultPhase(async () => {
      const killer = await postgres.connect();
      try {
        for (let round = 0; round < TERMINATIONS; round++) {
          const { rows } = await killer.query<{ terminated: number }>(TERMINATE_API_BACKENDS);
          terminated.push(rows[0]!.terminated);
          // Served again before the next round: the pools reconnected.
          await load.progress(
            200,
            30_000,
            allExited(() => apis),
          );
        }
      } finally {
        await killer.end();
      }
    });
    expect(exitedProcesses(apis)).toEqual([]);
    if (failure) throw failure;
    await load.stop();
    const loadSeconds = (performance.now() - loadStartedAt) / 1000;

    // Each round cut connections that were there (under load, the pools always hold some).
    expect(terminated.filter((n) => n === 0)).toEqual([]);
    expect(load.unexpected).toEqual([]);
    const networkFailures = load.answers.filter((a) => a.status === 0);
    expect(networkFailures).toEqual([]);
    const ledger = await checkLedger(postgres.db, load);
    expect(ledger.problems).toEqual([]);
    expect(ledger.invariantBreaches).toEqual([]);

    const requests = load.answers.length;
    const counts = statusCounts(load.answers);
    console.log(
      `[faults] 1: ${terminated.join('+')} backends terminated; ${figure(requests)} requests in ` +
        `${loadSeconds.toFixed(1)} s; ${counts}; ${figure(ledger.reservations)} reservations ` +
        `(${ledger.madeUnanswered} for keys given up); file ${((performance.now() - startedAt) / 1000).toFixed(1)} s`,
    );
    await recordScenario({
      id: 1,
      name: 'Connections terminated under load',
      load: `${CLIENTS} clients on 2 API processes, ${figure(requests)} requests in ${loadSeconds.toFixed(0)} s`,
      faults: `${TERMINATIONS} x pg_terminate_backend of every API backend (${figure(terminated.reduce((a, b) => a + b, 0))} connections)`,
      checked: 'no process exit; no network failure; invariant; ledger of every answer against the database',
      figures:
        `${TERMINATIONS} terminations, 0 exits, ${figure(requests)} requests, ${figure(ledger.answered)} reservations ` +
        `answered 201, 0 lost, 0 doubled (${counts})`,
    });
  });
});

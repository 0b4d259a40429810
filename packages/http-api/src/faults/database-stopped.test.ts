import { waitUntil } from '@ticketboss/adapters-postgres/testing';
import { afterAll, describe, expect, it } from 'vitest';
import {
  allExited,
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

const OUTAGE_MS = 5_000;
const CLIENTS = 8;
const EVENTS = ['outage-a', 'outage-b'];
/** The promise: served again within 5 s of the database's start. */
const SERVED_AGAIN_WITHIN_MS = 5_000;

interface Probe {
  readonly sentAt: number;
  readonly answeredAt: number;
  /** 0: no answer (the process is gone). */
  readonly status: number;
}

/**
 * Scenario 2: PostgreSQL stopped (fast shutdown) for 5 s under load, then started again on the same port. The API
 * process stays up: meanwhile every answer is a 503 with Retry-After and /ready says 503; once the database is
 * back, it serves again within 5 s and /ready says 200; nothing is lost or doubled.
 */
describe('fault 2: PostgreSQL stopped for 5 s under load', () => {
  const resources: Resources = {};
  afterAll(() => cleanUp(resources), 60_000);

  it('only 503s with Retry-After meanwhile, served again within 5 s of the start, no restart', async () => {
    const fileStartedAt = performance.now();
    const postgres = (resources.postgres = await startOwnedPostgres());
    const api = await startApi(postgres);
    const partners = await seed(
      api,
      ['outage-partner-1', 'outage-partner-2'],
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

    // /ready, probed as a load balancer would, all along.
    const probes: Probe[] = [];
    let probing = true;
    const prober = (async () => {
      while (probing) {
        const sentAt = performance.now();
        const status = await fetch(`${api.url}/ready`, { signal: AbortSignal.timeout(10_000) }).then(
          (response) => response.status,
          () => 0,
        );
        probes.push({ sentAt, answeredAt: performance.now(), status });
        await sleep(200);
      }
    })();

    let stoppingAt = 0;
    let stoppedAt = 0;
    let startingAt = 0;
    let startedAt = 0;
    const failure = await faultPhase(async () => {
      stoppingAt = performance.now();
      await postgres.stop();
      stoppedAt = performance.now();
      // The outage itself: the one wait of the scenario that is the fault, not a guess at timing.
      await sleep(OUTAGE_MS);
      startingAt = performance.now();
      await postgres.start();
      startedAt = performance.now();
      await load.progress(
        200,
        30_000,
        allExited(() => [api]),
      );
      await waitUntil(
        () => probes.some((p) => p.sentAt > startedAt && p.status === 200),
        '/ready to answer 200 again',
        { timeoutMs: 30_000 },
      );
    });
    probing = false;
    await prober;
    expect(exitedProcesses([api])).toEqual([]);
    if (failure) throw failure;
    await load.stop();
    const loadSeconds = (performance.now() - loadStartedAt) / 1000;

    // Meanwhile: requests sent once the server was down and answered before it was started again.
    const during = load.answers.filter((a) => a.sentAt >= stoppedAt && a.answeredAt <= startingAt);
    expect(during.length).toBeGreaterThanOrEqual(10);
    expect(during.filter((a) => a.status !== 503 || a.retryAfter === undefined)).toEqual([]);
    // The process stayed up: no request anywhere in the run died on the network.
    expect(load.answers.filter((a) => a.status === 0)).toEqual([]);
    expect(load.unexpected).toEqual([]);

    const probesDuring = probes.filter((p) => p.sentAt >= stoppedAt && p.answeredAt <= startingAt);
    expect(probesDuring.length).toBeGreaterThanOrEqual(1);
    expect(probesDuring.filter((p) => p.status !== 503)).toEqual([]);

    const firstServed = Math.min(
      ...load.answers
        .filter((a) => a.sentAt >= stoppedAt && a.status >= 200 && a.status < 300)
        .map((a) => a.answeredAt),
    );
    const servedAfterMs = Math.max(0, firstServed - startedAt);
    expect(servedAfterMs).toBeLessThanOrEqual(SERVED_AGAIN_WITHIN_MS);

    // One warn line for the outage, not one per request.
    const outageLines = api.server
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{') && /"level":[4-6]0|database answers again/.test(line))
      .map((line) => {
        const { level, msg, err, reqId } = JSON.parse(line) as Record<string, unknown>;
        return JSON.stringify({ level, msg, reqId, err: (err as { message?: string } | undefined)?.message });
      });
    const warnings = outageLines.filter((line) => line.includes('database unavailable: answering 503'));
    expect(warnings.length, outageLines.join('\n')).toBe(1);

    const ledger = await checkLedger(postgres.db, load);
    expect(ledger.problems).toEqual([]);
    expect(ledger.invariantBreaches).toEqual([]);

    const requests = load.answers.length;
    const counts = statusCounts(load.answers);
    console.log(
      `[faults] 2: ${during.length} answers during the outage (all 503); served again ${Math.round(servedAfterMs)} ms ` +
        `after the start (stopping took ${Math.round(stoppedAt - stoppingAt)} ms, starting ${Math.round(startedAt - startingAt)} ms); ` +
        `${figure(requests)} requests in ${loadSeconds.toFixed(1)} s; ${counts}; file ` +
        `${((performance.now() - fileStartedAt) / 1000).toFixed(1)} s`,
    );
    await recordScenario({
      id: 2,
      name: 'PostgreSQL stopped for 5 s under load',
      load: `${CLIENTS} clients on 1 API process, ${figure(requests)} requests in ${loadSeconds.toFixed(0)} s`,
      faults: `PostgreSQL fast shutdown, ${OUTAGE_MS / 1000} s down, started again on the same port`,
      checked:
        'every answer meanwhile a 503 with Retry-After; /ready 503 meanwhile, 200 after; served again within 5 s; ' +
        'no process exit; one warn line; invariant; ledger',
      figures:
        `${figure(during.length)} answers during the outage, all 503; served again ${(servedAfterMs / 1000).toFixed(1)} s ` +
        `after the start; 0 exits, 0 restarts, 0 lost, 0 doubled (${counts})`,
    });
  });
});

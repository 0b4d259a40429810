import { afterAll, describe, expect, it } from 'vitest';
import {
  cleanUp,
  exitedProcesses,
  faultPhase,
  figure,
  readHeap,
  residentBytes,
  seed,
  sleep,
  startApi,
  startOwnedPostgres,
  type ApiProcess,
  type Resources,
} from './harness.js';
import { checkLedger } from './ledger.js';
import { startLoad, statusCounts } from './load.js';
import { recordScenario } from './report.js';

const WARM_UP_SECONDS = 10;
/** A warm-up that sees no full garbage collection ends anyway after this long. */
const WARM_UP_AT_MOST_SECONDS = 45;

/** FAULTS_SOAK_SECONDS shortens the soak for a local run; CI and the report use the default, 60 s. */
function soakSeconds(): number {
  const raw = process.env.FAULTS_SOAK_SECONDS;
  if (raw === undefined || raw === '') return 60;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 10) {
    throw new Error(`FAULTS_SOAK_SECONDS must be a whole number of seconds, at least 10; got "${raw}"`);
  }
  return value;
}

const SOAK_SECONDS = soakSeconds();
const CLIENTS = 4;
const EVENT = 'soak';
const MB = 1024 * 1024;

interface Reading {
  /** Seconds since the load started. */
  readonly second: number;
  readonly rss: number;
  readonly heapUsed: number;
  readonly majorGcs: number;
}

async function read(api: ApiProcess, second: number): Promise<Reading> {
  const heap = await readHeap(api);
  return { second, rss: residentBytes(api.pid), ...heap };
}

/**
 * Scenario 6: a soak of churn on one event (each client reserves, cancels, again). Nothing may fail (no 5xx, no
 * network failure: every answer 201 or 204), and the API process's resident memory may not grow by 10% or more
 * over the 60 s after a warm-up.
 *
 * V8 lets garbage pile up between full collections, so RSS climbs and drops by tens of MB on its own: readings
 * are compared like with like, each taken just after a full collection (nodejs_gc_duration_seconds{kind="major"}
 * in /metrics went up). The warm-up lasts 10 s and until the first full collection; the end is the reading after
 * the soak's last one, or the last reading if there was none (the unfavourable side: garbage counted).
 */
describe(`fault 6: ${SOAK_SECONDS} s soak of churn`, () => {
  const resources: Resources = {};
  afterAll(() => cleanUp(resources), 60_000);

  it(
    'zero errors, API RSS growth under 10% after warm-up',
    async () => {
      const fileStartedAt = performance.now();
      const postgres = (resources.postgres = await startOwnedPostgres());
      const api = await startApi(postgres);
      const partners = await seed(api, ['soak-partner-1', 'soak-partner-2'], [{ eventId: EVENT, totalSeats: 100_000 }]);
      const load = (resources.load = startLoad({
        clients: CLIENTS,
        partners,
        events: [EVENT],
        urls: () => [api.url],
        mix: 'churn',
      }));
      const loadStartedAt = performance.now();

      const readings: Reading[] = [];
      let baseline: Reading | undefined;
      const failure = await faultPhase(async () => {
        for (let second = 1; ; second++) {
          // The soak's length is the scenario; a reading a second.
          await sleep(Math.max(0, loadStartedAt + second * 1000 - performance.now()));
          if (api.exited()) throw new Error('the API process exited during the soak');
          const reading = await read(api, second);
          const previous = readings.at(-1);
          readings.push(reading);
          const afterFullGc = previous !== undefined && reading.majorGcs > previous.majorGcs;
          if (!baseline) {
            const warm = second >= WARM_UP_SECONDS && (afterFullGc || second >= WARM_UP_AT_MOST_SECONDS);
            if (warm) baseline = reading;
          } else if (second >= baseline.second + SOAK_SECONDS) {
            return;
          }
        }
      });
      expect(exitedProcesses([api])).toEqual([]);
      if (failure) throw failure;
      await load.stop();
      const loadSeconds = (performance.now() - loadStartedAt) / 1000;

      // Zero errors: every answer a 201 (reserved) or a 204 (cancelled).
      const errors = load.answers.filter((a) => a.status !== 201 && a.status !== 204);
      expect(errors.slice(0, 20)).toEqual([]);
      expect(load.unexpected).toEqual([]);

      const before = baseline!;
      const soak = readings.filter((r) => r.second > before.second);
      const afterGcs = soak.filter((r, i) => r.majorGcs > (i === 0 ? before : soak[i - 1]!).majorGcs);
      const after = afterGcs.at(-1) ?? soak.at(-1)!;
      const growth = (after.rss - before.rss) / before.rss;
      const mb = (bytes: number) => Math.round(bytes / MB);
      const trace =
        `RSS ${readings.map((r) => mb(r.rss)).join(',')}; heap used ${readings.map((r) => mb(r.heapUsed)).join(',')}; ` +
        `full GCs ${readings.map((r) => r.majorGcs).join(',')}; baseline at ${before.second} s, end at ${after.second} s`;
      expect(growth, `readings in MB, one a second: ${trace}`).toBeLessThan(0.1);

      const ledger = await checkLedger(postgres.db, load);
      expect(ledger.problems).toEqual([]);
      expect(ledger.invariantBreaches).toEqual([]);

      const requests = load.answers.length;
      const counts = statusCounts(load.answers);
      const fullGcs = after.majorGcs - before.majorGcs;
      const rss =
        `RSS ${(before.rss / MB).toFixed(1)} MB after the warm-up, ${(after.rss / MB).toFixed(1)} MB at the end ` +
        `(${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%, both after a full GC; ${fullGcs} full GCs between)`;
      console.log(
        `[faults] 6: ${rss}; ${trace}; ${figure(requests)} requests in ${loadSeconds.toFixed(1)} s; ${counts}; ` +
          `file ${((performance.now() - fileStartedAt) / 1000).toFixed(1)} s`,
      );
      await recordScenario({
        id: 6,
        name: `Soak: ${SOAK_SECONDS} s of churn`,
        load: `${CLIENTS} clients reserving and cancelling on 1 event, 1 API process, ${figure(requests)} requests in ${loadSeconds.toFixed(0)} s (warm-up ${before.second} s included)`,
        faults: 'none: time and churn',
        checked: `no error (every answer 201 or 204); API RSS growth under 10% over ${SOAK_SECONDS} s after the warm-up; invariant; ledger`,
        figures: `0 errors, ${figure(requests)} requests; ${rss}; 0 exits, 0 lost, 0 doubled (${counts})`,
      });
    },
    (WARM_UP_AT_MOST_SECONDS + SOAK_SECONDS + 120) * 1000,
  );
});

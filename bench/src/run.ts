/**
 * `pnpm bench`: starts TicketBoss against databases it creates, drives it over real HTTP from a separate
 * process, measures PostgreSQL alone with pgbench in the same run (the one-row ceiling and the seat-pool commit
 * statement), then prints a table and writes the same numbers to bench/results/latest.json.
 *
 * BENCH_WEBHOOK_WORKER=off runs row 2c's process without its webhook worker.
 * BENCH_CONSOLE_SCREENSHOT=<file.png> ends the run with a screenshot of /console during a sale (console-screenshot.ts).
 * BENCH_DATABASE_URL (a superuser URL) picks the server; without it an embedded PostgreSQL is started.
 * BENCH_CHURN_SECONDS (default 5) sets how long each churn and pgbench run lasts, BENCH_ROUNDS (default 3) how
 * many rounds of them are run.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DEFAULT_EVENT } from '@ticketboss/domain';
import { startConsolePolling } from './console-poller.js';
import { consoleScreenshotPath, takeConsoleScreenshot } from './console-screenshot.js';
import { countsBetween, root, scrapeMetrics, startApi, type Api } from './api-processes.js';
import { adminServer, databases, query } from './databases.js';
import type { ChurnResult, LoadPlan, SellOutResult } from './load.js';
import { ceiling, hasPgbench, poolRun, type Ceiling, type PoolRun } from './pgbench.js';
import { render, summarise, type ChurnRound, type ChurnSet, type ConsoleRound, type WebhookRound } from './report.js';
import { registerEndpoints, startReceiver, type Receiver } from './webhook-receiver.js';

const loadPath = fileURLToPath(new URL('./load.ts', import.meta.url));
const churnSeconds = Number(process.env.BENCH_CHURN_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const CLIENTS = 32;
/** API processes sharing the churn load, side by side in each round; the first is the reference. */
const PROCESS_COUNTS = [1, 2, 4];
/** Seat pools of the event that pgbench's clients commit on. */
const POOL_COUNTS = [1, 4, 16];
const run = promisify(execFile);
/** BENCH_WEBHOOK_WORKER=off: row 2c's process records deliveries but posts none (what recording alone costs). */
const webhookWorker = process.env.BENCH_WEBHOOK_WORKER === 'off' ? 'off' : 'on';
/** How long the bench waits for a round's webhook deliveries to drain before it goes on. */
const DRAIN_DEADLINE_MS = 180_000;

async function load<T>(plan: LoadPlan): Promise<T> {
  const { stdout } = await run(
    process.execPath,
    ['--conditions=@ticketboss/source', '--import', 'tsx', loadPath, JSON.stringify(plan)],
    { cwd: root, maxBuffer: 64 * 1024 * 1024 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as T;
}

/** One churn run through a set of processes, with what they counted of their commits during it. */
async function churn(api: Api, idempotencyKeys = false): Promise<ChurnRound> {
  const before = await api.counts();
  const result = await load<ChurnResult>({
    scenario: 'churn',
    urls: api.urls,
    tokens: api.tokens,
    clients: CLIENTS,
    durationMs: churnSeconds * 1000,
    idempotencyKeys,
  });
  return { ...result, counts: countsBetween(before, await api.counts()) };
}

/** Churn as `churn` does, with the operator console's requests (an open /console on the churned event) beside it. */
async function churnWithConsole(api: Api): Promise<Omit<ConsoleRound, 'closedAfter'>> {
  const polling = startConsolePolling(api.urls[0]!, api.adminToken, DEFAULT_EVENT.eventId);
  // Stopped either way, so that a failed churn does not leave the polling running.
  const round = await churn(api).finally(() => polling.stop());
  return { ...round, console: await polling.stop() };
}

/**
 * Churn through the set whose partners each have a webhook endpoint, then waits until every delivery it caused is
 * done (so the next measurement does not share the cores with them): how many arrived during the churn, and how
 * long the rest took.
 */
async function churnWithWebhooks(api: Api, receiver: Receiver): Promise<WebhookRound> {
  const before = receiver.received();
  const round = await churn(api);
  const duringChurn = receiver.received() - before;
  const drainStarted = Date.now();
  let drainMs = Number.NaN;
  while (webhookWorker === 'on' && Date.now() - drainStarted < DRAIN_DEADLINE_MS) {
    if ((await api.queueDepth()) === 0) {
      drainMs = Date.now() - drainStarted;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { ...round, deliveriesDuringChurn: duringChurn, deliveries: receiver.received() - before, drainMs };
}

async function sellOut(databaseUrl: string, workDir: string, warmUpMs: number) {
  const api = await startApi(databaseUrl, 1, workDir);
  try {
    const result = await load<SellOutResult>({
      scenario: 'sell-out',
      urls: api.urls,
      tokens: api.tokens,
      requests: 1000,
      inFlight: 200,
      warmUpMs,
    });
    const peakRssMb = await api.peakRssMb();
    return { ...result, peakRssMb, stopped: await api.stop() };
  } finally {
    await api.stop();
  }
}

async function main(): Promise<void> {
  const workDir = await mkdtemp(join(tmpdir(), 'ticketboss-bench-'));
  const admin = await adminServer();
  const dbs = databases(admin.url);
  const apis: Api[] = [];
  const receiver = await startReceiver();
  try {
    const [row] = await query<{ server_version: string }>(admin.url, 'SHOW server_version');
    const version = row?.server_version ?? 'unknown';
    const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB`;
    process.stderr.write(`bench: PostgreSQL ${version} (${admin.label}), node ${process.version}, ${machine}\n`);

    process.stderr.write('bench: sell-out (warm)\n');
    const warm = await sellOut(await dbs.fresh(), workDir, 2000);
    process.stderr.write('bench: sell-out (cold process)\n');
    const cold = await sellOut(await dbs.fresh(), workDir, 0);

    // Every set of processes, the ceiling and the pool statements take turns, round after round, so that a
    // passing disturbance of this shared machine hits them alike; each is reported as its median round, the
    // ratios per round. Each set has a database of its own on the same server, so that idle processes of one set
    // hold no pool of the event another set is churning on.
    const sets: { processes: number; api: Api; rounds: ChurnRound[] }[] = [];
    for (const processes of PROCESS_COUNTS) {
      const api = await startApi(await dbs.fresh(), processes, workDir);
      apis.push(api);
      sets.push({ processes, api, rounds: [] });
    }
    // Row 2c: one process as in row 2, its partners each with a webhook endpoint on this machine's receiver.
    const webhookApi = await startApi(await dbs.fresh(), 1, workDir, {
      TICKETBOSS_WEBHOOK_ALLOW_PRIVATE: 'true',
      TICKETBOSS_WEBHOOK_WORKER: webhookWorker,
    });
    apis.push(webhookApi);
    await registerEndpoints(webhookApi.urls[0]!, webhookApi.tokens, receiver.url);
    const webhookRounds: WebhookRound[] = [];
    const pgbenchDb = await dbs.fresh();
    const withPgbench = await hasPgbench();
    if (!withPgbench) process.stderr.write('bench: pgbench not found; the database-side rows are left out\n');
    const keyed: ChurnRound[] = [];
    const withConsole: ConsoleRound[] = [];
    const ceilings: Ceiling[] = [];
    const poolRuns = [false, true].flatMap((guarded) =>
      POOL_COUNTS.map((pools) => ({ pools, guarded, console: false, rounds: [] as PoolRun[] })),
    );
    // Row 6d: as 6b (4 pools, no guard), with the console's writes in each statement.
    poolRuns.push({ pools: 4, guarded: false, console: true, rounds: [] });
    for (let round = 1; round <= rounds; round++) {
      process.stderr.write(
        `bench: round ${round}/${rounds}: churn through ${PROCESS_COUNTS.join(', ')} processes ` +
          `(1 also with the console open, with Idempotency-Key, and with webhook endpoints); pgbench: one-row ceiling, ${POOL_COUNTS.join(', ')} seat pools (4 also with the console's writes) ` +
          `(without and with the version guard); ` +
          `${churnSeconds} s each\n`,
      );
      for (const set of sets) {
        set.rounds.push(await churn(set.api));
        if (set === sets[0]) {
          // Row 2d between two closed runs (row 2's and one more), compared with both: what runs first after the
          // previous round's other rows is slower, whichever it is.
          const open = await churnWithConsole(set.api);
          withConsole.push({ ...open, closedAfter: await churn(set.api) });
          keyed.push(await churn(set.api, true));
          webhookRounds.push(await churnWithWebhooks(webhookApi, receiver));
        }
      }
      if (!withPgbench) continue;
      ceilings.push(await ceiling(pgbenchDb, workDir, CLIENTS, churnSeconds));
      for (const { pools, guarded, console: writes, rounds: measured } of poolRuns) {
        measured.push(await poolRun(pgbenchDb, workDir, pools, guarded, round, CLIENTS, churnSeconds, writes));
      }
    }
    const churnMetrics = await scrapeMetrics(sets[0]!.api.urls[0]!);
    if (consoleScreenshotPath) {
      process.stderr.write(`bench: /console during a sale, screenshot to ${consoleScreenshotPath}\n`);
      const api = sets[0]!.api;
      // 4 clients keeping every 20th reservation: the event sells for a minute or so rather than in seconds.
      const sale = { scenario: 'churn', urls: api.urls, tokens: api.tokens, clients: 4, keepEvery: 20 } as const;
      await takeConsoleScreenshot(api.urls[0]!, api.adminToken, DEFAULT_EVENT.name, consoleScreenshotPath, () =>
        load<ChurnResult>({ ...sale, durationMs: 25_000 }),
      );
    }
    const churnSets: ChurnSet[] = [];
    for (const { processes, api, rounds: measured } of sets) {
      const peakRssMb = await api.peakRssMb();
      churnSets.push({ processes, rounds: measured, peakRssMb, stopped: await api.stop() });
    }

    const summary = summarise({
      date: new Date().toISOString(),
      machine,
      node: process.version,
      postgres: `${version} (${admin.label})`,
      rounds,
      churnSeconds,
      clients: CLIENTS,
      sellOut: warm,
      sellOutCold: cold,
      churnSets,
      keyed,
      withConsole,
      webhooks: webhookRounds,
      ceilings,
      pools: withPgbench ? poolRuns : [],
    });
    process.stdout.write(`${render(summary)}\n`);
    process.stdout.write(`\n/metrics of the 1-process churn (row 2) after its rounds:\n${churnMetrics.join('\n')}\n`);
    await mkdir(join(root, 'bench/results'), { recursive: true });
    await writeFile(join(root, 'bench/results/latest.json'), `${JSON.stringify(summary, null, 2)}\n`);
    process.stdout.write(`\nwritten: bench/results/latest.json\n`);
  } finally {
    for (const api of apis) await api.stop();
    await receiver.close();
    await dbs.dropAll();
    await admin.stop();
    await rm(workDir, { recursive: true, force: true });
  }
}

await main();

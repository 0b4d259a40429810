/**
 * `pnpm bench`: starts TicketBoss against databases it creates, drives it over real HTTP from a separate
 * process, measures PostgreSQL's own one-request-per-commit ceiling with pgbench in the same run, then prints a
 * table and writes the same numbers to bench/results/latest.json.
 *
 * BENCH_DATABASE_URL (a superuser URL) picks the server; without it an embedded PostgreSQL is started.
 * BENCH_CHURN_SECONDS (default 5) sets how long each churn and ceiling run lasts, BENCH_ROUNDS (default 3) how
 * many rounds of them are run.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  createDatabase,
  ensureEvent,
  migrate,
  readMigrations,
  startEmbeddedPostgres,
} from '@ticketboss/adapters-postgres';
import { DEFAULT_EVENT } from '@ticketboss/domain';
import pg from 'pg';
import type { ChurnResult, LoadPlan, SellOutResult } from './load.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const mainPath = join(root, 'packages/http-api/src/server/main.ts');
const loadPath = fileURLToPath(new URL('./load.ts', import.meta.url));
const churnSeconds = Number(process.env.BENCH_CHURN_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const CLIENTS = 32;
const run = promisify(execFile);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function adminServer(): Promise<{ url: string; label: string; stop: () => Promise<void> }> {
  const given = process.env.BENCH_DATABASE_URL;
  if (given) return { url: given, label: 'BENCH_DATABASE_URL', stop: async () => undefined };
  const dataDir = await mkdtemp(join(tmpdir(), 'ticketboss-bench-pg-'));
  const server = await startEmbeddedPostgres({ dataDir });
  return {
    url: server.connectionString,
    label: 'embedded',
    stop: async () => {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function adminQuery<T extends pg.QueryResultRow>(adminUrl: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

const created: string[] = [];

/** A new database with the schema and the default event, as `pnpm start` would leave it; dropped at the end. */
async function freshDatabase(adminUrl: string): Promise<string> {
  const name = `ticketboss_bench_${randomBytes(4).toString('hex')}`;
  created.push(name);
  await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = createDatabase({ connectionString: url.toString() });
  await migrate(db, await readMigrations());
  await ensureEvent(db, DEFAULT_EVENT);
  await db.destroy();
  return url.toString();
}

interface Api {
  readonly urls: string[];
  /** API keys of the partners the load speaks for. */
  readonly tokens: string[];
  /** Peak resident memory of each API process, in MB (VmHWM). */
  peakRssMb(): Promise<number[]>;
  /** Stops the processes; returns the commit statistics each logged on its way out. */
  stop(): Promise<{ commits: number; changesCommitted: number; versionConflicts: number }[]>;
}

const ADMIN_TOKEN = randomBytes(24).toString('base64url');
const PARTNERS = 50;

/** Partners for the load, created through the admin API; a database may already have them from another start. */
async function partnerTokens(url: string): Promise<string[]> {
  return Promise.all(
    Array.from({ length: PARTNERS }, async (_, i) => {
      const partnerId = `bench-${i}-${randomBytes(4).toString('hex')}`;
      const response = await fetch(`${url}/v1/partners`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
        body: JSON.stringify({ partnerId, name: `Bench partner ${i}` }),
      });
      if (response.status !== 201)
        throw new Error(`creating ${partnerId}: ${response.status} ${await response.text()}`);
      return ((await response.json()) as { apiKey: { token: string } }).apiKey.token;
    }),
  );
}

/** The lines of the API's /metrics that the churn moves: outcomes, commits and batch sizes, conflicts, pool. */
async function scrapeMetrics(url: string): Promise<string[]> {
  const response = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  const wanted =
    /^ticketboss_(reservations_total|cancellations_total|commit_batch_size_(sum|count)|version_conflicts_total|db_pool_connections)\b/;
  return (await response.text()).split('\n').filter((line) => wanted.test(line));
}

async function startApi(databaseUrl: string, processes: number, logDir: string): Promise<Api> {
  const children: { child: ChildProcess; log: string }[] = [];
  const urls: string[] = [];
  for (let i = 0; i < processes; i++) {
    const port = await freePort();
    const log = join(logDir, `api-${port}.log`);
    const out = createWriteStream(log);
    await new Promise((resolve) => out.once('open', resolve));
    const child = spawn(process.execPath, ['--conditions=@ticketboss/source', '--import', 'tsx', mainPath], {
      cwd: root,
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl,
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        // The defaults partners meet (API keys on the classic routes, a rate limit per key) with a limit high
        // enough never to refuse: its cost is measured, not its refusals.
        TICKETBOSS_AUTH: 'api-key',
        TICKETBOSS_ADMIN_TOKEN: ADMIN_TOKEN,
        TICKETBOSS_RATE_LIMIT_PER_SECOND: '1000000',
        TICKETBOSS_RATE_LIMIT_BURST: '1000000',
      },
      stdio: ['ignore', out, out],
    });
    children.push({ child, log });
    urls.push(`http://127.0.0.1:${port}`);
  }
  for (const url of urls) {
    for (let tries = 0; ; tries++) {
      const up = await fetch(`${url}/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (up) break;
      if (tries > 300) throw new Error(`API at ${url} did not start`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    urls,
    tokens: await partnerTokens(urls[0]!),
    async peakRssMb() {
      return Promise.all(
        children.map(async ({ child }) => {
          const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
          return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) / 1024;
        }),
      );
    },
    async stop() {
      await Promise.all(
        children.map(
          ({ child }) =>
            new Promise<void>((resolve) => {
              child.once('exit', () => resolve());
              child.kill('SIGTERM');
            }),
        ),
      );
      return Promise.all(
        children.map(async ({ log }) => {
          const stopped = (await readFile(log, 'utf8'))
            .split('\n')
            .filter((line) => line.includes('"msg":"stopped"'))
            .map(
              (line) =>
                JSON.parse(line) as {
                  commits?: { commits: number; changesCommitted: number; versionConflicts: number };
                },
            )
            .at(-1);
          return (
            stopped?.commits ?? { commits: Number.NaN, changesCommitted: Number.NaN, versionConflicts: Number.NaN }
          );
        }),
      );
    },
  };
}

async function load<T>(plan: LoadPlan): Promise<T> {
  const { stdout } = await run(
    process.execPath,
    ['--conditions=@ticketboss/source', '--import', 'tsx', loadPath, JSON.stringify(plan)],
    {
      cwd: root,
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as T;
}

interface Ceiling {
  readonly clients: number;
  readonly operationsPerSecond: number;
  readonly latencyAverageMs: number;
}

/**
 * PostgreSQL alone, no HTTP and no application: each pgbench client reserves one seat on one hot event with the
 * API's reserve statement, then cancels it with the API's cancel transaction; every request is its own commit.
 */
async function pgbenchCeiling(databaseUrl: string, workDir: string): Promise<Ceiling | undefined> {
  const hasPgbench = await run('pgbench', ['--version']).then(
    () => true,
    () => false,
  );
  if (!hasPgbench) return undefined;
  const url = new URL(databaseUrl);
  await adminQuery(
    databaseUrl,
    `INSERT INTO events (event_id, name, total_seats, available_seats) VALUES ('pgbench-ceiling', 'pgbench', 1000, 1000)
     ON CONFLICT (event_id) DO NOTHING`,
  );
  const script = join(workDir, 'ceiling.sql');
  await writeFile(
    script,
    `WITH moved AS (UPDATE events SET available_seats = available_seats - 1, active_reservations = active_reservations + 1, version = version + 1, updated_at = now() WHERE event_id = 'pgbench-ceiling' AND available_seats >= 1 RETURNING event_id) INSERT INTO reservations (reservation_id, event_id, partner_id, seats, status) SELECT gen_random_uuid(), event_id, 'pgbench', 1, 'confirmed' FROM moved RETURNING reservation_id \\gset
BEGIN;
SELECT reservation_id FROM reservations WHERE reservation_id = :reservation_id AND status = 'confirmed' FOR UPDATE;
WITH moved AS (UPDATE events SET available_seats = available_seats + 1, active_reservations = active_reservations - 1, version = version + 1, updated_at = now() WHERE event_id = 'pgbench-ceiling' RETURNING event_id) UPDATE reservations SET status = 'cancelled', cancelled_at = now() FROM moved WHERE reservation_id = :reservation_id;
COMMIT;
`,
  );
  const { stdout } = await run(
    'pgbench',
    [
      '-n',
      '-M',
      'extended',
      '-c',
      String(CLIENTS),
      '-j',
      '2',
      '-T',
      String(churnSeconds),
      '-f',
      script,
      '-h',
      url.hostname,
      '-p',
      url.port || '5432',
      '-U',
      decodeURIComponent(url.username),
      url.pathname.slice(1),
    ],
    { env: { ...process.env, PGPASSWORD: decodeURIComponent(url.password) } },
  );
  const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1]);
  const latency = Number(/latency average = ([\d.]+) ms/.exec(stdout)?.[1]);
  // One script run = one reservation + one cancellation = two operations, as in the HTTP churn.
  return { clients: CLIENTS, operationsPerSecond: tps * 2, latencyAverageMs: latency / 2 };
}

/** The element with the median key (the lower middle one for an even count). */
function median<T>(items: readonly T[], key: (item: T) => number): T {
  const sorted = [...items].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

async function main(): Promise<void> {
  const workDir = await mkdtemp(join(tmpdir(), 'ticketboss-bench-'));
  const admin = await adminServer();
  try {
    const [row] = await adminQuery<{ server_version: string }>(admin.url, 'SHOW server_version');
    const version = row?.server_version ?? 'unknown';
    const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB`;
    process.stderr.write(`bench: PostgreSQL ${version} (${admin.label}), node ${process.version}, ${machine}\n`);

    process.stderr.write('bench: sell-out (warm)\n');
    const sellOutDb = await freshDatabase(admin.url);
    let api = await startApi(sellOutDb, 1, workDir);
    const sellOut = await load<SellOutResult>({
      scenario: 'sell-out',
      urls: api.urls,
      tokens: api.tokens,
      requests: 1000,
      inFlight: 200,
      warmUpMs: 2000,
    });
    const sellOutRss = await api.peakRssMb();
    const sellOutCommits = await api.stop();

    process.stderr.write('bench: sell-out (cold process)\n');
    const coldDb = await freshDatabase(admin.url);
    api = await startApi(coldDb, 1, workDir);
    const coldSellOut = await load<SellOutResult>({
      scenario: 'sell-out',
      urls: api.urls,
      tokens: api.tokens,
      requests: 1000,
      inFlight: 200,
      warmUpMs: 0,
    });
    await api.stop();

    // Churn, ceiling and two-process churn take turns, round after round, so that a passing disturbance of this
    // shared machine hits all three alike; each is reported as its median round, the ratios per round.
    const churnDb = await freshDatabase(admin.url);
    const twoDb = await freshDatabase(admin.url);
    const one = await startApi(churnDb, 1, workDir);
    const two = await startApi(twoDb, 2, workDir);
    const churns: ChurnResult[] = [];
    const churnsKeyed: ChurnResult[] = [];
    const ceilings: (Ceiling | undefined)[] = [];
    const churnsTwo: ChurnResult[] = [];
    const churnPlan = ({ urls, tokens }: Api, idempotencyKeys = false): LoadPlan => ({
      scenario: 'churn',
      urls,
      tokens,
      clients: CLIENTS,
      durationMs: churnSeconds * 1000,
      idempotencyKeys,
    });
    for (let round = 1; round <= rounds; round++) {
      process.stderr.write(
        `bench: round ${round}/${rounds}: churn (1 process, without and with Idempotency-Key), ceiling (pgbench), ` +
          `churn (2 processes), ${churnSeconds} s each\n`,
      );
      churns.push(await load<ChurnResult>(churnPlan(one)));
      churnsKeyed.push(await load<ChurnResult>(churnPlan(one, true)));
      ceilings.push(await pgbenchCeiling(churnDb, workDir));
      churnsTwo.push(await load<ChurnResult>(churnPlan(two)));
    }
    const churnMetrics = await scrapeMetrics(one.urls[0]!);
    const churnRss = await one.peakRssMb();
    const churnCommits = await one.stop();
    const churnTwoRss = await two.peakRssMb();
    const churnTwoCommits = await two.stop();

    const churn = median(churns, (c) => c.operationsPerSecond);
    const churnKeyed = median(churnsKeyed, (c) => c.operationsPerSecond);
    // What keys cost, measured side by side in each round.
    const keyedRatios = churnsKeyed.map((c, i) => c.operationsPerSecond / churns[i]!.operationsPerSecond);
    const keyedRatio = median(keyedRatios, (r) => r);
    const churnTwo = median(churnsTwo, (c) => c.operationsPerSecond);
    const measured = ceilings.filter((c): c is Ceiling => c !== undefined);
    const ceiling = measured.length > 0 ? median(measured, (c) => c.operationsPerSecond) : undefined;
    const ratios =
      measured.length === rounds ? churns.map((c, i) => c.operationsPerSecond / measured[i]!.operationsPerSecond) : [];
    const ratiosTwo =
      measured.length === rounds
        ? churnsTwo.map((c, i) => c.operationsPerSecond / measured[i]!.operationsPerSecond)
        : [];
    const ratio = ratios.length > 0 ? median(ratios, (r) => r) : Number.NaN;
    const ratioTwo = ratiosTwo.length > 0 ? median(ratiosTwo, (r) => r) : Number.NaN;
    const perCommit = (c: { commits: number; changesCommitted: number }[]) =>
      c.reduce((s, x) => s + x.changesCommitted, 0) / c.reduce((s, x) => s + x.commits, 0);
    const conflicts = (c: { versionConflicts: number }[]) => c.reduce((s, x) => s + x.versionConflicts, 0);
    const results = {
      date: new Date().toISOString(),
      machine,
      node: process.version,
      postgres: `${version} (${admin.label})`,
      command: 'pnpm bench',
      sellOut: { ...sellOut, peakRssMb: sellOutRss, commits: sellOutCommits },
      sellOutCold: coldSellOut,
      churn: { ...churn, peakRssMb: churnRss, commits: churnCommits, rounds: churns },
      churnWithIdempotencyKeys: { ...churnKeyed, rounds: churnsKeyed },
      ceiling: ceiling ?? null,
      churnTwoProcesses: { ...churnTwo, peakRssMb: churnTwoRss, commits: churnTwoCommits, rounds: churnsTwo },
      ceilingRounds: ceilings,
      ratios: {
        churnToCeiling: ratio,
        churnTwoProcessesToCeiling: ratioTwo,
        perRound: ratios,
        perRoundTwoProcesses: ratiosTwo,
        keyedToUnkeyed: keyedRatio,
        perRoundKeyedToUnkeyed: keyedRatios,
      },
    };

    const rows = [
      ['scenario', 'throughput', 'answers', 'errors / 5xx', 'p50 ms', 'p99 ms', 'changes per commit', 'peak RSS MB'],
      [
        '1. sell-out: 500 seats, 1,000 requests of 1-10, 200 in flight (after 2 s of warm-up churn)',
        `sold out in ${fmt(sellOut.timeToSellOutMs)} ms`,
        `${sellOut.confirmed} × 201 (${sellOut.seatsSold} seats), ${sellOut.denied} × 409, false denials ${sellOut.falseDenials}, oversold ${sellOut.oversold}`,
        `${sellOut.otherAnswers} / ${sellOut.serverErrors}`,
        fmt(sellOut.latency.p50, 1),
        fmt(sellOut.latency.p99, 1),
        fmt(perCommit(sellOutCommits), 1),
        sellOutRss.map((m) => fmt(m)).join(', '),
      ],
      [
        '1b. the same sell-out on a cold process (its first requests after start)',
        `sold out in ${fmt(coldSellOut.timeToSellOutMs)} ms`,
        `${coldSellOut.confirmed} × 201 (${coldSellOut.seatsSold} seats), ${coldSellOut.denied} × 409, false denials ${coldSellOut.falseDenials}, oversold ${coldSellOut.oversold}`,
        `${coldSellOut.otherAnswers} / ${coldSellOut.serverErrors}`,
        fmt(coldSellOut.latency.p50, 1),
        fmt(coldSellOut.latency.p99, 1),
        '',
        '',
      ],
      [
        `2. churn: reserve 1 + cancel, ${CLIENTS} clients, ${churnSeconds} s, 1 process (median of ${rounds})`,
        `${fmt(churn.operationsPerSecond)} ops/s`,
        `${churn.reserved} × 201, ${churn.cancelled} × 204`,
        `${churn.errors} (503: ${churn.contended})`,
        fmt(churn.latency.p50, 1),
        fmt(churn.latency.p99, 1),
        fmt(perCommit(churnCommits), 1),
        churnRss.map((m) => fmt(m)).join(', '),
      ],
      [
        `2b. churn as in 2, each reservation with its own Idempotency-Key (median of ${rounds})`,
        `${fmt(churnKeyed.operationsPerSecond)} ops/s`,
        `${churnKeyed.reserved} × 201, ${churnKeyed.cancelled} × 204`,
        `${churnKeyed.errors} (503: ${churnKeyed.contended})`,
        fmt(churnKeyed.latency.p50, 1),
        fmt(churnKeyed.latency.p99, 1),
        '',
        '',
      ],
      [
        `3. ceiling: the same statements by pgbench, ${CLIENTS} clients, one request per commit (median of ${rounds})`,
        ceiling ? `${fmt(ceiling.operationsPerSecond)} ops/s` : 'pgbench not found',
        '',
        '',
        ceiling ? `${fmt(ceiling.latencyAverageMs, 1)} (mean)` : '',
        '',
        '1',
        '',
      ],
      [
        `4. churn as in 2, through 2 API processes (median of ${rounds})`,
        `${fmt(churnTwo.operationsPerSecond)} ops/s`,
        `${churnTwo.reserved} × 201, ${churnTwo.cancelled} × 204`,
        `${churnTwo.errors} (503: ${churnTwo.contended})`,
        fmt(churnTwo.latency.p50, 1),
        fmt(churnTwo.latency.p99, 1),
        `${fmt(perCommit(churnTwoCommits), 1)}; ${conflicts(churnTwoCommits)} version conflicts`,
        churnTwoRss.map((m) => fmt(m)).join(', '),
      ],
    ];
    const table = [
      `TicketBoss bench: ${results.date}; node ${process.version}; PostgreSQL ${results.postgres}; ${machine}`,
      '',
      `| ${rows[0]!.join(' | ')} |`,
      `| ${rows[0]!.map(() => '---').join(' | ')} |`,
      ...rows.slice(1).map((row) => `| ${row.join(' | ')} |`),
      '',
      `churn ÷ ceiling, median of ${rounds} rounds: ${fmt(ratio, 2)} (1 process; rounds ${ratios.map((r) => fmt(r, 2)).join(', ')}), ` +
        `${fmt(ratioTwo, 2)} (2 processes; rounds ${ratiosTwo.map((r) => fmt(r, 2)).join(', ')}); target >= 3`,
      `with Idempotency-Key ÷ without, median of ${rounds} rounds: ${fmt(keyedRatio, 2)} ` +
        `(rounds ${keyedRatios.map((r) => fmt(r, 2)).join(', ')})`,
    ].join('\n');
    process.stdout.write(`${table}\n`);
    process.stdout.write(`\n/metrics of the churn process (row 2) after its rounds:\n${churnMetrics.join('\n')}\n`);
    await mkdir(join(root, 'bench/results'), { recursive: true });
    await writeFile(join(root, 'bench/results/latest.json'), `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`\nwritten: bench/results/latest.json\n`);
  } finally {
    for (const name of created) await adminQuery(admin.url, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.stop();
    await rm(workDir, { recursive: true, force: true });
  }
}

await main();

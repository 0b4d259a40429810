/**
 * TicketBoss API processes as `pnpm start` runs them (each its own child process, logging to a file), with the
 * partners the load speaks for, and what they say about their commits: /metrics while they run, the "stopped"
 * log line on their way out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../../', import.meta.url));
const mainPath = join(root, 'packages/http-api/src/server/main.ts');
const ADMIN_TOKEN = randomBytes(24).toString('base64url');
const PARTNERS = 50;

/**
 * What processes counted of their commits: from a process's "stopped" log line (totals since it started;
 * rebalances read as 0 where not logged), or from /metrics summed over a set's processes (subtract two readings
 * for what happened between them).
 */
export interface CommitCounts {
  readonly commits: number;
  readonly changesCommitted: number;
  readonly versionConflicts: number;
  readonly rebalances: number;
  /** CPU time the processes spent (user + system, `process_cpu_seconds_total`); NaN from a "stopped" line. */
  readonly cpuSeconds: number;
}

export interface Api {
  readonly urls: string[];
  /** TICKETBOSS_ADMIN_TOKEN of the processes. */
  readonly adminToken: string;
  /** API keys of the partners the load speaks for. */
  readonly tokens: string[];
  /** Peak resident memory of each API process, in MB (VmHWM). */
  peakRssMb(): Promise<number[]>;
  /** /metrics of every process, summed. */
  counts(): Promise<CommitCounts>;
  /** Webhook deliveries queued and not yet done (`ticketboss_webhook_queue_depth`, read from the database). */
  queueDepth(): Promise<number>;
  /** Stops the processes (once, however often called); returns the counts each logged on its way out. */
  stop(): Promise<CommitCounts[]>;
}

export const countsBetween = (before: CommitCounts, after: CommitCounts): CommitCounts => ({
  commits: after.commits - before.commits,
  changesCommitted: after.changesCommitted - before.changesCommitted,
  versionConflicts: after.versionConflicts - before.versionConflicts,
  rebalances: after.rebalances - before.rebalances,
  cpuSeconds: after.cpuSeconds - before.cpuSeconds,
});

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

async function metricsText(url: string): Promise<string> {
  const response = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  return response.text();
}

/** The lines of the API's /metrics that the churn moves: outcomes, commits and batch sizes, conflicts, pools. */
export async function scrapeMetrics(url: string): Promise<string[]> {
  const wanted =
    /^ticketboss_(reservations_total|cancellations_total|commit_batch_size_(sum|count)|version_conflicts_total|seat_pool_rebalances_total|db_pool_connections)\b/;
  return (await metricsText(url)).split('\n').filter((line) => wanted.test(line));
}

/** The sum of a metric's samples over all its labels; 0 when the process does not expose it. */
function sample(text: string, name: string): number {
  const pattern = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`);
  return text
    .split('\n')
    .map((line) => pattern.exec(line)?.[1])
    .filter((value): value is string => value !== undefined)
    .reduce((sum, value) => sum + Number(value), 0);
}

function countsOf(text: string): CommitCounts {
  return {
    commits: sample(text, 'ticketboss_commit_batch_size_count'),
    changesCommitted: sample(text, 'ticketboss_commit_batch_size_sum'),
    versionConflicts: sample(text, 'ticketboss_version_conflicts_total'),
    rebalances: sample(text, 'ticketboss_seat_pool_rebalances_total'),
    cpuSeconds: sample(text, 'process_cpu_seconds_total'),
  };
}

async function stoppedLine(log: string): Promise<CommitCounts> {
  const stopped = (await readFile(log, 'utf8'))
    .split('\n')
    .filter((line) => line.includes('"msg":"stopped"'))
    .map((line) => JSON.parse(line) as { commits?: Partial<CommitCounts> })
    .at(-1)?.commits;
  return {
    commits: stopped?.commits ?? Number.NaN,
    changesCommitted: stopped?.changesCommitted ?? Number.NaN,
    versionConflicts: stopped?.versionConflicts ?? Number.NaN,
    rebalances: stopped === undefined ? Number.NaN : (stopped.rebalances ?? 0),
    cpuSeconds: Number.NaN,
  };
}

/**
 * Starts `processes` API processes on one database and waits until each answers /health; `env` adds to (or
 * overrides) their environment.
 */
export async function startApi(
  databaseUrl: string,
  processes: number,
  logDir: string,
  env: Readonly<Record<string, string>> = {},
): Promise<Api> {
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
        ...env,
      },
      stdio: ['ignore', out, out],
    });
    children.push({ child, log });
    urls.push(`http://127.0.0.1:${port}`);
  }
  let stopping: Promise<CommitCounts[]> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await Promise.all(
        children.map(
          ({ child }) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGTERM');
            }),
        ),
      );
      return Promise.all(children.map(({ log }) => stoppedLine(log)));
    })();
    return stopping;
  };
  let tokens: string[];
  try {
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
    tokens = await partnerTokens(urls[0]!);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    urls,
    adminToken: ADMIN_TOKEN,
    tokens,
    async peakRssMb() {
      return Promise.all(
        children.map(async ({ child }) => {
          const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
          return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) / 1024;
        }),
      );
    },
    async counts() {
      const each = await Promise.all(urls.map(async (url) => countsOf(await metricsText(url))));
      return each.reduce((sum, c) => ({
        commits: sum.commits + c.commits,
        changesCommitted: sum.changesCommitted + c.changesCommitted,
        versionConflicts: sum.versionConflicts + c.versionConflicts,
        rebalances: sum.rebalances + c.rebalances,
        cpuSeconds: sum.cpuSeconds + c.cpuSeconds,
      }));
    },
    async queueDepth() {
      return sample(await metricsText(urls[0]!), 'ticketboss_webhook_queue_depth');
    },
    stop,
  };
}

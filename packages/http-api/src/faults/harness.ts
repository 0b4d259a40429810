/**
 * The fault suite's harness: a PostgreSQL the scenario owns (so it may stop it and kill its connections), the API
 * as real child processes on it, and the clean-up that runs whatever happened. The load is in load.ts, the
 * ledger check in ledger.ts.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createDatabase,
  migrate,
  readMigrations,
  startEmbeddedPostgres,
  type DatabaseHandle,
  type EmbeddedPostgres,
} from '@ticketboss/adapters-postgres';
import pg from 'pg';
import { apiProcessEnv, createEvent, createPartner, stopAll } from '../testing/api-client.js';
import { listening, startMain, type Server } from '../testing/main-process.js';

export const ADMIN_TOKEN = 'faults-admin-token-0123456789abcdef';

/** The harness's own connections say so, and the terminations of scenario 1 spare them. */
export const HARNESS_APPLICATION_NAME = 'ticketboss-faults-harness';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface OwnedPostgres {
  /** For the API processes: the same URL (port included) across stop() and start(). */
  readonly url: string;
  /** For the checks: a pool of its own, named HARNESS_APPLICATION_NAME. */
  readonly db: DatabaseHandle;
  /** Fast shutdown: every connection is cut; resolves when the server has exited. */
  stop(): Promise<void>;
  /** Starts the server again on the same data and port; resolves when it accepts connections. */
  start(): Promise<void>;
  /** A client of its own (named HARNESS_APPLICATION_NAME), for a lock or a termination; the caller ends it. */
  connect(): Promise<pg.Client>;
  /** Stops the server and removes its data. */
  close(): Promise<void>;
}

const withApplicationName = (url: string) => {
  const parsed = new URL(url);
  parsed.searchParams.set('application_name', HARNESS_APPLICATION_NAME);
  return parsed.toString();
};

/**
 * An embedded PostgreSQL in a temporary folder, without fsync (throw-away data), migrated. The port is picked on
 * the first start and kept on restarts, so the API processes' DATABASE_URL stays valid across an outage.
 */
export async function startOwnedPostgres(): Promise<OwnedPostgres> {
  const dataDir = await mkdtemp(join(tmpdir(), 'ticketboss-faults-pg-'));
  let server: EmbeddedPostgres | undefined;
  try {
    server = await startEmbeddedPostgres({ dataDir, durable: false });
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const { port, connectionString } = server;
  const harnessUrl = withApplicationName(connectionString);
  const db = createDatabase({ connectionString: harnessUrl, poolSize: 2 });
  await migrate(db, await readMigrations());
  return {
    url: connectionString,
    db,
    async stop() {
      await server?.stop();
      server = undefined;
    },
    async start() {
      if (server) throw new Error('PostgreSQL is already running');
      server = await startEmbeddedPostgres({ dataDir, port, durable: false });
    },
    async connect() {
      const client = new pg.Client({ connectionString: harnessUrl });
      client.on('error', () => undefined);
      await client.connect();
      return client;
    },
    async close() {
      try {
        await db.destroy().catch(() => undefined);
        await server?.stop();
        server = undefined;
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    },
  };
}

/** An API process (main.ts) that is serving. */
export interface ApiProcess {
  readonly server: Server;
  readonly url: string;
  readonly pid: number;
  /** True once the process has exited, for whatever reason. */
  readonly exited: () => boolean;
}

/** Every API process this test file started, so that clean-up stops them all, and a dying test runner too. */
const started: Server[] = [];
/**
 * Set by clean-up: a scenario that timed out goes on running beside it, and must not leave a process it starts
 * afterwards behind.
 */
let closed = false;
process.once('exit', () => {
  for (const server of started) if (server.child.exitCode === null) server.child.kill('SIGKILL');
});

/**
 * Starts main.ts on the owned database with the production defaults (API keys, migrations on start) but no rate
 * limit; `env` adds to or overrides that.
 */
export async function startApi(postgres: OwnedPostgres, env: Record<string, string> = {}): Promise<ApiProcess> {
  if (closed) throw new Error('the scenario was cleaned up: no new API process');
  const server = startMain({ ...apiProcessEnv(postgres.url, ADMIN_TOKEN), ...env }, {});
  started.push(server);
  let gone = false;
  void server.exited.then(() => (gone = true));
  // A start takes about 3 s on an idle 2-core machine, and many times that beside the load of a scenario.
  const url = await listening(server, 120_000);
  return { server, url, pid: server.child.pid!, exited: () => gone };
}

/** Stops every API process of this file: SIGTERM, then SIGKILL. */
export async function stopApis(): Promise<void> {
  closed = true;
  await stopAll(started.splice(0));
}

/** The process's resident memory (VmRSS of /proc/<pid>/status), in bytes. */
export function residentBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

export interface HeapReading {
  /** nodejs_heap_size_used_bytes. */
  readonly heapUsed: number;
  /** How many full (mark-compact) garbage collections the process has done: nodejs_gc_duration_seconds, major. */
  readonly majorGcs: number;
}

/** The V8 heap of an API process, from its /metrics (prom-client's default metrics). */
export async function readHeap(api: ApiProcess): Promise<HeapReading> {
  const response = await fetch(`${api.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const text = await response.text();
  const heapUsed = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
  if (!heapUsed) throw new Error(`no nodejs_heap_size_used_bytes in /metrics (${response.status})`);
  // The line appears with the first full collection.
  const majorGcs = /^nodejs_gc_duration_seconds_count\{kind="major"\} (\S+)$/m.exec(text);
  return { heapUsed: Number(heapUsed[1]), majorGcs: majorGcs ? Number(majorGcs[1]) : 0 };
}

export interface Partner {
  readonly partnerId: string;
  readonly token: string;
}

/** Partners and events for a scenario, created through the admin routes of a running API. */
export async function seed(
  api: ApiProcess,
  partnerIds: readonly string[],
  events: readonly { eventId: string; totalSeats: number }[],
): Promise<Partner[]> {
  const partners: Partner[] = [];
  for (const partnerId of partnerIds) {
    partners.push({ partnerId, token: await createPartner(api.url, ADMIN_TOKEN, partnerId) });
  }
  for (const { eventId, totalSeats } of events) await createEvent(api.url, ADMIN_TOKEN, eventId, totalSeats);
  return partners;
}

/** A count with thousands separators, as the report writes it. */
export const figure = (n: number) => n.toLocaleString('en-US');

/** What a scenario holds; cleanUp releases it whatever happened (afterAll). */
export interface Resources {
  postgres?: OwnedPostgres;
  load?: { abort(): Promise<void> };
}

/** The clients stop at once, then every API process of the file, then the database. */
export async function cleanUp(resources: Resources): Promise<void> {
  try {
    await resources.load?.abort();
  } finally {
    try {
      await stopApis();
    } finally {
      await resources.postgres?.close();
    }
  }
}

/** For Load.progress: why waiting is pointless when no API process runs any more. */
export const allExited = (apis: () => readonly ApiProcess[]) => () =>
  apis().every((api) => api.exited()) ? 'every API process exited' : undefined;

/**
 * The processes that exited (an exit code, a signal, or their exit seen), each with the end of its output (a
 * crash's stack): expect it empty.
 */
export const exitedProcesses = (apis: readonly ApiProcess[]) =>
  apis
    .filter((api) => api.exited() || api.server.child.exitCode !== null || api.server.child.signalCode !== null)
    .map((api) => ({
      pid: api.pid,
      exitCode: api.server.child.exitCode,
      signalCode: api.server.child.signalCode,
      outputTail: api.server.output().slice(-3000),
    }));

/**
 * Runs the fault phase and returns what it threw instead of throwing: the scenario first checks what explains
 * a failure (a process that exited), then rethrows.
 */
export async function faultPhase(phase: () => Promise<void>): Promise<Error | undefined> {
  try {
    await phase();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error : new Error(`the fault phase failed: ${String(error)}`);
  }
}

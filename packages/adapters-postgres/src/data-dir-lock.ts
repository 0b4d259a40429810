import { readFileSync } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Data folders this process holds, so that a second start in the same process is refused too. */
const claimedHere = new Set<string>();

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as { code?: string }).code === 'EPERM';
  }
}

/** The process's command line where the OS tells (Linux /proc); undefined where it does not. */
export function commandLineOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return undefined;
  }
}

function isOwnerAlive(pid: number, dataDir: string): boolean {
  if (pid === process.pid) return claimedHere.has(dataDir);
  if (!isAlive(pid)) return false;
  const command = commandLineOf(pid);
  // A pid that now belongs to something other than Node was reused after the owner died.
  return command === undefined || /node/.test(command);
}

/**
 * Takes the data folder for this process, or throws when another live process (a TicketBoss, or `pnpm migrate`)
 * holds it: two servers on one cluster would stop each other's database. An owner that died is taken over.
 * Returns the release function.
 */
export async function claimDataDir(dataDir: string): Promise<() => Promise<void>> {
  const ownerFile = join(dataDir, 'owner.pid');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(ownerFile, 'wx');
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      claimedHere.add(dataDir);
      return async () => {
        claimedHere.delete(dataDir);
        await unlink(ownerFile).catch(() => undefined);
      };
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
      const owner = Number((await readFile(ownerFile, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && isOwnerAlive(owner, dataDir)) {
        throw new Error(
          `${dataDir} is in use by process ${owner}; stop it first, or give this one its own TICKETBOSS_DATA_DIR (or a DATABASE_URL)`,
        );
      }
      await unlink(ownerFile).catch(() => undefined);
    }
  }
  throw new Error(`could not take ${dataDir}: another process keeps claiming it`);
}

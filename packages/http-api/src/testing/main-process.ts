import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const repositoryRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const mainPath = fileURLToPath(new URL('../server/main.ts', import.meta.url));
const workerPath = fileURLToPath(new URL('../server/worker-main.ts', import.meta.url));

export interface Server {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
}

/**
 * The classic routes open and no rate limit: what the process tests about start-up, shutdown and load need. Tests
 * of the defaults (API keys, 50 requests/s) pass `{}` as `base`.
 */
export const SEED_TRIAL_ENV = { TICKETBOSS_AUTH: 'none', TICKETBOSS_RATE_LIMIT_PER_SECOND: '0' };

/**
 * Runs main.ts as `pnpm start` does, with only the given environment on top of PATH; `nodeArgs` go to node before
 * main.ts (after tsx, so that they may name TypeScript modules, e.g. `--import` of skew-clock.ts).
 */
export function startMain(
  env: Record<string, string>,
  base: Record<string, string> = SEED_TRIAL_ENV,
  { nodeArgs = [] }: { nodeArgs?: readonly string[] } = {},
): Server {
  return spawnScript(mainPath, env, base, nodeArgs);
}

/** Runs worker-main.ts as `pnpm worker` does: the job queue's worker alone, no HTTP. */
export function startWorkerMain(env: Record<string, string>): Server {
  return spawnScript(workerPath, env, {}, []);
}

function spawnScript(
  path: string,
  env: Record<string, string>,
  base: Record<string, string>,
  nodeArgs: readonly string[],
): Server {
  const args = ['--conditions=@ticketboss/source', '--import', 'tsx', ...nodeArgs, path];
  const child = spawn(process.execPath, args, {
    cwd: repositoryRoot,
    env: { PATH: process.env.PATH ?? '', PORT: '0', LOG_LEVEL: 'info', ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Waits for the server's address; `timeoutMs` is long enough for a loaded machine's start-up. */
export async function listening(server: Server, timeoutMs = 120_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = /Server listening at (http:\/\/[\d.]+:\d+)/.exec(server.output());
    if (match) return match[1]!;
    if (server.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`server did not start:\n${server.output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the output matches, for lines printed after the server started listening. */
export async function waitForOutput(server: Server, pattern: RegExp): Promise<RegExpExecArray> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const match = pattern.exec(server.output());
    if (match) return match;
    if (server.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`no ${String(pattern)} in the output:\n${server.output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

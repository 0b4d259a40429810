import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { repositoryRoot } from './main-process.js';

const cliPath = fileURLToPath(new URL('../cli/cli.ts', import.meta.url));

export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs cli.ts as `pnpm ticketboss` does, with only the given environment on top of PATH. */
export function ticketboss(env: Record<string, string>, ...args: string[]): Promise<Run> {
  const child = spawn(process.execPath, ['--conditions=@ticketboss/source', '--import', 'tsx', cliPath, ...args], {
    cwd: repositoryRoot,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

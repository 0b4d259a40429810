/** How a command answers: as text for people or one JSON document for scripts, with an exit status. */
import type { StoredApiKey } from '@ticketboss/domain';
import { visiblePrefix } from '../server/api-keys.js';
import { EXIT } from './command-line.js';

/** A failure with a stable code for --json, reported as one line (the expected failures: no stack trace). */
export class Failure extends Error {
  override readonly name = 'Failure';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** What a command answers: the same answer as text for people and as JSON for scripts, and its exit status. */
export interface Answer {
  readonly status: typeof EXIT.ok | typeof EXIT.breaches;
  readonly text: string;
  readonly json: unknown;
}

export const done = (text: string, json: unknown): Answer => ({ status: EXIT.ok, text, json });

/** Columns padded to their widest cell (the last one, free text, is not). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((_, column) => Math.max(...[header, ...rows].map((row) => row[column]!.length)));
  const line = (row: readonly string[]) =>
    row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ');
  return [header, ...rows].map(line).join('\n') + '\n';
}

export function tokenText(key: StoredApiKey, token: string): string {
  return [
    `API key ${key.keyId} (its tokens start ${visiblePrefix(key.keyId)})`,
    `token: ${token}`,
    '',
    'This token is shown once, now: only its hash is kept. Hand it to the partner; it cannot be shown again.',
    '',
  ].join('\n');
}

export function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  return new Promise((resolve) => stream.write(text, () => resolve()));
}

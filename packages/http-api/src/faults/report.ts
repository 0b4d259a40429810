import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inject } from 'vitest';

/** One row of docs/reliability.md: what a scenario did to the system and what it found. */
export interface ScenarioReport {
  /** Position in the report (the numbering, 1..7). */
  readonly id: number;
  readonly name: string;
  /** The load, e.g. "12 clients, 31,204 requests in 41 s". */
  readonly load: string;
  /** The faults injected, e.g. "10 x pg_terminate_backend of every API backend". */
  readonly faults: string;
  /** What was checked at the end, e.g. "invariant; ledger of every answer; process exits". */
  readonly checked: string;
  /** The figures, e.g. "0 exits, 0 lost, 0 doubled, 0 5xx". */
  readonly figures: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    faultsResultsDir: string;
  }
}

/** Records a scenario's row; call it once the scenario's assertions have passed. */
export async function recordScenario(report: ScenarioReport): Promise<void> {
  const dir = inject('faultsResultsDir');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${String(report.id).padStart(2, '0')}.json`), JSON.stringify(report));
}

export async function readScenarios(dir: string): Promise<ScenarioReport[]> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(files.map(async (f) => JSON.parse(await readFile(join(dir, f), 'utf8')) as ScenarioReport));
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderReport(scenarios: readonly ScenarioReport[], context: { machine: string; date: string }): string {
  const rows = scenarios.map(
    (s) =>
      `| ${s.id}. ${cell(s.name)} | ${cell(s.load)} | ${cell(s.faults)} | ${cell(s.checked)} | ${cell(s.figures)} |`,
  );
  return [
    '# Reliability: the fault suite',
    '',
    'This file is written by `pnpm test:faults` (`packages/http-api/src/faults/`); do not edit it by hand. Each',
    'scenario runs the API as real child processes against a PostgreSQL of its own (embedded, on a port of its',
    'own, so the scenario may stop it), under real HTTP load, and ends with the invariant query and a ledger of',
    'every answer the clients saw checked against the database.',
    '',
    `Last written by a run that passed every scenario, on ${context.machine}, ${context.date}.`,
    '',
    '| Scenario | Load | Faults injected | Checked | Figures |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { readScenarios, renderReport } from './report.js';

/** Every scenario the report must have; a run that filters or fails some leaves docs/reliability.md alone. */
export const SCENARIO_COUNT = 7;

const reportPath = fileURLToPath(new URL('../../../../docs/reliability.md', import.meta.url));

/** Vitest global setup of the fault suite: a results folder for the run, and the report written at the end. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'ticketboss-faults-'));
  project.provide('faultsResultsDir', dir);
  return async () => {
    try {
      const scenarios = await readScenarios(dir);
      if (scenarios.length === SCENARIO_COUNT) {
        const machine = `${cpus().length} x ${cpus()[0]?.model.trim() ?? 'CPU'}, Node ${process.version}`;
        const date = new Date().toISOString().slice(0, 10);
        await writeFile(reportPath, renderReport(scenarios, { machine, date }));
        console.warn(`[faults] wrote ${reportPath}`);
      } else {
        console.warn(`[faults] ${scenarios.length} of ${SCENARIO_COUNT} scenarios recorded: report not written`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
}

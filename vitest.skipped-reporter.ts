import { relative } from 'node:path';
import type { Reporter, TestModule, Vitest } from 'vitest/node';

declare module 'vitest' {
  interface TaskMeta {
    /**
     * Why a test is skipped, set where the test decides to skip (`describe.skipIf(...)(name, { meta }, ...)`):
     * `needs` names what is missing ("Redis"), `reason` says what was looked for and how to require it.
     */
    skipped?: { needs: string; reason: string };
  }
}

/**
 * Ends `pnpm test` with one line naming the tests it did not run and why, so a green run without Redis or
 * Chromium says so. With TEST_REQUIRE_ALL=1 (CI) a skipped test fails the run.
 *
 * Registered in vitest.config.ts next to the default reporter; a command line that names reporters replaces the
 * config's, so .ci/run names this one too.
 */
export default class SkippedTestsReporter implements Reporter {
  private vitest: Vitest | undefined;

  onInit(vitest: Vitest): void {
    this.vitest = vitest;
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const line = summarizeSkips(testModules, this.vitest?.config.root ?? process.cwd());
    const log = (text: string) => (this.vitest ? this.vitest.logger.log(text) : console.log(text));
    log(line === undefined ? 'skipped: none' : `skipped: ${line}`);
    if (line !== undefined && process.env.TEST_REQUIRE_ALL === '1') {
      log('TEST_REQUIRE_ALL=1: every test must run, so these skips fail the run');
      process.exitCode = 1;
    }
  }
}

/** "9 Redis tests (no Redis at ...), 1 test (no reason given: a.test.ts)", or undefined when nothing skipped. */
export function summarizeSkips(testModules: ReadonlyArray<TestModule>, root: string): string | undefined {
  const groups = new Map<string, { needs: string; reason: string; count: number; files: Set<string> }>();
  for (const testModule of testModules) {
    for (const test of testModule.children.allTests()) {
      if (test.result().state !== 'skipped') continue;
      const { needs, reason } = test.meta().skipped ?? { needs: '', reason: '' };
      const key = `${needs}\u0000${reason}`;
      const group = groups.get(key) ?? { needs, reason, count: 0, files: new Set<string>() };
      group.count += 1;
      group.files.add(relative(root, testModule.moduleId));
      groups.set(key, group);
    }
  }
  if (groups.size === 0) return undefined;
  return [...groups.values()]
    .map(({ needs, reason, count, files }) => {
      const tests = `${count} ${needs ? `${needs} ` : ''}test${count === 1 ? '' : 's'}`;
      const why = reason || `no reason given: ${[...files].join(', ')}`;
      return `${tests} (${why})`;
    })
    .join(', ');
}

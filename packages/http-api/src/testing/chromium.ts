import { existsSync } from 'node:fs';

/** Debian's chromium package (.ci/install-chromium); CI sets TEST_REQUIRE_BROWSER=1 so that a missing one fails. */
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * Whether a browser test file runs: it skips (saying so, and why, for the skipped-tests line) when Chromium is
 * missing, unless TEST_REQUIRE_BROWSER=1, when its tests run and fail with `missing()`.
 */
export function browserTests(file: string) {
  const installed = existsSync(CHROMIUM);
  const required = process.env.TEST_REQUIRE_BROWSER === '1';
  if (!installed && !required) {
    console.warn(
      `${file}: SKIPPED, ${CHROMIUM} is missing. Install it with .ci/install-chromium; ` +
        'TEST_REQUIRE_BROWSER=1 makes this a failure.',
    );
  }
  return {
    installed,
    skip: !installed && !required,
    skipped: {
      needs: 'browser',
      reason: `no Chromium at ${CHROMIUM}; install it with .ci/install-chromium, set TEST_REQUIRE_BROWSER=1 to require it`,
    },
    missing: () => new Error(`${CHROMIUM} is missing and TEST_REQUIRE_BROWSER=1: install it with .ci/install-chromium`),
  };
}

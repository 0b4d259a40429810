import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_POLICY } from '@ticketboss/domain';
import { ConfigError, loadConfig, retryPolicyOf, SETTINGS } from './config.js';
import { repositoryRoot } from '../testing/main-process.js';

describe('loadConfig', () => {
  it('defaults to API keys on the classic routes, 50 requests/s with bursts of 100, no admin token, no Redis', () => {
    expect(loadConfig({})).toMatchObject({
      auth: 'api-key',
      adminToken: undefined,
      rateLimitPerSecond: 50,
      rateLimitBurst: 100,
      redisUrl: undefined,
    });
  });

  it('reads the partner platform settings', () => {
    expect(
      loadConfig({
        TICKETBOSS_AUTH: 'none',
        TICKETBOSS_ADMIN_TOKEN: 'a'.repeat(24),
        TICKETBOSS_RATE_LIMIT_PER_SECOND: '0',
        TICKETBOSS_RATE_LIMIT_BURST: '5',
        REDIS_URL: 'redis://127.0.0.1:6379/2',
      }),
    ).toMatchObject({
      auth: 'none',
      adminToken: 'a'.repeat(24),
      rateLimitPerSecond: 0,
      rateLimitBurst: 5,
      redisUrl: 'redis://127.0.0.1:6379/2',
    });
  });

  it('defaults webhooks to a worker in every process, public addresses only, 10 s, retries for 24 h from 5 s', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      webhookWorker: 'on',
      webhookAllowPrivate: false,
      webhookTimeoutMs: 10_000,
      webhookLockTimeoutMs: 60_000,
      webhookConcurrency: 8,
    });
    expect(retryPolicyOf(config)).toEqual(DEFAULT_RETRY_POLICY);
  });

  it('reads the webhook settings', () => {
    const config = loadConfig({
      TICKETBOSS_WEBHOOK_WORKER: 'off',
      TICKETBOSS_WEBHOOK_ALLOW_PRIVATE: 'true',
      TICKETBOSS_WEBHOOK_TIMEOUT_MS: '2000',
      TICKETBOSS_WEBHOOK_RETRY_BASE_MS: '50',
      TICKETBOSS_WEBHOOK_RETRY_MAX_MS: '400',
      TICKETBOSS_WEBHOOK_RETRY_FOR_MS: '60000',
      TICKETBOSS_WEBHOOK_DISABLE_AFTER_MS: '120000',
      TICKETBOSS_WEBHOOK_LOCK_TIMEOUT_MS: '3000',
      TICKETBOSS_WEBHOOK_CONCURRENCY: '16',
    });
    expect(config).toMatchObject({
      webhookWorker: 'off',
      webhookAllowPrivate: true,
      webhookTimeoutMs: 2000,
      webhookLockTimeoutMs: 3000,
      webhookConcurrency: 16,
    });
    expect(retryPolicyOf(config)).toEqual({
      baseDelayMs: 50,
      maxDelayMs: 400,
      retryForMs: 60_000,
      disableAfterMs: 120_000,
    });
  });

  it('refuses a lock timeout no longer than the webhook timeout, and a retry cap below the base', () => {
    expect(() => loadConfig({ TICKETBOSS_WEBHOOK_LOCK_TIMEOUT_MS: '10000' })).toThrow(
      /^TICKETBOSS_WEBHOOK_LOCK_TIMEOUT_MS must be more than TICKETBOSS_WEBHOOK_TIMEOUT_MS \(10000\)/,
    );
    expect(() =>
      loadConfig({ TICKETBOSS_WEBHOOK_RETRY_BASE_MS: '5000', TICKETBOSS_WEBHOOK_RETRY_MAX_MS: '10' }),
    ).toThrow(/^TICKETBOSS_WEBHOOK_RETRY_MAX_MS must be at least TICKETBOSS_WEBHOOK_RETRY_BASE_MS/);
  });

  it('reads TICKETBOSS_TRUST_PROXY: false by default, true, or a list of addresses and CIDRs', () => {
    const trustProxy = (value?: string) => loadConfig({ TICKETBOSS_TRUST_PROXY: value }).trustProxy;
    expect(trustProxy()).toBe(false);
    expect(trustProxy('')).toBe(false);
    expect(trustProxy('false')).toBe(false);
    expect(trustProxy('true')).toBe(true);
    expect(trustProxy('10.0.0.0/8')).toEqual(['10.0.0.0/8']);
    expect(trustProxy(' 10.0.0.0/8, 192.168.1.5,fd00::/8 , loopback')).toEqual([
      '10.0.0.0/8',
      '192.168.1.5',
      'fd00::/8',
      'loopback',
    ]);
  });

  it('reads the webhook settings: private addresses refused, the worker on, 10 s timeout by default', () => {
    expect(loadConfig({})).toMatchObject({
      webhookAllowPrivate: false,
      webhookWorker: 'on',
      webhookTimeoutMs: 10_000,
      webhookRetryForMs: 86_400_000,
      webhookDisableAfterMs: 432_000_000,
    });
    expect(loadConfig({ TICKETBOSS_WEBHOOK_ALLOW_PRIVATE: 'true' }).webhookAllowPrivate).toBe(true);
    expect(loadConfig({ TICKETBOSS_WEBHOOK_ALLOW_PRIVATE: 'false' }).webhookAllowPrivate).toBe(false);
  });

  it('refuses a hop count for TICKETBOSS_TRUST_PROXY, saying to name the balancers instead', () => {
    expect(() => loadConfig({ TICKETBOSS_TRUST_PROXY: '1' })).toThrow(
      'TICKETBOSS_TRUST_PROXY must be true, false, or a comma-separated list of addresses or CIDRs, got the hop ' +
        'count "1": name the load balancers\' addresses instead',
    );
  });

  it.each([
    ['TICKETBOSS_TRUST_PROXY', 'yes'],
    ['TICKETBOSS_TRUST_PROXY', '2'],
    ['TICKETBOSS_TRUST_PROXY', '10.0.0.0/33'],
    ['TICKETBOSS_TRUST_PROXY', '10.0.0.1,'],
    ['TICKETBOSS_TRUST_PROXY', '300.1.2.3'],
    ['TICKETBOSS_AUTH', 'basic'],
    ['TICKETBOSS_WEBHOOK_ALLOW_PRIVATE', 'yes'],
    ['TICKETBOSS_WEBHOOK_WORKER', 'true'],
    ['TICKETBOSS_WEBHOOK_CONCURRENCY', '0'],
    ['TICKETBOSS_ADMIN_TOKEN', 'short'],
    ['TICKETBOSS_ADMIN_TOKEN', `${'a'.repeat(20)} ${'b'.repeat(20)}`],
    ['TICKETBOSS_RATE_LIMIT_PER_SECOND', '-1'],
    ['TICKETBOSS_RATE_LIMIT_PER_SECOND', '2.5'],
    ['TICKETBOSS_RATE_LIMIT_BURST', '0'],
    ['REDIS_URL', 'http://127.0.0.1:6379'],
    ['REDIS_URL', 'not a url'],
    ['TICKETBOSS_WEBHOOK_WORKER', 'yes'],
    ['TICKETBOSS_WEBHOOK_ALLOW_PRIVATE', '1'],
    ['TICKETBOSS_WEBHOOK_TIMEOUT_MS', '0'],
    ['TICKETBOSS_WEBHOOK_RETRY_BASE_MS', '0'],
    ['TICKETBOSS_WEBHOOK_LOCK_TIMEOUT_MS', '10'],
    ['TICKETBOSS_WEBHOOK_CONCURRENCY', '0'],
  ])('refuses %s=%j with one line naming it', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^${name} must`));
  });
});

describe('docs/operations.md', () => {
  it('lists every setting, and only those, each with its default', async () => {
    const operations = await readFile(join(repositoryRoot, 'docs', 'operations.md'), 'utf8');
    const start = operations.indexOf('\n## Configuration\n');
    expect(start).toBeGreaterThan(0);
    const section = operations.slice(start, operations.indexOf('\n## ', start + 5));
    const rows = [...section.matchAll(/^\| `([A-Z_]+)` +\| (.+?) +\|/gm)].map((m) => [m[1]!, m[2]!] as const);
    const expected = Object.values(SETTINGS).map(
      (s) =>
        [
          s.variable,
          s.defaultText === 'unset' || s.defaultText.includes('`') ? s.defaultText : `\`${s.defaultText}\``,
        ] as const,
    );
    const byName = (a: readonly [string, string], b: readonly [string, string]) => a[0].localeCompare(b[0]);
    expect([...rows].sort(byName).map(([name, fallback]) => [name, fallback.replace(/ \(.*\)$/, '')])).toEqual(
      [...expected].sort(byName),
    );
  });
});

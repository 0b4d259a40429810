import proxyAddr from '@fastify/proxy-addr';
import type { RetryPolicy } from '@ticketboss/domain';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Readonly<Record<string, string | undefined>>;

/** One environment variable: its name, its default as docs/operations.md shows it, how it is read and checked. */
export interface Setting<T> {
  readonly variable: string;
  readonly defaultText: string;
  read(env: Env): T;
}

/** The raw value, or undefined when unset or empty. */
const valueOf = (env: Env, name: string): string | undefined => (env[name] === '' ? undefined : env[name]);

function integer(variable: string, fallback: number, min: number, max: number): Setting<number> {
  return {
    variable,
    defaultText: String(fallback),
    read(env) {
      const raw = valueOf(env, variable);
      if (raw === undefined) return fallback;
      const value = Number(raw);
      if (!/^\d+$/.test(raw.trim()) || value < min || value > max) {
        throw new ConfigError(`${variable} must be a whole number from ${min} to ${max}, got "${raw}"`);
      }
      return value;
    },
  };
}

function oneOf<const T extends string>(variable: string, allowed: readonly T[], fallback: T): Setting<T> {
  return {
    variable,
    defaultText: fallback,
    read(env) {
      const raw = valueOf(env, variable);
      if (raw === undefined) return fallback;
      if (!allowed.includes(raw as T)) {
        throw new ConfigError(`${variable} must be one of ${allowed.join(', ')}, got "${raw}"`);
      }
      return raw as T;
    },
  };
}

function flag(variable: string, fallback: boolean): Setting<boolean> {
  return {
    variable,
    defaultText: String(fallback),
    read(env) {
      const raw = valueOf(env, variable);
      if (raw === undefined) return fallback;
      if (raw !== 'true' && raw !== 'false') throw new ConfigError(`${variable} must be true or false, got "${raw}"`);
      return raw === 'true';
    },
  };
}

function text(variable: string, fallback: string): Setting<string> {
  return { variable, defaultText: fallback, read: (env) => valueOf(env, variable) ?? fallback };
}

/** A URL of one of the given schemes; unset by default. */
function url(variable: string, schemes: readonly string[]): Setting<string | undefined> {
  const expected = schemes.map((scheme) => `${scheme}://`).join(' or ');
  return {
    variable,
    defaultText: 'unset',
    read(env) {
      const raw = valueOf(env, variable);
      if (raw === undefined) return undefined;
      let parsed: URL;
      try {
        parsed = new URL(raw);
      } catch {
        throw new ConfigError(`${variable} must be a ${expected} URL`);
      }
      if (!schemes.includes(parsed.protocol.slice(0, -1))) {
        throw new ConfigError(`${variable} must be a ${expected} URL, got one starting with "${parsed.protocol}"`);
      }
      return raw;
    },
  };
}

/**
 * Which peers may tell the client's address in X-Forwarded-For: Fastify's `trustProxy`. `false`: none, the socket's
 * address is the client's. `true`: every one, so the leftmost address of the header, which the client itself may
 * write. Otherwise the load balancers' addresses, CIDRs or proxy-addr's named ranges (`loopback`, `uniquelocal`,
 * ...), comma-separated; each is compiled here as Fastify compiles it, so a bad one stops start-up. Fastify 5.12
 * dropped the hop count (a client that reaches the API directly could forge the header), so a number is refused
 * rather than silently trusting nobody.
 */
const trustProxy: Setting<boolean | string[]> = {
  variable: 'TICKETBOSS_TRUST_PROXY',
  defaultText: 'false',
  read(env) {
    const raw = valueOf(env, this.variable)?.trim();
    if (raw === undefined || raw === 'false') return false;
    if (raw === 'true') return true;
    const expected = `${this.variable} must be true, false, or a comma-separated list of addresses or CIDRs`;
    if (/^\d+$/.test(raw)) {
      throw new ConfigError(`${expected}, got the hop count "${raw}": name the load balancers' addresses instead`);
    }
    const addresses = raw.split(',').map((address) => address.trim());
    for (const address of addresses) {
      try {
        proxyAddr.compile(address);
      } catch {
        throw new ConfigError(`${expected}, got "${address}" in "${raw}"`);
      }
    }
    return addresses;
  },
};

export const MIN_ADMIN_TOKEN_LENGTH = 24;

const adminToken: Setting<string | undefined> = {
  variable: 'TICKETBOSS_ADMIN_TOKEN',
  defaultText: 'unset',
  read(env) {
    const raw = valueOf(env, this.variable);
    if (raw === undefined) return undefined;
    if (raw.length < MIN_ADMIN_TOKEN_LENGTH || /\s/.test(raw)) {
      // The value is a secret: never repeated in the message.
      throw new ConfigError(
        `${this.variable} must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters without spaces (try: openssl rand -base64 32)`,
      );
    }
    return raw;
  },
};

const databaseUrl = url('DATABASE_URL', ['postgres', 'postgresql']);

/**
 * Every setting TicketBoss reads, in one place: the name of its variable, its default and its rule. loadConfig
 * reads exactly these, and a test checks that docs/operations.md lists each with the same default.
 */
export const SETTINGS = {
  databaseUrl,
  port: integer('PORT', 3000, 0, 65535),
  host: {
    variable: 'HOST',
    defaultText: '`127.0.0.1` embedded, `0.0.0.0` with `DATABASE_URL`',
    // Embedded mode is a laptop default: loopback only. With a real database we are likely in a container.
    read: (env: Env) => valueOf(env, 'HOST') ?? (databaseUrl.read(env) ? '0.0.0.0' : '127.0.0.1'),
  },
  logLevel: oneOf('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
  migrate: oneOf('TICKETBOSS_MIGRATE', ['on', 'off'], 'on'),
  dataDir: text('TICKETBOSS_DATA_DIR', '.ticketboss'),
  embeddedPostgresPort: integer('TICKETBOSS_EMBEDDED_PG_PORT', 0, 0, 65535),
  databasePoolSize: integer('DATABASE_POOL_SIZE', 10, 1, 1000),
  maxWaitMs: integer('TICKETBOSS_MAX_WAIT_MS', 2000, 1, 600_000),
  shutdownTimeoutMs: integer('TICKETBOSS_SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
  auth: oneOf('TICKETBOSS_AUTH', ['api-key', 'none'], 'api-key'),
  adminToken,
  trustProxy,
  rateLimitPerSecond: integer('TICKETBOSS_RATE_LIMIT_PER_SECOND', 50, 0, 1_000_000),
  rateLimitBurst: integer('TICKETBOSS_RATE_LIMIT_BURST', 100, 1, 1_000_000),
  redisUrl: url('REDIS_URL', ['redis', 'rediss']),
  redisTimeoutMs: integer('TICKETBOSS_REDIS_TIMEOUT_MS', 100, 1, 60_000),
  idempotencyRetentionSeconds: integer('TICKETBOSS_IDEMPOTENCY_RETENTION_SECONDS', 86_400, 3600, 30 * 86_400),
  sweepIntervalMs: integer('TICKETBOSS_SWEEP_INTERVAL_MS', 1000, 0, 3_600_000),
  seatPools: integer('TICKETBOSS_SEAT_POOLS', 8, 1, 64),
  webhookWorker: oneOf('TICKETBOSS_WEBHOOK_WORKER', ['on', 'off'], 'on'),
  webhookAllowPrivate: flag('TICKETBOSS_WEBHOOK_ALLOW_PRIVATE', false),
  webhookTimeoutMs: integer('TICKETBOSS_WEBHOOK_TIMEOUT_MS', 10_000, 100, 60_000),
  webhookRetryBaseMs: integer('TICKETBOSS_WEBHOOK_RETRY_BASE_MS', 5000, 1, 3_600_000),
  webhookRetryMaxMs: integer('TICKETBOSS_WEBHOOK_RETRY_MAX_MS', 3_600_000, 1, 86_400_000),
  webhookRetryForMs: integer('TICKETBOSS_WEBHOOK_RETRY_FOR_MS', 86_400_000, 0, 30 * 86_400_000),
  webhookDisableAfterMs: integer('TICKETBOSS_WEBHOOK_DISABLE_AFTER_MS', 432_000_000, 0, 90 * 86_400_000),
  webhookLockTimeoutMs: integer('TICKETBOSS_WEBHOOK_LOCK_TIMEOUT_MS', 60_000, 1000, 3_600_000),
  webhookConcurrency: integer('TICKETBOSS_WEBHOOK_CONCURRENCY', 8, 1, 100),
} as const satisfies Record<string, Setting<unknown>>;

/**
 * The validated configuration. `databaseUrl` unset: an embedded PostgreSQL under `dataDir`. `migrate` off: a DBA
 * applies migrations and start-up refuses to serve while any is pending. `maxWaitMs`: how long a change may wait
 * on a busy event before 503 CONTENDED. `auth` none: the classic routes' open POST and DELETE. `adminToken` unset:
 * admin routes answer 401 (embedded mode makes one). `rateLimitPerSecond` 0: no rate limit. `redisUrl` set: limits
 * shared through Redis. `trustProxy`: Fastify's option of that name, which decides `request.ip`. `webhookWorker` off:
 * this process posts no webhooks (another process, or `pnpm worker`, does).
 */
export type Config = { readonly [K in keyof typeof SETTINGS]: ReturnType<(typeof SETTINGS)[K]['read']> };

/** Reads and validates the configuration once; a bad value throws a ConfigError naming the variable. */
export function loadConfig(env: Env): Config {
  const entries = Object.entries(SETTINGS).map(([key, setting]) => [key, (setting as Setting<unknown>).read(env)]);
  const config = Object.fromEntries(entries) as Config;
  if (config.webhookRetryMaxMs < config.webhookRetryBaseMs) {
    throw new ConfigError(
      `TICKETBOSS_WEBHOOK_RETRY_MAX_MS must be at least TICKETBOSS_WEBHOOK_RETRY_BASE_MS (${config.webhookRetryBaseMs}), got "${config.webhookRetryMaxMs}"`,
    );
  }
  // A job still running (posting, at most the timeout) must not be taken for one whose process died.
  if (config.webhookLockTimeoutMs <= config.webhookTimeoutMs) {
    throw new ConfigError(
      `TICKETBOSS_WEBHOOK_LOCK_TIMEOUT_MS must be more than TICKETBOSS_WEBHOOK_TIMEOUT_MS (${config.webhookTimeoutMs}), got "${config.webhookLockTimeoutMs}"`,
    );
  }
  return config;
}

/** How deliveries are retried, from the TICKETBOSS_WEBHOOK_RETRY_* settings. */
export function retryPolicyOf(config: Config): RetryPolicy {
  return {
    baseDelayMs: config.webhookRetryBaseMs,
    maxDelayMs: config.webhookRetryMaxMs,
    retryForMs: config.webhookRetryForMs,
    disableAfterMs: config.webhookDisableAfterMs,
  };
}

/** For the server's entry: a bad value is one line on stderr naming the variable, and exit 1. */
export function loadConfigOrExit(env: Env): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`ticketboss: ${error.message}\n`);
    process.exit(1);
  }
}

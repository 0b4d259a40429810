export interface Config {
  readonly port: number;
  readonly host: string;
  /** Unset: an embedded PostgreSQL is started with its data under `dataDir`. */
  readonly databaseUrl: string | undefined;
  readonly databasePoolSize: number;
  readonly logLevel: string;
  /** off: a DBA applies migrations; start-up refuses to serve while any is pending. */
  readonly migrate: 'on' | 'off';
  readonly dataDir: string;
  readonly embeddedPostgresPort: number;
  /** How long a reservation or cancellation may wait on a busy event before answering 503 CONTENDED. */
  readonly maxWaitMs: number;
  readonly shutdownTimeoutMs: number;
  /** api-key: the seed's POST and DELETE need a partner's key. none: the seed's open behaviour. */
  readonly auth: 'api-key' | 'none';
  /** Unset: the admin routes answer 401 to everyone (embedded mode makes one up, see main.ts). */
  readonly adminToken: string | undefined;
  /** Requests per second per API key (or client address); 0 turns rate limiting off. */
  readonly rateLimitPerSecond: number;
  readonly rateLimitBurst: number;
  /** Set: rate limits are counted in Redis, shared by every API process. */
  readonly redisUrl: string | undefined;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Readonly<Record<string, string | undefined>>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!allowed.includes(raw as T)) throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  return raw as T;
}

/** A URL of one of the given schemes, e.g. `url(env, 'REDIS_URL', ['redis', 'rediss'])`. */
function url(env: Env, name: string, schemes: readonly string[]): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const expected = schemes.map((scheme) => `${scheme}://`).join(' or ');
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be a ${expected} URL`);
  }
  if (!schemes.includes(parsed.protocol.slice(0, -1))) {
    throw new ConfigError(`${name} must be a ${expected} URL, got one starting with "${parsed.protocol}"`);
  }
  return raw;
}

export const MIN_ADMIN_TOKEN_LENGTH = 24;

function adminToken(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (raw.length < MIN_ADMIN_TOKEN_LENGTH || /\s/.test(raw)) {
    throw new ConfigError(
      `${name} must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters without spaces (try: openssl rand -base64 32)`,
    );
  }
  return raw;
}

/** Reads and validates the configuration once; a bad value throws a ConfigError naming the variable. */
export function loadConfig(env: Env): Config {
  const databaseUrl = url(env, 'DATABASE_URL', ['postgres', 'postgresql']);
  return {
    port: integer(env, 'PORT', 3000, 0, 65535),
    // Embedded mode is a laptop default: loopback only. With a real database we are likely in a container.
    host: env.HOST || (databaseUrl ? '0.0.0.0' : '127.0.0.1'),
    databaseUrl,
    databasePoolSize: integer(env, 'DATABASE_POOL_SIZE', 10, 1, 1000),
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    migrate: oneOf(env, 'TICKETBOSS_MIGRATE', ['on', 'off'], 'on'),
    dataDir: env.TICKETBOSS_DATA_DIR || '.ticketboss',
    embeddedPostgresPort: integer(env, 'TICKETBOSS_EMBEDDED_PG_PORT', 0, 0, 65535),
    maxWaitMs: integer(env, 'TICKETBOSS_MAX_WAIT_MS', 2000, 1, 600_000),
    shutdownTimeoutMs: integer(env, 'TICKETBOSS_SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    auth: oneOf(env, 'TICKETBOSS_AUTH', ['api-key', 'none'], 'api-key'),
    adminToken: adminToken(env, 'TICKETBOSS_ADMIN_TOKEN'),
    rateLimitPerSecond: integer(env, 'TICKETBOSS_RATE_LIMIT_PER_SECOND', 50, 0, 1_000_000),
    rateLimitBurst: integer(env, 'TICKETBOSS_RATE_LIMIT_BURST', 100, 1, 1_000_000),
    redisUrl: url(env, 'REDIS_URL', ['redis', 'rediss']),
  };
}

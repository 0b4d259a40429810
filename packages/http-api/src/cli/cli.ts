/**
 * `pnpm ticketboss <command>`: the operator's command line. It works on the database directly, through the same
 * use cases as the HTTP API, so a partner or event made here is exactly what the admin routes would have made.
 */
import { parseArgs } from 'node:util';
import {
  connectToRunningEmbeddedPostgres,
  createDatabase,
  findInvariantBreaches,
  findPendingMigrations,
  readMigrations,
  type InvariantBreach,
} from '@ticketboss/adapters-postgres';
import {
  DEFAULT_MAX_SEATS_PER_RESERVATION,
  MAX_EVENT_NAME_LENGTH,
  MAX_PARTNER_NAME_LENGTH,
  MAX_SEATS_PER_RESERVATION_LIMIT,
  MAX_TOTAL_SEATS,
  StoreUnavailable,
  type EventField,
  type EventService,
  type EventSummary,
  type PartnerService,
  type StoredApiKey,
} from '@ticketboss/domain';
import pino, { type Logger } from 'pino';
import { visiblePrefix } from '../server/api-keys.js';
import { ConfigError, loadConfig, type Config } from '../server/config.js';
import { openDatabase, prepareSchema, type OpenDatabase } from '../server/database.js';
import { apiKeyBody, eventSummaryBody } from '../routes/schemas.js';
import { createServices, unrefTimers, type Services } from '../server/services.js';

/** 64 is EX_USAGE (sysexits.h): the command line itself is wrong. */
const EXIT = { ok: 0, failed: 1, breaches: 2, usage: 64 } as const;

const USAGE = `Usage: pnpm ticketboss <command> [--json]

Works on the database directly: DATABASE_URL, or else the embedded PostgreSQL in TICKETBOSS_DATA_DIR (the one
\`pnpm start\` is running, or one started for this command only).

  partners create <partnerId> <name...>  register a partner; prints its first API key token, shown once
  partners list
  keys create <partnerId>                a new API key (rotation: the other keys keep working); shown once
  keys list <partnerId>
  keys revoke <partnerId> <keyId>        the key stops working at once
  events create --name <name> --seats <n> [--id <eventId>] [--max-per-reservation <n>]
  events list
  audit                                  checks every event: available + reserved seats = total seats

Options:
  --json   print one JSON document on stdout instead of text

Exit status: 0 done; 1 refused or failed (one line says why); 2 audit found breaches; 64 usage error.
`;

class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    /** For a command we do not know: the list of those we do. */
    readonly showUsage = false,
  ) {
    super(message);
  }
}

/** A failure with a stable code for --json, reported as one line (the expected failures: no stack trace). */
class Failure extends Error {
  override readonly name = 'Failure';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Command =
  | { readonly name: 'partners create'; readonly partnerId: string; readonly partnerName: string }
  | { readonly name: 'partners list' }
  | { readonly name: 'keys create'; readonly partnerId: string }
  | { readonly name: 'keys list'; readonly partnerId: string }
  | { readonly name: 'keys revoke'; readonly partnerId: string; readonly keyId: string }
  | {
      readonly name: 'events create';
      readonly eventId: string | undefined;
      readonly eventName: string;
      readonly totalSeats: number;
      readonly maxSeatsPerReservation: number;
    }
  | { readonly name: 'events list' }
  | { readonly name: 'audit' };

type Invocation =
  | { readonly kind: 'run'; readonly command: Command; readonly json: boolean }
  | { readonly kind: 'help'; readonly asked: boolean };

const EVENT_OPTIONS = ['name', 'seats', 'id', 'max-per-reservation'] as const;

function wholeNumber(raw: string, flag: string, min: number, max: number): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new UsageError(`--${flag} must be a whole number from ${min} to ${max}`);
  }
  return value;
}

/** The command line as a Command, checked before anything connects; throws a UsageError naming the problem. */
function parseCommandLine(args: string[]): Invocation {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        name: { type: 'string' },
        seats: { type: 'string' },
        id: { type: 'string' },
        'max-per-reservation': { type: 'string' },
      },
    });
  } catch (error) {
    // parseArgs's messages go on to explain `--` for positionals; the first sentence names the problem.
    const message = error instanceof Error ? error.message.split('. ')[0]! : String(error);
    throw new UsageError(message.charAt(0).toLowerCase() + message.slice(1));
  }
  const { values, positionals } = parsed;
  if (values.help || positionals[0] === 'help') return { kind: 'help', asked: true };
  if (positionals.length === 0) return { kind: 'help', asked: false };

  const group = positionals[0]!;
  const name = ['partners', 'keys', 'events'].includes(group) ? `${group} ${positionals[1] ?? ''}`.trim() : group;
  const rest = positionals.slice(name.split(' ').length);
  const requireArguments = (count: number, shape = '') => {
    if (rest.length < count) throw new UsageError(`${name} needs ${shape}`);
    if (rest.length > count) throw new UsageError(`${name}: unexpected argument "${rest[count]}"`);
  };
  const command = ((): Command => {
    switch (name) {
      case 'partners create':
        if (rest.length < 2) throw new UsageError('partners create needs <partnerId> <name...>');
        return { name, partnerId: rest[0]!, partnerName: rest.slice(1).join(' ') };
      case 'keys create':
      case 'keys list':
        requireArguments(1, '<partnerId>');
        return { name, partnerId: rest[0]! };
      case 'keys revoke':
        requireArguments(2, '<partnerId> <keyId>');
        return { name, partnerId: rest[0]!, keyId: rest[1]! };
      case 'events create': {
        requireArguments(0);
        if (values.name === undefined) throw new UsageError('events create needs --name <name>');
        if (values.seats === undefined) throw new UsageError('events create needs --seats <n>');
        const max = values['max-per-reservation'];
        return {
          name,
          eventId: values.id,
          eventName: values.name,
          totalSeats: wholeNumber(values.seats, 'seats', 0, MAX_TOTAL_SEATS),
          maxSeatsPerReservation:
            max === undefined
              ? DEFAULT_MAX_SEATS_PER_RESERVATION
              : wholeNumber(max, 'max-per-reservation', 1, MAX_SEATS_PER_RESERVATION_LIMIT),
        };
      }
      case 'partners list':
      case 'events list':
      case 'audit':
        requireArguments(0);
        return { name };
      default:
        throw new UsageError(`unknown command "${name}"`, true);
    }
  })();
  const misplaced = EVENT_OPTIONS.find((option) => values[option] !== undefined);
  if (misplaced && command.name !== 'events create') {
    throw new UsageError(`--${misplaced} applies to events create only`);
  }
  return { kind: 'run', command, json: values.json ?? false };
}

/** What a command answers: the same answer as text for people and as JSON for scripts, and its exit status. */
interface Answer {
  readonly status: typeof EXIT.ok | typeof EXIT.breaches;
  readonly text: string;
  readonly json: unknown;
}

const done = (text: string, json: unknown): Answer => ({ status: EXIT.ok, text, json });

/** Columns padded to their widest cell (the last one, free text, is not). */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((_, column) => Math.max(...[header, ...rows].map((row) => row[column]!.length)));
  const line = (row: readonly string[]) =>
    row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ');
  return [header, ...rows].map(line).join('\n') + '\n';
}

function tokenText(key: StoredApiKey, token: string): string {
  return [
    `API key ${key.keyId} (its tokens start ${visiblePrefix(key.keyId)})`,
    `token: ${token}`,
    '',
    'This token is shown once, now: only its hash is kept. Hand it to the partner; it cannot be shown again.',
    '',
  ].join('\n');
}

const partnerFieldMessages = {
  partnerId: 'partnerId must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit',
  name: `the partner's name must be non-blank and at most ${MAX_PARTNER_NAME_LENGTH} characters`,
};

async function createPartner(
  partners: PartnerService,
  { partnerId, partnerName }: { partnerId: string; partnerName: string },
): Promise<Answer> {
  const outcome = await partners.createPartner({ partnerId, name: partnerName });
  switch (outcome.kind) {
    case 'created':
      return done(
        `created partner ${partnerId} ("${outcome.partner.name}")\n${tokenText(outcome.key, outcome.token)}`,
        { partnerId, name: outcome.partner.name, apiKey: apiKeyBody(outcome.key, outcome.token) },
      );
    case 'already_exists':
      throw new Failure('PARTNER_ALREADY_EXISTS', `partner ${partnerId} already exists`);
    case 'invalid':
      throw new Failure('VALIDATION_ERROR', partnerFieldMessages[outcome.field]);
  }
}

async function listPartners(partners: PartnerService): Promise<Answer> {
  const all = await partners.listPartners();
  const items = all.map((p) => ({ partnerId: p.partnerId, name: p.name, createdAt: p.createdAt.toISOString() }));
  const text = items.length
    ? table(
        ['PARTNER', 'CREATED', 'NAME'],
        items.map((p) => [p.partnerId, p.createdAt, p.name]),
      )
    : 'no partners\n';
  return done(text, { items });
}

async function createKey(partners: PartnerService, partnerId: string): Promise<Answer> {
  const outcome = await partners.issueKey(partnerId);
  switch (outcome.kind) {
    case 'issued':
      return done(
        `new API key for partner ${partnerId}; its other keys keep working until revoked\n${tokenText(outcome.key, outcome.token)}`,
        apiKeyBody(outcome.key, outcome.token),
      );
    case 'partner_not_found':
      throw new Failure('PARTNER_NOT_FOUND', `partner ${partnerId} not found`);
  }
}

async function listKeys(partners: PartnerService, partnerId: string): Promise<Answer> {
  const keys = await partners.listKeys(partnerId);
  if (!keys) throw new Failure('PARTNER_NOT_FOUND', `partner ${partnerId} not found`);
  const items = keys.map((key) => ({
    id: key.keyId,
    partnerId: key.partnerId,
    prefix: visiblePrefix(key.keyId),
    createdAt: key.createdAt.toISOString(),
    revokedAt: key.revokedAt?.toISOString() ?? null,
  }));
  const text = items.length
    ? table(
        ['KEY ID', 'PREFIX', 'CREATED', 'REVOKED'],
        items.map((key) => [key.id, key.prefix, key.createdAt, key.revokedAt ?? '-']),
      )
    : `partner ${partnerId} has no API keys\n`;
  return done(text, { items });
}

async function revokeKey(partners: PartnerService, partnerId: string, keyId: string): Promise<Answer> {
  const outcome = await partners.revokeKey(partnerId, keyId);
  switch (outcome.kind) {
    case 'revoked':
      return done(`revoked API key ${keyId} of partner ${partnerId}: it no longer works\n`, {
        id: keyId,
        partnerId,
        revoked: true,
      });
    case 'key_not_found':
      throw new Failure('API_KEY_NOT_FOUND', `partner ${partnerId} has no API key ${keyId}`);
  }
}

const eventFieldMessages: Record<EventField, string> = {
  eventId: '--id must be 1 to 64 lowercase letters, digits or "-", starting with a letter or digit',
  name: `--name must be non-blank and at most ${MAX_EVENT_NAME_LENGTH} characters`,
  totalSeats: `--seats must be a whole number from 0 to ${MAX_TOTAL_SEATS}`,
  maxSeatsPerReservation: `--max-per-reservation must be a whole number from 1 to ${MAX_SEATS_PER_RESERVATION_LIMIT}`,
};

async function createEvent(
  events: EventService,
  command: Extract<Command, { name: 'events create' }>,
): Promise<Answer> {
  const outcome = await events.createEvent({
    eventId: command.eventId,
    name: command.eventName,
    totalSeats: command.totalSeats,
    maxSeatsPerReservation: command.maxSeatsPerReservation,
  });
  switch (outcome.kind) {
    case 'created': {
      const { eventId, name, totalSeats, maxSeatsPerReservation } = outcome.event;
      return done(
        `created event ${eventId} ("${name}"): ${totalSeats} seats, at most ${maxSeatsPerReservation} per reservation\n`,
        eventSummaryBody(outcome.event),
      );
    }
    case 'already_exists':
      throw new Failure('EVENT_ALREADY_EXISTS', `event ${command.eventId} already exists`);
    case 'invalid':
      throw new Failure('VALIDATION_ERROR', eventFieldMessages[outcome.field]);
  }
}

async function listEvents(events: EventService): Promise<Answer> {
  const all: EventSummary[] = [];
  let after: string | undefined;
  do {
    const page = await events.listEvents({ limit: 100, after });
    all.push(...page.items);
    after = page.next;
  } while (after !== undefined);
  const text = all.length
    ? table(
        ['EVENT', 'TOTAL', 'AVAILABLE', 'RESERVED', 'RESERVATIONS', 'MAX/RESERVATION', 'VERSION', 'NAME'],
        all.map((e) =>
          [e.eventId, e.totalSeats, e.availableSeats, e.reservedSeats, e.reservationCount]
            .concat([e.maxSeatsPerReservation, e.version])
            .map(String)
            .concat(e.name),
        ),
      )
    : 'no events\n';
  return done(text, { items: all.map(eventSummaryBody) });
}

function breachText(breach: InvariantBreach): string {
  return (
    `breach: event ${breach.eventId}: total ${breach.totalSeats}, available ${breach.availableSeats}, ` +
    `confirmed ${breach.reservedSeats}, held ${breach.heldSeats} (available + confirmed + held = ` +
    `${breach.availableSeats + breach.reservedSeats + breach.heldSeats}); ` +
    `${breach.confirmedReservations} confirmed reservations, ${breach.heldReservations} live holds and ` +
    `${breach.unmarkedExpiredHolds} expired holds not yet marked; the event row counts ${breach.recordedReservationCount}`
  );
}

async function audit(connectionString: string): Promise<Answer> {
  // The check reads every reservation: a connection of its own, without the request timeouts.
  const db = createDatabase({ connectionString, poolSize: 1 });
  try {
    // One snapshot for the count and the check, so that both describe the same moment.
    const { checked, breaches } = await db
      .transaction()
      .setIsolationLevel('repeatable read')
      .setAccessMode('read only')
      .execute(async (trx) => {
        const row = await trx
          .selectFrom('events')
          .select((eb) => eb.fn.countAll().as('count'))
          .executeTakeFirstOrThrow();
        return { checked: Number(row.count), breaches: await findInvariantBreaches(trx) };
      });
    const json = { ok: breaches.length === 0, eventsChecked: checked, breaches };
    if (breaches.length === 0) return done(`ok: ${checked} events checked, invariant holds\n`, json);
    const summary = `${breaches.length} of ${checked} events break the invariant (available + reserved = total)`;
    return { status: EXIT.breaches, text: [...breaches.map(breachText), summary, ''].join('\n'), json };
  } finally {
    await db.destroy();
  }
}

function execute(command: Command, services: Services, database: OpenDatabase): Promise<Answer> {
  switch (command.name) {
    case 'partners create':
      return createPartner(services.partners, command);
    case 'partners list':
      return listPartners(services.partners);
    case 'keys create':
      return createKey(services.partners, command.partnerId);
    case 'keys list':
      return listKeys(services.partners, command.partnerId);
    case 'keys revoke':
      return revokeKey(services.partners, command.partnerId, command.keyId);
    case 'events create':
      return createEvent(services.events, command);
    case 'events list':
      return listEvents(services.events);
    case 'audit':
      return audit(database.connectionString);
  }
}

function reasonOf(error: unknown): string {
  // Connecting to "localhost" tries each address; the refusal comes as an AggregateError with an empty message.
  if (error instanceof AggregateError && error.errors.length > 0) return reasonOf(error.errors[0]);
  // The driver's own words, not the wrapper's: "connect ECONNREFUSED 127.0.0.1:5432".
  if (error instanceof StoreUnavailable && error.cause) return reasonOf(error.cause);
  return error instanceof Error ? error.message || error.name : String(error);
}

/**
 * The database the server uses, never a copy of it: DATABASE_URL; else the embedded PostgreSQL that `pnpm start`
 * runs on the data folder; else one started for this command only. Only in that last case does the command
 * migrate (as `pnpm start` would, so a fresh data folder works); a database someone else serves is left to them.
 */
async function connect(config: Config, logger: Logger): Promise<OpenDatabase> {
  const running = config.databaseUrl ? undefined : await connectToRunningEmbeddedPostgres(config.dataDir);
  const ours = !config.databaseUrl && !running;
  const database = await openDatabase({ ...config, databaseUrl: config.databaseUrl ?? running }, logger, {
    logOutages: false,
  });
  try {
    await database.db
      .connection()
      .execute(async () => undefined)
      .catch((error: unknown) => {
        throw new Failure('DATABASE_UNAVAILABLE', `cannot connect to the database: ${reasonOf(error)}`);
      });
    if (ours) {
      await prepareSchema(database.connectionString, config, logger);
    } else {
      const pending = await findPendingMigrations(database.db, (await readMigrations()).files);
      if (pending.length > 0) {
        throw new Failure(
          'MIGRATIONS_PENDING',
          `the database lacks ${pending.length} migration(s): ${pending.map((f) => f.name).join(', ')}; ` +
            'apply them first (pnpm migrate, or restart the server)',
        );
      }
    }
    return database;
  } catch (error) {
    await database.close().catch(() => undefined);
    throw error;
  }
}

function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  return new Promise((resolve) => stream.write(text, () => resolve()));
}

async function main(args: string[]): Promise<number> {
  let invocation: Invocation;
  try {
    invocation = parseCommandLine(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    await write(process.stderr, `ticketboss: ${error.message}\n${error.showUsage ? `\n${USAGE}` : ''}`);
    return EXIT.usage;
  }
  if (invocation.kind === 'help') {
    await write(process.stderr, USAGE);
    return invocation.asked ? EXIT.ok : EXIT.usage;
  }
  const { command, json } = invocation;
  const fail = async (code: string, message: string) => {
    if (json) await write(process.stdout, `${JSON.stringify({ error: message, code })}\n`);
    else await write(process.stderr, `ticketboss: ${message}\n`);
    return EXIT.failed;
  };

  let config: Config;
  try {
    // Quiet by default: a command's output is its answer, not the server's progress lines.
    config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL || 'warn' });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return fail('CONFIG_ERROR', error.message);
  }
  // Logs go to stderr, so that stdout holds only the answer (one JSON document with --json).
  const logger = pino({ level: config.logLevel }, pino.destination(2));
  let database: OpenDatabase | undefined;
  try {
    database = await connect(config, logger);
    const services = createServices(database.db, { maxWaitMs: config.maxWaitMs, timers: unrefTimers });
    const answer = await execute(command, services, database);
    await write(process.stdout, json ? `${JSON.stringify(answer.json, null, 2)}\n` : answer.text);
    return answer.status;
  } catch (error) {
    if (error instanceof Failure) return fail(error.code, error.message);
    logger.debug({ err: error }, 'command failed');
    return fail('FAILED', reasonOf(error));
  } finally {
    await database?.close().catch(() => undefined);
  }
}

// An embedded PostgreSQL started for this command is stopped by its launcher's exit hook, which a signal's
// default action would skip: exit through process.exit instead.
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));
process.exitCode = await main(process.argv.slice(2));

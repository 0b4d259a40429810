/** The operators' command line, parsed: the commands, their arguments and options, the usage text. */
import { parseArgs } from 'node:util';
import {
  DEFAULT_MAX_SEATS_PER_RESERVATION,
  MAX_SEATS_PER_RESERVATION_LIMIT,
  MAX_TOTAL_SEATS,
} from '@ticketboss/domain';

/** 64 is EX_USAGE (sysexits.h): the command line itself is wrong. */
export const EXIT = { ok: 0, failed: 1, breaches: 2, usage: 64 } as const;

export const USAGE = `Usage: pnpm ticketboss <command> [--json]

Works on the database directly: DATABASE_URL, or else the embedded PostgreSQL in TICKETBOSS_DATA_DIR (the one
\`pnpm start\` is running, or one started for this command only).

  partners create <partnerId> <name...>  register a partner; prints its first API key token, shown once
  partners list
  keys create <partnerId>                a new API key (rotation: the other keys keep working); shown once
  keys list <partnerId>
  keys revoke <partnerId> <keyId>        the key stops working at once
  events create --name <name> --seats <n> [--id <eventId>] [--max-per-reservation <n>]
  events list
  webhooks list <partnerId>              the partner's webhook endpoints (never their secrets)
  webhooks failing <partnerId> <webhookId>
                                         the endpoint's failed attempts, newest first, and why it is failing
  audit                                  checks every event: available + reserved seats = total seats

Options:
  --json   print one JSON document on stdout instead of text

Exit status: 0 done; 1 refused or failed (one line says why); 2 audit found breaches; 64 usage error.
`;

export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    /** For a command we do not know: the list of those we do. */
    readonly showUsage = false,
  ) {
    super(message);
  }
}

export type Command =
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
  | { readonly name: 'webhooks list'; readonly partnerId: string }
  | { readonly name: 'webhooks failing'; readonly partnerId: string; readonly webhookId: string }
  | { readonly name: 'audit' };

export type Invocation =
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
export function parseCommandLine(args: string[]): Invocation {
  const { values, positionals } = readArguments(args);
  if (values.help || positionals[0] === 'help') return { kind: 'help', asked: true };
  if (positionals.length === 0) return { kind: 'help', asked: false };
  const group = positionals[0]!;
  const name = ['partners', 'keys', 'events', 'webhooks'].includes(group)
    ? `${group} ${positionals[1] ?? ''}`.trim()
    : group;
  const command = commandOf(name, positionals.slice(name.split(' ').length), values);
  const misplaced = EVENT_OPTIONS.find((option) => values[option] !== undefined);
  if (misplaced && command.name !== 'events create') {
    throw new UsageError(`--${misplaced} applies to events create only`);
  }
  return { kind: 'run', command, json: values.json ?? false };
}

const OPTIONS = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  name: { type: 'string' },
  seats: { type: 'string' },
  id: { type: 'string' },
  'max-per-reservation': { type: 'string' },
} as const;

type Values = ReturnType<typeof readArguments>['values'];

function readArguments(args: string[]) {
  try {
    return parseArgs({ args, allowPositionals: true, strict: true, options: OPTIONS });
  } catch (error) {
    // parseArgs's messages go on to explain `--` for positionals; the first sentence names the problem.
    const message = error instanceof Error ? error.message.split('. ')[0]! : String(error);
    throw new UsageError(message.charAt(0).toLowerCase() + message.slice(1));
  }
}

/** The command `name` (one or two words) with the positionals after it, `rest`. */
function commandOf(name: string, rest: string[], values: Values): Command {
  const requireArguments = (count: number, shape = '') => {
    if (rest.length < count) throw new UsageError(`${name} needs ${shape}`);
    if (rest.length > count) throw new UsageError(`${name}: unexpected argument "${rest[count]}"`);
  };
  switch (name) {
    case 'partners create':
      if (rest.length < 2) throw new UsageError('partners create needs <partnerId> <name...>');
      return { name, partnerId: rest[0]!, partnerName: rest.slice(1).join(' ') };
    case 'keys create':
    case 'keys list':
    case 'webhooks list':
      requireArguments(1, '<partnerId>');
      return { name, partnerId: rest[0]! };
    case 'keys revoke':
      requireArguments(2, '<partnerId> <keyId>');
      return { name, partnerId: rest[0]!, keyId: rest[1]! };
    case 'webhooks failing':
      requireArguments(2, '<partnerId> <webhookId>');
      return { name, partnerId: rest[0]!, webhookId: rest[1]! };
    case 'events create':
      requireArguments(0);
      return eventsCreate(values);
    case 'partners list':
    case 'events list':
    case 'audit':
      requireArguments(0);
      return { name };
    default:
      throw new UsageError(`unknown command "${name}"`, true);
  }
}

function eventsCreate(values: Values): Extract<Command, { name: 'events create' }> {
  if (values.name === undefined) throw new UsageError('events create needs --name <name>');
  if (values.seats === undefined) throw new UsageError('events create needs --seats <n>');
  const max = values['max-per-reservation'];
  return {
    name: 'events create',
    eventId: values.id,
    eventName: values.name,
    totalSeats: wholeNumber(values.seats, 'seats', 0, MAX_TOTAL_SEATS),
    maxSeatsPerReservation:
      max === undefined
        ? DEFAULT_MAX_SEATS_PER_RESERVATION
        : wholeNumber(max, 'max-per-reservation', 1, MAX_SEATS_PER_RESERVATION_LIMIT),
  };
}

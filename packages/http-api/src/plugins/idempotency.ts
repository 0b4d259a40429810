import { createHash } from 'node:crypto';
import { Type, type TSchema } from '@sinclair/typebox';
import {
  isValidIdempotencyKey,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  StoreUnavailable,
  type Attempt,
  type Idempotency,
  type IdempotencyClaim,
  type KeepFailure,
  type RecordedAnswer,
} from '@ticketboss/domain';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { apiErrors, CONTENDED_RETRY_AFTER_SECONDS, type ApiError } from './errors.js';
import { errorResponse } from '../routes/schemas.js';

/** The Idempotency-Key request header, for the routes that take it (and the OpenAPI document). */
export const IdempotencyKeyHeader = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      description:
        `1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters, bare or quoted (for example a UUID). A retry with the same ` +
        'key and body gets the first answer again, with `Idempotent-Replayed: true`, and changes nothing. Keys ' +
        'are scoped to the partner and the route, and kept 24 hours by default.',
      examples: ['"8e03978e-40d5-43e8-bc93-6894a57f9324"'],
    }),
  ),
});

/** A response schema that may be a replay: with the `Idempotent-Replayed` header, for the OpenAPI document. */
export function replayable<T extends TSchema>(schema: T): T {
  const headers = {
    'Idempotent-Replayed': {
      type: 'string',
      enum: ['true'],
      description:
        'Sent, as `true`, when this is the stored answer to an earlier request with the same Idempotency-Key',
    },
  };
  return { ...schema, headers };
}

/** The 422 of the routes that take an Idempotency-Key. */
export const keyReusedResponse = errorResponse(
  'The Idempotency-Key was used with a different request',
  apiErrors.idempotencyKeyReused,
);

/**
 * An answer in the form it is sent and, under a key, recorded: the domain keeps it opaque; here its `code` is the
 * HTTP status and its `text` the JSON body, byte for byte.
 */
export function jsonResponse(statusCode: number, body: unknown): RecordedAnswer {
  return { code: statusCode, text: JSON.stringify(body) };
}

export function errorAnswer(error: ApiError): RecordedAnswer {
  return jsonResponse(error.status, { error: error.message, code: error.code });
}

const inUseBody = errorAnswer(apiErrors.idempotencyKeyInUse).text;

/** Sends an answer exactly as it is kept, so that a replay is byte for byte the first answer. */
export function sendStored(reply: FastifyReply, { code: statusCode, text: body }: RecordedAnswer): FastifyReply {
  // A 503, or a key taken over while this request ran (it outlived its lease): worth retrying shortly.
  const retryLater = statusCode === apiErrors.contended.status || body === inUseBody;
  if (retryLater && !reply.hasHeader('retry-after')) {
    reply.header('retry-after', String(CONTENDED_RETRY_AFTER_SECONDS));
  }
  return reply.code(statusCode).type('application/json; charset=utf-8').send(body);
}

/**
 * The request's Idempotency-Key: undefined without one, an ApiError when it is not 1 to 255 characters (bare,
 * or an sf-string in double quotes, as the IETF draft writes it) or holds control characters. (Node joins a
 * header sent twice with ", ": that is one key.)
 */
export function idempotencyKeyOf(request: FastifyRequest): string | undefined | ApiError {
  const raw = request.headers['idempotency-key'];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') return apiErrors.invalidIdempotencyKey;
  const key = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
  const printable = [...key].every((char) => char >= ' ' && char !== '\u007f');
  return isValidIdempotencyKey(key) && printable ? key : apiErrors.invalidIdempotencyKey;
}

/**
 * JSON with object keys sorted, so that the same body sent with its fields in another order is the same. With a
 * stack of its own rather than recursion: a body nested thousands deep fits in 64 KiB, and must be answered as
 * it is without a key, not overflow the call stack. The text is the one the recursive form wrote (keys by code
 * unit, no spaces), so keys stored before still match.
 */
export function canonicalJson(root: unknown): string {
  const out: string[] = [];
  // What is left to write, the next on top: a value, or text as it is.
  const todo: ({ readonly value: unknown } | string)[] = [{ value: root }];
  for (let next = todo.pop(); next !== undefined; next = todo.pop()) {
    if (typeof next === 'string') {
      out.push(next);
      continue;
    }
    const { value } = next;
    if (Array.isArray(value)) {
      out.push('[');
      todo.push(']');
      for (let i = value.length - 1; i >= 0; i -= 1) {
        todo.push({ value: value[i] });
        if (i > 0) todo.push(',');
      }
    } else if (value !== null && typeof value === 'object') {
      const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      out.push('{');
      todo.push('}');
      for (let i = entries.length - 1; i >= 0; i -= 1) {
        const [key, member] = entries[i]!;
        todo.push({ value: member }, `${JSON.stringify(key)}:`);
        if (i > 0) todo.push(',');
      }
    } else {
      out.push(JSON.stringify(value) ?? 'null');
    }
  }
  return out.join('');
}

/** What makes two requests under one key "the same request": method, path and body. */
function fingerprintOf(request: FastifyRequest): string {
  const path = request.url.split('?')[0];
  return createHash('sha256')
    .update(`${request.method} ${path}\n${canonicalJson(request.body ?? null)}`)
    .digest('base64url');
}

/**
 * Logs a key left claimed by a failed complete or release: its retries are 409 until its lease ends. At warn,
 * except while the database is unreachable: that outage is logged once where it starts, and a line per request
 * meanwhile would bury it.
 */
function logKeepFailure(request: FastifyRequest): (failure: KeepFailure) => void {
  return ({ action, scope, error }) =>
    request.log[error instanceof StoreUnavailable ? 'info' : 'warn'](
      { err: error, partnerId: scope.partnerId, route: scope.route, idempotencyKey: scope.key },
      action === 'complete'
        ? 'Idempotency-Key answer not recorded; retries with this key get 409 until its lease ends'
        : 'Idempotency-Key not given back; retries with this key get 409 until its lease ends',
    );
}

/**
 * Answers a request that may carry an Idempotency-Key. Without a key `attempt` simply runs. With one, the first
 * request decides and its answer is kept (by the commit of the change it made, or at once for a decision that
 * changed nothing); a retry gets that answer again with `Idempotent-Replayed: true`; the same key with another
 * body is 422, and while the first is in flight 409 with `Retry-After`. Answers that decided nothing are not
 * kept, so a retry after them is a fresh attempt.
 */
export async function answerIdempotently<T>(
  request: FastifyRequest,
  reply: FastifyReply,
  idempotency: Idempotency,
  partnerId: string,
  attempt: (claim: IdempotencyClaim | undefined) => Promise<Attempt<T>>,
): Promise<FastifyReply> {
  const key = idempotencyKeyOf(request);
  if (typeof key === 'object') return sendStored(reply, errorAnswer(key));
  if (key === undefined) return sendStored(reply, (await attempt(undefined)).answer);
  const route = `${request.method} ${request.routeOptions.url ?? request.url}`;
  const outcome = await idempotency.run(
    { partnerId, route, key },
    fingerprintOf(request),
    attempt,
    logKeepFailure(request),
  );
  switch (outcome.kind) {
    case 'fresh':
      return sendStored(reply, outcome.answer);
    case 'replayed':
      reply.header('idempotent-replayed', 'true');
      return sendStored(reply, outcome.answer);
    case 'in_use':
      reply.header('retry-after', String(outcome.retryAfterSeconds));
      return sendStored(reply, errorAnswer(apiErrors.idempotencyKeyInUse));
    case 'reused':
      return sendStored(reply, errorAnswer(apiErrors.idempotencyKeyReused));
  }
}

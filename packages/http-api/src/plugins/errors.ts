import { Type, type Static } from '@sinclair/typebox';
import {
  DEFAULT_MAX_SEATS_PER_RESERVATION,
  InvalidPagePosition,
  MAX_PARTNER_ID_LENGTH,
  MAX_WEBHOOKS_PER_PARTNER,
  MIN_SEATS_PER_RESERVATION,
  StoreUnavailable,
  TransientFailure,
} from '@ticketboss/domain';
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { apiSecurityHeaderValues } from './security-headers.js';

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'What went wrong, for people' }),
    code: Type.String({ description: 'Stable code, for programs' }),
  },
  { $id: 'ErrorBody' },
);
export type ErrorBody = Static<typeof ErrorBody>;

/** Every error the API answers with: status, stable code and the message clients see. */
export const apiErrors = {
  insufficientSeats: { status: 409, code: 'INSUFFICIENT_SEATS', message: 'Not enough seats left' },
  reservationNotFound: { status: 404, code: 'RESERVATION_NOT_FOUND', message: 'Reservation not found' },
  reservationAlreadyCancelled: {
    status: 404,
    code: 'RESERVATION_ALREADY_CANCELLED',
    message: 'Reservation already cancelled',
  },
  eventNotFound: { status: 404, code: 'EVENT_NOT_FOUND', message: 'Event not found' },
  contended: {
    status: 503,
    code: 'CONTENDED',
    message: 'The event is too busy to decide this request right now; nothing was changed, retry shortly',
  },
  databaseUnavailable: {
    status: 503,
    code: 'DATABASE_UNAVAILABLE',
    message:
      'The database cannot be reached right now; retry after the Retry-After delay (with the same ' +
      'Idempotency-Key, a retried reservation is never made twice)',
  },
  invalidJson: { status: 400, code: 'INVALID_JSON', message: 'Request body is not valid JSON' },
  unsupportedMediaType: {
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message: 'Content-Type must be application/json',
  },
  payloadTooLarge: { status: 413, code: 'PAYLOAD_TOO_LARGE', message: 'Request body is larger than 64 KiB' },
  internal: { status: 500, code: 'INTERNAL_ERROR', message: 'Internal server error' },
  unauthorized: {
    status: 401,
    code: 'UNAUTHORIZED',
    message: 'A valid API key is required: send Authorization: Bearer <token>',
  },
  adminOnly: { status: 403, code: 'FORBIDDEN', message: 'This route needs the admin token' },
  partnerOnly: { status: 403, code: 'FORBIDDEN', message: "This route needs a partner's API key" },
  otherPartner: {
    status: 403,
    code: 'FORBIDDEN',
    message: "partnerId does not match the API key's partner; leave it out or send your own",
  },
  rateLimited: { status: 429, code: 'RATE_LIMITED', message: 'Too many requests; retry after the Retry-After delay' },
  eventAlreadyExists: {
    status: 409,
    code: 'EVENT_ALREADY_EXISTS',
    message: 'An event with this eventId already exists',
  },
  partnerAlreadyExists: {
    status: 409,
    code: 'PARTNER_ALREADY_EXISTS',
    message: 'A partner with this partnerId already exists',
  },
  partnerNotFound: { status: 404, code: 'PARTNER_NOT_FOUND', message: 'Partner not found' },
  apiKeyNotFound: { status: 404, code: 'API_KEY_NOT_FOUND', message: 'API key not found' },
  versionMismatch: {
    status: 412,
    code: 'PRECONDITION_FAILED',
    message: 'The event has changed since the version in If-Match; fetch it again',
  },
  invalidCursor: { status: 400, code: 'VALIDATION_ERROR', message: 'cursor is invalid; pass back a nextCursor as is' },
  holdExpired: {
    status: 410,
    code: 'HOLD_EXPIRED',
    message: 'The hold expired before it was confirmed; its seats are back on sale',
  },
  reservationCancelled: {
    status: 409,
    code: 'RESERVATION_CANCELLED',
    message: 'The reservation was cancelled and cannot be confirmed',
  },
  idempotencyKeyInUse: {
    status: 409,
    code: 'IDEMPOTENCY_KEY_IN_USE',
    message: 'A request with this Idempotency-Key is still being processed; retry after the Retry-After delay',
  },
  idempotencyKeyReused: {
    status: 422,
    code: 'IDEMPOTENCY_KEY_REUSED',
    message: 'This Idempotency-Key was used with a different request; use a new key for a new request',
  },
  webhookNotFound: { status: 404, code: 'WEBHOOK_NOT_FOUND', message: 'Webhook not found' },
  webhookLimitReached: {
    status: 409,
    code: 'WEBHOOK_LIMIT_REACHED',
    message: `A partner can register at most ${MAX_WEBHOOKS_PER_PARTNER} webhooks; delete one first`,
  },
  deliveryNotFound: { status: 404, code: 'DELIVERY_NOT_FOUND', message: 'Delivery not found' },
  missingHost: { status: 400, code: 'BAD_REQUEST', message: 'HTTP/1.1 requests must send a Host header' },
  invalidIdempotencyKey: {
    status: 400,
    code: 'VALIDATION_ERROR',
    message: 'Idempotency-Key must be 1 to 255 characters, bare or in double quotes',
  },
} as const satisfies Record<string, ApiError>;

export interface ApiError {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

/** Seconds a client should wait before retrying a `CONTENDED` answer. */
export const CONTENDED_RETRY_AFTER_SECONDS = 1;
/** Seconds a client should wait before retrying a `DATABASE_UNAVAILABLE` answer. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 2;

export function sendError(reply: FastifyReply, error: ApiError): FastifyReply {
  if (error.code === apiErrors.contended.code) reply.header('retry-after', String(CONTENDED_RETRY_AFTER_SECONDS));
  if (error.code === apiErrors.databaseUnavailable.code) {
    reply.header('retry-after', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
  }
  if (error.code === apiErrors.unauthorized.code) reply.header('www-authenticate', 'Bearer realm="ticketboss"');
  return reply.code(error.status).send({ error: error.message, code: error.code } satisfies ErrorBody);
}

/** Messages of the classic routes for fields whose rule is more than "required", worded as they always were. */
const seedFieldMessages: Readonly<Record<string, string>> = {
  seats: `seats must be between ${MIN_SEATS_PER_RESERVATION} and ${DEFAULT_MAX_SEATS_PER_RESERVATION}`,
  partnerId: `partnerId must be a non-empty string of at most ${MAX_PARTNER_ID_LENGTH} characters`,
};

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Per-field messages for this route's validation errors; a route without them uses the classic routes'. */
    fieldMessages?: Readonly<Record<string, string>>;
  }
}

export function invalidField(field: string, messages: Readonly<Record<string, string>> = seedFieldMessages): ApiError {
  return { status: 400, code: 'VALIDATION_ERROR', message: messages[field] ?? `${field} is invalid` };
}

function validationError(error: FastifyError, messages: Readonly<Record<string, string>> | undefined): ApiError {
  const [first] = error.validation ?? [];
  const context = error.validationContext ?? 'body';
  const invalid = (field: string) => invalidField(field, messages);
  if (!first) return invalid(context);
  if (first.keyword === 'required') {
    const missing = (first.params as { missingProperty?: string }).missingProperty ?? 'a field';
    return { ...invalid(missing), message: `${missing} is required` };
  }
  const field = first.instancePath.split('/')[1];
  if (!field && first.keyword === 'additionalProperties') {
    const extra = (first.params as { additionalProperty?: string }).additionalProperty ?? 'a field';
    return { ...invalid(extra), message: `${extra} cannot be set here` };
  }
  if (!field) {
    return context === 'body' ? { ...invalid(context), message: 'body must be a JSON object' } : invalid(context);
  }
  return invalid(field);
}

const fastifyClientErrors: Record<string, ApiError> = {
  FST_ERR_BAD_URL: { status: 400, code: 'BAD_REQUEST', message: 'The request URL is not valid' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: apiErrors.unsupportedMediaType,
  FST_ERR_CTP_BODY_TOO_LARGE: apiErrors.payloadTooLarge,
  FST_ERR_CTP_INVALID_JSON_BODY: apiErrors.invalidJson,
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'INVALID_JSON', message: 'Request body is empty' },
};

/**
 * One place maps every thrown error to a response. Validation and framework client errors get a message that
 * names the problem; anything else is logged with its cause and answered with a bare 500.
 */
export function handleError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof TransientFailure) {
    // A read gave up on a lock or a statement timeout: nothing changed, and a retry may well succeed.
    request.log.warn({ err: error }, 'database busy');
    return sendError(reply, apiErrors.contended);
  }
  if (error instanceof StoreUnavailable) {
    // The outage itself is logged once, when it starts and when it ends (server/database.ts), not once per request.
    request.log.debug({ err: error }, 'database unavailable');
    return sendError(reply, apiErrors.databaseUnavailable);
  }
  if (error.validation) {
    return sendError(reply, validationError(error, request.routeOptions.config.fieldMessages));
  }
  if (error instanceof InvalidPagePosition) return sendError(reply, apiErrors.invalidCursor);
  const known = error.code ? fastifyClientErrors[error.code] : undefined;
  if (known) return sendError(reply, known);
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    // Other framework client errors (bad content length, forbidden __proto__ keys, ...): their messages are
    // about the request, never about our internals.
    return sendError(reply, { status, code: 'BAD_REQUEST', message: error.message });
  }
  request.log.error({ err: error }, 'request failed');
  return sendError(reply, apiErrors.internal);
}

export function handleNotFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendError(reply, {
    status: 404,
    code: 'ROUTE_NOT_FOUND',
    message: `Route ${request.method} ${request.url.split('?')[0]} not found`,
  });
}

/**
 * Errors before a request exists (unparseable HTTP, oversized headers, timeouts), answered in our error shape on
 * the raw socket, with a request id of their own and a log line like any request's, then the connection is
 * closed, as Node itself does. Fastify calls it with the instance as `this`.
 */
export function handleClientError(this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'HEADERS_TOO_LARGE', 'Request headers are too large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'REQUEST_TIMEOUT', 'The request took too long to arrive']
        : [400, 'BAD_REQUEST', 'Malformed HTTP request'];
  const reqId = randomUUID();
  // Fastify's `req` serializer logs `ip` as remoteAddress (and drops a remoteAddress given as such).
  const req = { ip: socket.remoteAddress };
  this.log.info({ reqId, req, res: { statusCode: status }, err: { code: error.code } }, 'request refused');
  const body = JSON.stringify({ error: message, code } satisfies ErrorBody);
  const headers = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'x-request-id': reqId,
    ...apiSecurityHeaderValues,
    connection: 'close',
  };
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  if (socket.writable) socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${head.join('')}\r\n${body}`);
  socket.destroy();
}

import { Type, type TSchema } from '@sinclair/typebox';
import type { EventSummary, Reservation, StoredApiKey } from '@ticketboss/domain';
import { visiblePrefix } from '../server/api-keys.js';
import { apiErrors, type ApiError, type ErrorBody } from '../plugins/errors.js';

/**
 * An error answer in a route's schema: the shared ErrorBody (serialized as any error is), what the status means on
 * this route, and an example of each error it can be, for the OpenAPI document.
 */
export function errorResponse(description: string, ...errors: readonly Pick<ApiError, 'code' | 'message'>[]) {
  const examples = errors.map(({ code, message }): ErrorBody => ({ error: message, code }));
  return Type.Unsafe<ErrorBody>(Type.Ref('ErrorBody', { description, examples }));
}

/** The 503 of the routes that reserve or cancel. */
export const contendedResponse = errorResponse(
  'The event is too busy to decide within the configured wait: nothing changed, safe to retry',
  apiErrors.contended,
);

/** The 409 of the routes that reserve. */
export const reserveConflictResponse = errorResponse(
  'Not enough seats left: nothing was reserved; or the same Idempotency-Key is in flight',
  apiErrors.insufficientSeats,
  apiErrors.idempotencyKeyInUse,
);

/** A 400 `VALIDATION_ERROR` as the error handler words it for a missing field. */
export const missingField = (field: string): ApiError => ({
  status: 400,
  code: 'VALIDATION_ERROR',
  message: `${field} is required`,
});

/** A schema as is, with what it means as the answer of one route (the OpenAPI response's description). */
export const described = <T extends TSchema>(schema: T, description: string): T => ({ ...schema, description });

export const EventSummaryBody = Type.Object(
  {
    eventId: Type.String(),
    name: Type.String(),
    totalSeats: Type.Integer(),
    availableSeats: Type.Integer(),
    reservedSeats: Type.Integer({ description: 'Seats of confirmed reservations' }),
    heldSeats: Type.Integer({
      description: 'Seats of live holds; availableSeats + heldSeats + reservedSeats = totalSeats',
    }),
    reservationCount: Type.Integer({ description: 'Number of confirmed reservations' }),
    maxSeatsPerReservation: Type.Integer(),
    version: Type.Integer({
      description:
        'Grows by one with every change applied to the event: a reservation, hold, cancellation, confirmation, ' +
        'expiry marked, or update; the ETag. A hold reaching its expiresAt changes availableSeats at once, and ' +
        'the version when the expiry is marked (by the next change, or the sweeper)',
    }),
  },
  {
    examples: [
      {
        eventId: 'jazz-night',
        name: 'Jazz night',
        totalSeats: 100,
        availableSeats: 94,
        reservedSeats: 2,
        heldSeats: 4,
        reservationCount: 1,
        maxSeatsPerReservation: 4,
        version: 1,
      },
    ],
  },
);

export function eventSummaryBody(summary: EventSummary) {
  return {
    eventId: summary.eventId,
    name: summary.name,
    totalSeats: summary.totalSeats,
    availableSeats: summary.availableSeats,
    reservedSeats: summary.reservedSeats,
    heldSeats: summary.heldSeats,
    reservationCount: summary.reservationCount,
    maxSeatsPerReservation: summary.maxSeatsPerReservation,
    version: summary.version,
  };
}

export const ReservationBody = Type.Object(
  {
    reservationId: Type.String({ format: 'uuid' }),
    eventId: Type.String(),
    partnerId: Type.String(),
    seats: Type.Integer(),
    status: Type.Union(
      [Type.Literal('held'), Type.Literal('confirmed'), Type.Literal('cancelled'), Type.Literal('expired')],
      {
        description: '`held` until `expiresAt` (then `expired`, seats back) unless confirmed',
      },
    ),
    createdAt: Type.String({ format: 'date-time' }),
    expiresAt: Type.Optional(
      Type.String({ format: 'date-time', description: 'On holds (`held` or `expired`): when the hold stops counting' }),
    ),
  },
  {
    examples: [
      {
        reservationId: '3f2c9a4e-8b1d-4c6e-9f0a-2d7b5e1c8a36',
        eventId: 'jazz-night',
        partnerId: 'acme',
        seats: 2,
        status: 'confirmed',
        createdAt: '2025-11-25T11:38:19.016Z',
      },
    ],
  },
);

export function reservationBody(reservation: Reservation) {
  return {
    reservationId: reservation.reservationId,
    eventId: reservation.eventId,
    partnerId: reservation.partnerId,
    seats: reservation.seats,
    status: reservation.status,
    createdAt: reservation.createdAt.toISOString(),
    // Only while it matters: a hold that was confirmed or cancelled no longer expires.
    ...(reservation.expiresAt && (reservation.status === 'held' || reservation.status === 'expired')
      ? { expiresAt: reservation.expiresAt.toISOString() }
      : {}),
  };
}

export const apiKeyExample = {
  id: 'k3v9q2m7x1b8n4c6',
  partnerId: 'acme',
  prefix: 'tb_k3v9q2m7x1b8n4c6_',
  token: 'tb_k3v9q2m7x1b8n4c6_Wq3xZ0vN8pL2rT6yH1sD4fG7jK9mB5cV0aE3uI8oP2w',
  createdAt: '2025-11-25T11:38:19.016Z',
};

export const ApiKeyBody = Type.Object(
  {
    id: Type.String(),
    partnerId: Type.String(),
    prefix: Type.String({ description: 'The start of the token: safe to show and log, to tell keys apart' }),
    token: Type.String({ description: 'Shown once, now; only its hash is kept' }),
    createdAt: Type.String({ format: 'date-time' }),
  },
  {
    examples: [apiKeyExample],
  },
);

export function apiKeyBody(key: StoredApiKey, token: string) {
  return {
    id: key.keyId,
    partnerId: key.partnerId,
    prefix: visiblePrefix(key.keyId),
    token,
    createdAt: key.createdAt.toISOString(),
  };
}

export const pageOf = <T extends TSchema>(item: T) =>
  Type.Object(
    {
      items: Type.Array(item),
      nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as cursor for the next page' }),
    },
    { examples: [{ items: Array.isArray(item.examples) ? item.examples : [], nextCursor: null }] },
  );

export const DEFAULT_PAGE_SIZE = 20;

/** Query strings are text and the API never coerces types: `limit` is matched as digits, 1 to 100. */
export const PageQuery = {
  limit: Type.Optional(Type.String({ pattern: '^(100|[1-9][0-9]?)$', description: '1 to 100, default 20' })),
  cursor: Type.Optional(
    Type.String({ minLength: 1, maxLength: 512, description: 'The nextCursor of the previous page, as is' }),
  ),
};

export const pageQueryMessages = {
  limit: 'limit must be a whole number from 1 to 100',
  cursor: apiErrors.invalidCursor.message,
};

export const pageSize = (limit: string | undefined): number =>
  limit === undefined ? DEFAULT_PAGE_SIZE : Number(limit);

/** Cursors are opaque to clients: the adapter's page position, base64url-encoded. */
export const encodeCursor = (position: string | undefined): string | null =>
  position === undefined ? null : Buffer.from(position, 'utf8').toString('base64url');

export const decodeCursor = (cursor: string | undefined): string | undefined =>
  cursor === undefined ? undefined : Buffer.from(cursor, 'base64url').toString('utf8');

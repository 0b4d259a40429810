import { Type, type TSchema } from '@sinclair/typebox';
import type { EventSummary, Reservation, StoredApiKey } from '@ticketboss/domain';
import { visiblePrefix } from '../api-keys.js';

export const EventSummaryBody = Type.Object({
  eventId: Type.String(),
  name: Type.String(),
  totalSeats: Type.Integer(),
  availableSeats: Type.Integer(),
  reservedSeats: Type.Integer({ description: 'Seats held by active reservations' }),
  reservationCount: Type.Integer({ description: 'Number of active reservations' }),
  maxSeatsPerReservation: Type.Integer(),
  version: Type.Integer({
    description: 'Grows by one with every accepted reservation, cancellation or update of the event; the ETag',
  }),
});

export function eventSummaryBody(summary: EventSummary) {
  return {
    eventId: summary.eventId,
    name: summary.name,
    totalSeats: summary.totalSeats,
    availableSeats: summary.availableSeats,
    reservedSeats: summary.reservedSeats,
    reservationCount: summary.reservationCount,
    maxSeatsPerReservation: summary.maxSeatsPerReservation,
    version: summary.version,
  };
}

export const ReservationBody = Type.Object({
  reservationId: Type.String({ format: 'uuid' }),
  eventId: Type.String(),
  partnerId: Type.String(),
  seats: Type.Integer(),
  status: Type.Union([Type.Literal('confirmed'), Type.Literal('cancelled')]),
  createdAt: Type.String({ format: 'date-time' }),
});

export function reservationBody(reservation: Reservation) {
  return {
    reservationId: reservation.reservationId,
    eventId: reservation.eventId,
    partnerId: reservation.partnerId,
    seats: reservation.seats,
    status: reservation.status,
    createdAt: reservation.createdAt.toISOString(),
  };
}

export const ApiKeyBody = Type.Object({
  id: Type.String(),
  partnerId: Type.String(),
  prefix: Type.String({ description: 'The start of the token: safe to show and log, to tell keys apart' }),
  token: Type.String({ description: 'Shown once, now; only its hash is kept' }),
  createdAt: Type.String({ format: 'date-time' }),
});

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
  Type.Object({
    items: Type.Array(item),
    nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as cursor for the next page' }),
  });

export const DEFAULT_PAGE_SIZE = 20;

/** Query strings are text and the API never coerces types: `limit` is matched as digits, 1 to 100. */
export const PageQuery = {
  limit: Type.Optional(Type.String({ pattern: '^(100|[1-9][0-9]?)$', description: '1 to 100, default 20' })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
};

export const pageQueryMessages = {
  limit: 'limit must be a whole number from 1 to 100',
  cursor: 'cursor is invalid; pass back a nextCursor as is',
};

export const pageSize = (limit: string | undefined): number =>
  limit === undefined ? DEFAULT_PAGE_SIZE : Number(limit);

/** Cursors are opaque to clients: the adapter's page position, base64url-encoded. */
export const encodeCursor = (position: string | undefined): string | null =>
  position === undefined ? null : Buffer.from(position, 'utf8').toString('base64url');

export const decodeCursor = (cursor: string | undefined): string | undefined =>
  cursor === undefined ? undefined : Buffer.from(cursor, 'base64url').toString('utf8');

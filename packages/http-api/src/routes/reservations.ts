import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import {
  MAX_PARTNER_ID_LENGTH,
  MAX_SEATS_PER_RESERVATION,
  MIN_SEATS_PER_RESERVATION,
  type ReservationService,
} from '@ticketboss/domain';
import { apiErrors, ErrorBody, invalidField, sendError } from '../errors.js';

export interface SeedReservationRoutesOptions {
  readonly reservations: ReservationService;
  /** The event the seed's unversioned routes act on. */
  readonly eventId: string;
}

const EventSummary = Type.Object({
  eventId: Type.String(),
  name: Type.String(),
  totalSeats: Type.Integer(),
  availableSeats: Type.Integer(),
  reservedSeats: Type.Integer({ description: 'Seats held by active reservations' }),
  reservationCount: Type.Integer({ description: 'Number of active reservations' }),
  version: Type.Integer({ description: 'Grows by one with every accepted reservation or cancellation' }),
});

// Property order matters: with both fields missing, the first one is named.
const ReserveBody = Type.Object({
  // Not blank, and no NUL (PostgreSQL text cannot hold it).
  partnerId: Type.String({ minLength: 1, maxLength: MAX_PARTNER_ID_LENGTH, pattern: '^(?=[\\s\\S]*\\S)[^\\u0000]*$' }),
  seats: Type.Integer({ minimum: MIN_SEATS_PER_RESERVATION, maximum: MAX_SEATS_PER_RESERVATION }),
});

const Reserved = Type.Object({
  reservationId: Type.String({ format: 'uuid' }),
  seats: Type.Integer(),
  status: Type.Literal('confirmed'),
});

const ReservationParams = Type.Object({ reservationId: Type.String() });

/** The seed's routes, exactly as the seed documents them, on one default event. */
export const seedReservationRoutes: FastifyPluginAsyncTypebox<SeedReservationRoutesOptions> = async (
  app,
  { reservations, eventId },
) => {
  app.get('/reservations', { schema: { response: { 200: EventSummary, 404: ErrorBody } } }, async (_request, reply) => {
    const outcome = await reservations.getEventSummary(eventId);
    if (outcome.kind === 'event_not_found') return sendError(reply, apiErrors.eventNotFound);
    const { summary } = outcome;
    return {
      eventId: summary.eventId,
      name: summary.name,
      totalSeats: summary.totalSeats,
      availableSeats: summary.availableSeats,
      reservedSeats: summary.reservedSeats,
      reservationCount: summary.reservationCount,
      version: summary.version,
    };
  });

  app.post(
    '/reservations',
    {
      schema: {
        body: ReserveBody,
        response: { 201: Reserved, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody },
      },
    },
    async (request, reply) => {
      const { partnerId, seats } = request.body;
      const outcome = await reservations.reserveSeats({ eventId, partnerId, seats });
      switch (outcome.kind) {
        case 'reserved':
          return reply.code(201).send({
            reservationId: outcome.reservation.reservationId,
            seats: outcome.reservation.seats,
            status: 'confirmed' as const,
          });
        case 'insufficient_seats':
          return sendError(reply, apiErrors.insufficientSeats);
        case 'invalid_seats':
          return sendError(reply, invalidField('seats'));
        case 'invalid_partner_id':
          return sendError(reply, invalidField('partnerId'));
        case 'event_not_found':
          return sendError(reply, apiErrors.eventNotFound);
        case 'contended':
          return sendError(reply, apiErrors.contended);
        default:
          return assertNever(outcome);
      }
    },
  );

  app.delete(
    '/reservations/:reservationId',
    {
      schema: {
        params: ReservationParams,
        response: {
          204: Type.Null({ description: 'Cancelled; the seats are back in the pool' }),
          404: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const outcome = await reservations.cancelReservation(request.params.reservationId);
      switch (outcome.kind) {
        case 'cancelled':
          return reply.code(204).send(null);
        case 'not_found':
          return sendError(reply, apiErrors.reservationNotFound);
        case 'already_cancelled':
          return sendError(reply, apiErrors.reservationAlreadyCancelled);
        case 'contended':
          return sendError(reply, apiErrors.contended);
        default:
          return assertNever(outcome);
      }
    },
  );
};

function assertNever(value: never): never {
  throw new Error(`unhandled outcome ${JSON.stringify(value)}`);
}

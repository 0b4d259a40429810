import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import {
  DEFAULT_MAX_SEATS_PER_RESERVATION,
  MAX_PARTNER_ID_LENGTH,
  MIN_SEATS_PER_RESERVATION,
  type ReservationService,
} from '@ticketboss/domain';
import { apiErrors, ErrorBody, sendError } from '../errors.js';
import { cancelErrorFor, reserveErrorFor } from './outcomes.js';
import { EventSummaryBody, eventSummaryBody } from './schemas.js';

/** `api-key`: POST and DELETE need a partner's key (the default). `none`: the seed's open behaviour. */
export type SeedAuth = 'api-key' | 'none';

export interface SeedReservationRoutesOptions {
  readonly reservations: ReservationService;
  /** The event the seed's unversioned routes act on. */
  readonly eventId: string;
  readonly auth: SeedAuth;
}

// The seed's summary: the /v1 one without the limit per reservation (the seed's is always 10).
const EventSummary = Type.Omit(EventSummaryBody, ['maxSeatsPerReservation']);

// Not blank, and no NUL (PostgreSQL text cannot hold it).
const PartnerId = Type.String({
  minLength: 1,
  maxLength: MAX_PARTNER_ID_LENGTH,
  pattern: '^(?=[\\s\\S]*\\S)[^\\u0000]*$',
});
const Seats = Type.Integer({ minimum: MIN_SEATS_PER_RESERVATION, maximum: DEFAULT_MAX_SEATS_PER_RESERVATION });

// Property order matters: with both fields missing, the first one is named.
const OpenReserveBody = Type.Object({ partnerId: PartnerId, seats: Seats });
// With API keys the partner is the key's; a partnerId sent anyway must be that partner.
const KeyedReserveBody = Type.Object({ partnerId: Type.Optional(PartnerId), seats: Seats });

const Reserved = Type.Object({
  reservationId: Type.String({ format: 'uuid' }),
  seats: Type.Integer(),
  status: Type.Literal('confirmed'),
});

const ReservationParams = Type.Object({ reservationId: Type.String() });

/** The seed's routes, as the seed documents them, on one default event. */
export const seedReservationRoutes: FastifyPluginAsyncTypebox<SeedReservationRoutesOptions> = async (
  app,
  { reservations, eventId, auth },
) => {
  const access = auth === 'api-key' ? ('partner' as const) : ('open' as const);

  app.get('/reservations', { schema: { response: { 200: EventSummary, 404: ErrorBody } } }, async (_request, reply) => {
    const outcome = await reservations.getEventSummary(eventId);
    if (outcome.kind === 'event_not_found') return sendError(reply, apiErrors.eventNotFound);
    const { maxSeatsPerReservation: _fixed, ...summary } = eventSummaryBody(outcome.summary);
    return summary;
  });

  app.post(
    '/reservations',
    {
      config: { access },
      schema: {
        body: auth === 'api-key' ? KeyedReserveBody : OpenReserveBody,
        response: { 201: Reserved, 400: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody },
      },
    },
    async (request, reply) => {
      const principal = request.principal;
      const keyed = principal?.kind === 'partner' ? principal.partnerId : undefined;
      const given = request.body.partnerId;
      if (keyed !== undefined && given !== undefined && given !== keyed) {
        return sendError(reply, apiErrors.otherPartner);
      }
      const partnerId = keyed ?? given;
      if (partnerId === undefined) throw new Error('no partner: the schema or the access check should have refused');
      const outcome = await reservations.reserveSeats({ eventId, partnerId, seats: request.body.seats });
      if (outcome.kind !== 'reserved') return sendError(reply, reserveErrorFor(outcome));
      return reply.code(201).send({
        reservationId: outcome.reservation.reservationId,
        seats: outcome.reservation.seats,
        status: 'confirmed' as const,
      });
    },
  );

  app.delete(
    '/reservations/:reservationId',
    {
      config: { access },
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
      const principal = request.principal;
      const outcome = await reservations.cancelReservation({
        reservationId: request.params.reservationId,
        eventId,
        // With API keys, a partner cancels only its own; another's answers 404 as a missing one would.
        ...(principal?.kind === 'partner' ? { partnerId: principal.partnerId } : {}),
      });
      if (outcome.kind === 'cancelled') return reply.code(204).send(null);
      return sendError(reply, cancelErrorFor(outcome));
    },
  );
};

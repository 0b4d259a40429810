import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyError } from 'fastify';
import { MIN_SEATS_PER_RESERVATION, type ReservationService } from '@ticketboss/domain';
import { partnerOf } from '../access.js';
import { apiErrors, ErrorBody, sendError } from '../errors.js';
import { cancelErrorFor, reserveErrorFor } from './outcomes.js';
import {
  decodeCursor,
  encodeCursor,
  pageOf,
  PageQuery,
  pageQueryMessages,
  pageSize,
  ReservationBody,
  reservationBody,
} from './schemas.js';

const messages = {
  status: 'status must be confirmed or cancelled',
  ...pageQueryMessages,
};

// The partner is the key's: a partnerId (or any other field) in the body is refused, not ignored.
const Reserve = Type.Object(
  { seats: Type.Integer({ minimum: MIN_SEATS_PER_RESERVATION }) },
  { additionalProperties: false },
);
const EventParams = Type.Object({ eventId: Type.String() });
const ReservationParams = Type.Object({ reservationId: Type.String() });
const ListQuery = Type.Object({
  status: Type.Optional(Type.Union([Type.Literal('confirmed'), Type.Literal('cancelled')])),
  ...PageQuery,
});

/** A body whose only fault is its `seats` value (present, but not a whole number of at least 1). */
function isBadSeatCount(error: { validation?: FastifyError['validation']; validationContext?: string }): boolean {
  const [first] = error.validation ?? [];
  return error.validationContext === 'body' && first?.instancePath === '/seats';
}

/** A partner's reservations: made with its key, visible and cancellable only with its keys. */
export const v1ReservationRoutes: FastifyPluginAsyncTypebox<{ reservations: ReservationService }> = async (
  app,
  { reservations },
) => {
  const config = { access: 'partner' as const, fieldMessages: messages };

  app.post(
    '/v1/events/:eventId/reservations',
    {
      config,
      // A bad number of seats is answered in the handler, which knows the event and so can name its limit.
      attachValidation: true,
      schema: {
        params: EventParams,
        body: Reserve,
        response: { 201: ReservationBody, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody },
      },
    },
    async (request, reply) => {
      const { partnerId } = partnerOf(request);
      const invalid = request.validationError;
      if (invalid && !isBadSeatCount(invalid)) throw invalid;
      const outcome = await reservations.reserveSeats({
        eventId: request.params.eventId,
        partnerId,
        // NaN is never a seat count: the use case answers with the event's limit (or that there is no event).
        seats: invalid ? Number.NaN : request.body.seats,
      });
      if (outcome.kind === 'reserved') return reply.code(201).send(reservationBody(outcome.reservation));
      return sendError(reply, reserveErrorFor(outcome));
    },
  );

  app.get(
    '/v1/events/:eventId/reservations',
    {
      config,
      schema: {
        params: EventParams,
        querystring: ListQuery,
        response: { 200: pageOf(ReservationBody), 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const { status, limit, cursor } = request.query;
      const outcome = await reservations.listReservations({
        partnerId: partnerOf(request).partnerId,
        eventId: request.params.eventId,
        status,
        limit: pageSize(limit),
        after: decodeCursor(cursor),
      });
      if (outcome.kind === 'event_not_found') return sendError(reply, apiErrors.eventNotFound);
      return { items: outcome.page.items.map(reservationBody), nextCursor: encodeCursor(outcome.page.next) };
    },
  );

  app.get(
    '/v1/reservations/:reservationId',
    { config, schema: { params: ReservationParams, response: { 200: ReservationBody, 404: ErrorBody } } },
    async (request, reply) => {
      const reservation = await reservations.getReservation(request.params.reservationId, partnerOf(request).partnerId);
      return reservation ? reservationBody(reservation) : sendError(reply, apiErrors.reservationNotFound);
    },
  );

  app.delete(
    '/v1/reservations/:reservationId',
    {
      config,
      schema: {
        params: ReservationParams,
        response: { 204: Type.Null({ description: 'Cancelled; the seats are back' }), 404: ErrorBody, 503: ErrorBody },
      },
    },
    async (request, reply) => {
      const outcome = await reservations.cancelReservation({
        reservationId: request.params.reservationId,
        partnerId: partnerOf(request).partnerId,
      });
      if (outcome.kind === 'cancelled') return reply.code(204).send(null);
      return sendError(reply, cancelErrorFor(outcome));
    },
  );
};

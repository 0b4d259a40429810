import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyError } from 'fastify';
import {
  MAX_HOLD_SECONDS,
  MIN_HOLD_SECONDS,
  MIN_SEATS_PER_RESERVATION,
  RESERVATION_STATUSES,
  type Attempt,
  type ConfirmHoldOutcome,
  type Idempotency,
  type Reservation,
  type ReservationService,
} from '@ticketboss/domain';
import { partnerOf } from '../../plugins/access.js';
import type { PartnerActivityRecorder } from '../../server/partner-activity.js';
import { apiErrors, invalidField, sendError } from '../../plugins/errors.js';
import {
  answerIdempotently,
  errorAnswer,
  IdempotencyKeyHeader,
  keyReusedResponse,
  replayable,
  jsonResponse,
  sendStored,
} from '../../plugins/idempotency.js';
import { cancelErrorFor, HOLD_SECONDS_MESSAGE, reserveAttempt } from '../outcomes.js';
import {
  contendedResponse,
  decodeCursor,
  described,
  encodeCursor,
  errorResponse,
  missingField,
  pageOf,
  PageQuery,
  pageQueryMessages,
  pageSize,
  ReservationBody,
  reservationBody,
  reserveConflictResponse,
} from '../schemas.js';

const messages = {
  status: `status must be one of ${RESERVATION_STATUSES.join(', ')}`,
  holdSeconds: HOLD_SECONDS_MESSAGE,
  'idempotency-key': apiErrors.invalidIdempotencyKey.message,
  ...pageQueryMessages,
};

// The partner is the key's: a partnerId (or any other field) in the body is refused, not ignored.
const Reserve = Type.Object(
  {
    seats: Type.Integer({ minimum: MIN_SEATS_PER_RESERVATION, description: "1 to the event's maxSeatsPerReservation" }),
    holdSeconds: Type.Optional(
      Type.Integer({
        minimum: MIN_HOLD_SECONDS,
        maximum: MAX_HOLD_SECONDS,
        description:
          'Hold the seats this many seconds instead of confirming them: the answer says `held` with `expiresAt`; ' +
          'confirm before then, or the seats go back on sale at that instant.',
      }),
    ),
  },
  { additionalProperties: false, examples: [{ seats: 2 }, { seats: 2, holdSeconds: 600 }] },
);
const EventParams = Type.Object({ eventId: Type.String({ examples: ['jazz-night'] }) });
const ReservationParams = Type.Object({
  reservationId: Type.String({ examples: ['3f2c9a4e-8b1d-4c6e-9f0a-2d7b5e1c8a36'] }),
});
const ListQuery = Type.Object({
  status: Type.Optional(
    Type.Union(
      RESERVATION_STATUSES.map((status) => Type.Literal(status)),
      { description: 'Only these; default all. `held` lists live holds, `expired` those past their expiry.' },
    ),
  ),
  ...PageQuery,
});

const tags = ['Reservations'];
const reservationNotFound = errorResponse(
  "No such reservation, or another partner's: the two answer alike",
  apiErrors.reservationNotFound,
);

/** A body whose only fault is its `seats` value (present, but not a whole number of at least 1). */
function isBadSeatCount(error: { validation?: FastifyError['validation']; validationContext?: string }): boolean {
  const [first] = error.validation ?? [];
  return error.validationContext === 'body' && first?.instancePath === '/seats';
}

/** A partner's reservations: made with its key, visible and cancellable only with its keys. */
const confirmTakesNoBody = {
  status: 400,
  code: 'VALIDATION_ERROR',
  message: 'confirm takes no body: send none, or {}',
} as const;

/** No body at all, or `{}`: all a confirmation may carry. */
function isEmptyBody(body: unknown): boolean {
  if (body === undefined || body === null) return true;
  return typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0;
}

const renderReservation = (reservation: Reservation) => jsonResponse(201, reservationBody(reservation));

function confirmAttempt(outcome: ConfirmHoldOutcome): Attempt<ConfirmHoldOutcome> {
  switch (outcome.kind) {
    case 'confirmed':
      return {
        result: outcome,
        answer: jsonResponse(200, reservationBody(outcome.reservation)),
        keep: outcome.recorded ? 'recorded' : 'record',
      };
    case 'hold_expired':
      return { result: outcome, answer: errorAnswer(apiErrors.holdExpired), keep: 'record' };
    case 'cancelled':
      return { result: outcome, answer: errorAnswer(apiErrors.reservationCancelled), keep: 'record' };
    case 'not_found':
      return { result: outcome, answer: errorAnswer(apiErrors.reservationNotFound), keep: 'discard' };
    case 'contended':
      return { result: outcome, answer: errorAnswer(apiErrors.contended), keep: 'discard' };
    case 'claim_lost':
      return { result: outcome, answer: errorAnswer(apiErrors.idempotencyKeyInUse), keep: 'discard' };
  }
}

export const v1ReservationRoutes: FastifyPluginAsyncTypebox<{
  reservations: ReservationService;
  idempotency: Idempotency;
  /** Where the partner's fresh decisions are counted for the console; absent: nowhere. */
  activity?: Pick<PartnerActivityRecorder, 'decided'>;
}> = async (app, { reservations, idempotency, activity }) => {
  const config = { access: 'partner' as const, fieldMessages: messages };

  app.post(
    '/v1/events/:eventId/reservations',
    {
      config,
      // A bad number of seats is answered in the handler, which knows the event and so can name its limit.
      attachValidation: true,
      schema: {
        tags,
        operationId: 'reserveSeats',
        summary: 'Reserve seats',
        description:
          "Accepted or refused at once, never oversold. The partner is the API key's: a `partnerId` in the body is " +
          'refused. With `holdSeconds` the seats are held, not confirmed. Send an `Idempotency-Key` to retry ' +
          'safely: a retry never books twice.',
        params: EventParams,
        headers: IdempotencyKeyHeader,
        body: Reserve,
        response: {
          201: replayable(described(ReservationBody, 'Reserved, or held until `expiresAt`')),
          400: errorResponse(
            "The body is not valid; `seats` outside 1 to the event's limit names that limit",
            { ...invalidField('seats'), message: 'seats must be between 1 and 4' },
            missingField('seats'),
            { code: 'VALIDATION_ERROR', message: 'partnerId cannot be set here' },
            apiErrors.invalidIdempotencyKey,
          ),
          404: errorResponse('No event has this id', apiErrors.eventNotFound),
          409: reserveConflictResponse,
          422: keyReusedResponse,
          503: contendedResponse,
        },
      },
    },
    async (request, reply) => {
      const { partnerId } = partnerOf(request);
      const invalid = request.validationError;
      if (invalid && !isBadSeatCount(invalid)) throw invalid;
      if (invalid) {
        // A 400 decides nothing, so its Idempotency-Key is not even claimed. NaN is never a seat count: the use
        // case answers with the event's limit (or that there is no event).
        const outcome = await reservations.reserveSeats({ eventId: request.params.eventId, partnerId, seats: NaN });
        return sendStored(reply, reserveAttempt(outcome, renderReservation).answer);
      }
      // Only a fresh attempt runs this: a replay of its Idempotency-Key gets the stored answer, counted once.
      return answerIdempotently(request, reply, idempotency, partnerId, async (claim) => {
        const outcome = await reservations.reserveSeats({
          eventId: request.params.eventId,
          partnerId,
          seats: request.body.seats,
          holdSeconds: request.body.holdSeconds,
          receipt: claim && { claim, render: renderReservation },
        });
        activity?.decided(partnerId, outcome);
        return reserveAttempt(outcome, renderReservation);
      });
    },
  );

  app.get(
    '/v1/events/:eventId/reservations',
    {
      config,
      schema: {
        tags,
        operationId: 'listReservations',
        summary: "List the partner's reservations of an event",
        description: 'Its own only, oldest first, a page at a time (`limit` 1-100, default 20).',
        params: EventParams,
        querystring: ListQuery,
        response: {
          200: described(pageOf(ReservationBody), 'A page of reservations'),
          400: errorResponse(
            '`status`, `limit` or `cursor` is not valid',
            invalidField('status', messages),
            invalidField('limit', messages),
            invalidField('cursor', messages),
          ),
          404: errorResponse('No event has this id', apiErrors.eventNotFound),
        },
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
    {
      config,
      schema: {
        tags,
        operationId: 'getReservation',
        summary: 'Get a reservation',
        params: ReservationParams,
        response: { 200: described(ReservationBody, 'The reservation'), 404: reservationNotFound },
      },
    },
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
        tags,
        operationId: 'cancelReservation',
        summary: 'Cancel a reservation',
        description: "The seats go back to the event. Another partner's reservation answers 404 and nothing changes.",
        params: ReservationParams,
        response: {
          204: Type.Null({ description: 'Cancelled; the seats are back' }),
          404: errorResponse(
            "No such reservation, or another partner's; or already cancelled",
            apiErrors.reservationNotFound,
            apiErrors.reservationAlreadyCancelled,
          ),
          410: errorResponse('A hold that already expired: its seats are back', apiErrors.holdExpired),
          503: contendedResponse,
        },
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

  app.post(
    '/v1/reservations/:reservationId/confirm',
    {
      config,
      schema: {
        tags,
        operationId: 'confirmHold',
        summary: 'Confirm a hold',
        description:
          'Turns your own live hold into a confirmed reservation; its seats stay taken. Confirming a confirmed ' +
          'reservation answers the same again. Takes an `Idempotency-Key` like the reservation does.',
        params: ReservationParams,
        headers: IdempotencyKeyHeader,
        response: {
          200: replayable(described(ReservationBody, 'Confirmed')),
          400: errorResponse(
            'A body other than none or `{}`, or an Idempotency-Key that is not 1 to 255 characters',
            confirmTakesNoBody,
            apiErrors.invalidIdempotencyKey,
          ),
          404: reservationNotFound,
          409: errorResponse(
            'The reservation was cancelled; or the same Idempotency-Key is in flight',
            apiErrors.reservationCancelled,
            apiErrors.idempotencyKeyInUse,
          ),
          410: errorResponse('The hold expired before it was confirmed: its seats are back', apiErrors.holdExpired),
          422: keyReusedResponse,
          503: contendedResponse,
        },
      },
    },
    async (request, reply) => {
      const { partnerId } = partnerOf(request);
      if (!isEmptyBody(request.body)) return sendError(reply, confirmTakesNoBody);
      return answerIdempotently(request, reply, idempotency, partnerId, async (claim) =>
        confirmAttempt(
          await reservations.confirmHold({
            reservationId: request.params.reservationId,
            partnerId,
            receipt: claim && { claim, render: (r) => jsonResponse(200, reservationBody(r)) },
          }),
        ),
      );
    },
  );
};

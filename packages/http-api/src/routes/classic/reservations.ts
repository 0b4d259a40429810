import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import {
  DEFAULT_MAX_SEATS_PER_RESERVATION,
  MAX_PARTNER_ID_LENGTH,
  MIN_SEATS_PER_RESERVATION,
  type Idempotency,
  type ReservationService,
} from '@ticketboss/domain';
import { apiErrors, invalidField, sendError } from '../../plugins/errors.js';
import type { PartnerActivityRecorder } from '../../server/partner-activity.js';
import {
  answerIdempotently,
  IdempotencyKeyHeader,
  jsonResponse,
  keyReusedResponse,
  replayable,
} from '../../plugins/idempotency.js';
import { cancelErrorFor, reserveAttempt } from '../outcomes.js';
import {
  contendedResponse,
  described,
  errorResponse,
  EventSummaryBody,
  eventSummaryBody,
  missingField,
  reserveConflictResponse,
} from '../schemas.js';

/** `api-key`: POST and DELETE need a partner's key (the default). `none`: the classic routes' open behaviour. */
export type SeedAuth = 'api-key' | 'none';

export interface SeedReservationRoutesOptions {
  readonly reservations: ReservationService;
  /** The event the classic routes act on (they name none). */
  readonly eventId: string;
  readonly auth: SeedAuth;
  readonly idempotency: Idempotency;
  /** Where a keyed partner's fresh decisions are counted for the console; absent: nowhere. */
  readonly activity?: Pick<PartnerActivityRecorder, 'decided'>;
}

// The classic summary, as the original TicketBoss had it: the /v1 one without the limit per reservation (always
// 10 here) and without heldSeats (holds are made through /v1 only; availableSeats leaves live holds out all the same).
const EventSummary = Type.Omit(EventSummaryBody, ['maxSeatsPerReservation', 'heldSeats'], {
  examples: [
    {
      eventId: 'node-meetup-2025',
      name: 'Node.js Meet-up',
      totalSeats: 500,
      availableSeats: 497,
      reservedSeats: 3,
      reservationCount: 1,
      version: 1,
    },
  ],
});

// Not blank, and no NUL (PostgreSQL text cannot hold it).
const PartnerId = Type.String({
  minLength: 1,
  maxLength: MAX_PARTNER_ID_LENGTH,
  pattern: '^(?=[\\s\\S]*\\S)[^\\u0000]*$',
});
const Seats = Type.Integer({ minimum: MIN_SEATS_PER_RESERVATION, maximum: DEFAULT_MAX_SEATS_PER_RESERVATION });

// Property order matters: with both fields missing, the first one is named.
const OpenReserveBody = Type.Object(
  { partnerId: PartnerId, seats: Seats },
  { examples: [{ partnerId: 'demo', seats: 3 }] },
);
// With API keys the partner is the key's; a partnerId sent anyway must be that partner.
const KeyedReserveBody = Type.Object(
  { partnerId: Type.Optional(PartnerId), seats: Seats },
  { examples: [{ seats: 3 }, { partnerId: 'demo', seats: 3 }] },
);

const Reserved = Type.Object(
  {
    reservationId: Type.String({ format: 'uuid' }),
    seats: Type.Integer(),
    status: Type.Literal('confirmed'),
  },
  { examples: [{ reservationId: '3f2c9a4e-8b1d-4c6e-9f0a-2d7b5e1c8a36', seats: 3, status: 'confirmed' }] },
);

const ReservationParams = Type.Object({ reservationId: Type.String({ description: 'The id the reservation got' }) });

const tags = ['Classic routes'];

const reservedBody = (reservation: { reservationId: string; seats: number }) =>
  jsonResponse(201, { reservationId: reservation.reservationId, seats: reservation.seats, status: 'confirmed' });

/**
 * The classic routes: the four routes of the original TicketBoss (Express and MongoDB), with its paths, status
 * codes, bodies and messages, on one default event.
 */
export const seedReservationRoutes: FastifyPluginAsyncTypebox<SeedReservationRoutesOptions> = async (
  app,
  { reservations, eventId, auth, idempotency, activity },
) => {
  const access = auth === 'api-key' ? ('partner' as const) : ('open' as const);

  app.get(
    '/reservations',
    {
      schema: {
        tags,
        operationId: 'getDefaultEventSummary',
        summary: "The default event's seats",
        description:
          '`reservationCount` counts confirmed reservations, `reservedSeats` their seats. Live holds (made through ' +
          '/v1) are in neither, and not in `availableSeats`.',
        response: {
          200: described(EventSummary, 'The summary of the default event'),
          404: errorResponse('The default event does not exist', apiErrors.eventNotFound),
        },
      },
    },
    async (_request, reply) => {
      const outcome = await reservations.getEventSummary(eventId);
      if (outcome.kind === 'event_not_found') return sendError(reply, apiErrors.eventNotFound);
      const { maxSeatsPerReservation: _fixed, heldSeats: _v1Only, ...summary } = eventSummaryBody(outcome.summary);
      return summary;
    },
  );

  app.post(
    '/reservations',
    {
      config: { access },
      schema: {
        tags,
        operationId: 'reserveOnDefaultEvent',
        summary: 'Reserve seats on the default event',
        description:
          auth === 'api-key'
            ? "The partner is the API key's: `partnerId` may be left out, and must be that partner if sent."
            : 'No API keys (`TICKETBOSS_AUTH=none`): the partner is the `partnerId` of the body.',
        headers: IdempotencyKeyHeader,
        body: auth === 'api-key' ? KeyedReserveBody : OpenReserveBody,
        response: {
          201: replayable(described(Reserved, "Reserved: the seats are the partner's")),
          400: errorResponse(
            'The body is not valid: the message names the field',
            missingField('seats'),
            invalidField('seats'),
            invalidField('partnerId'),
            { code: 'VALIDATION_ERROR', message: 'body must be a JSON object' },
            apiErrors.invalidIdempotencyKey,
          ),
          403: errorResponse(
            "Not a partner's API key, or a partnerId other than the key's",
            apiErrors.partnerOnly,
            apiErrors.otherPartner,
          ),
          404: errorResponse('The default event does not exist', apiErrors.eventNotFound),
          409: reserveConflictResponse,
          422: keyReusedResponse,
          503: contendedResponse,
        },
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
      const { seats } = request.body;
      // Only a fresh attempt runs this (a replay gets the stored answer), and only a key's partner is counted: with
      // TICKETBOSS_AUTH=none the partnerId of the body may be anything.
      return answerIdempotently(request, reply, idempotency, partnerId, async (claim) => {
        const outcome = await reservations.reserveSeats({
          eventId,
          partnerId,
          seats,
          receipt: claim && { claim, render: reservedBody },
        });
        if (keyed !== undefined) activity?.decided(keyed, outcome);
        return reserveAttempt(outcome, reservedBody);
      });
    },
  );

  app.delete(
    '/reservations/:reservationId',
    {
      config: { access },
      schema: {
        tags,
        operationId: 'cancelOnDefaultEvent',
        summary: 'Cancel a reservation of the default event',
        description:
          auth === 'api-key'
            ? "A partner cancels only its own reservations; anyone else's answers 404, as a missing one would."
            : 'No API keys (`TICKETBOSS_AUTH=none`): any reservation of the default event.',
        params: ReservationParams,
        response: {
          204: Type.Null({ description: 'Cancelled; the seats are back in the pool' }),
          404: errorResponse(
            "No such reservation of the default event (or not the partner's), or already cancelled",
            apiErrors.reservationNotFound,
            apiErrors.reservationAlreadyCancelled,
          ),
          410: errorResponse(
            'A hold (made through /v1) that already expired: its seats are back',
            apiErrors.holdExpired,
          ),
          503: contendedResponse,
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

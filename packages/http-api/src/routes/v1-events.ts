import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import {
  DEFAULT_MAX_SEATS_PER_RESERVATION,
  EVENT_ID_PATTERN,
  MAX_EVENT_NAME_LENGTH,
  MAX_SEATS_PER_RESERVATION_LIMIT,
  MAX_TOTAL_SEATS,
  type EventService,
  type EventSummary,
} from '@ticketboss/domain';
import type { FastifyReply } from 'fastify';
import { apiErrors, ErrorBody, invalidField, sendError } from '../errors.js';
import {
  decodeCursor,
  encodeCursor,
  EventSummaryBody,
  eventSummaryBody,
  pageOf,
  PageQuery,
  pageQueryMessages,
  pageSize,
} from './schemas.js';

const messages = {
  eventId: 'eventId must be 1 to 64 lowercase letters, digits or "-", starting with a letter or digit',
  name: `name must be a non-blank string of at most ${MAX_EVENT_NAME_LENGTH} characters`,
  totalSeats: `totalSeats must be a whole number from 0 to ${MAX_TOTAL_SEATS}`,
  maxSeatsPerReservation: `maxSeatsPerReservation must be a whole number from 1 to ${MAX_SEATS_PER_RESERVATION_LIMIT}`,
  'if-match': 'If-Match must be the quoted version from the ETag, for example "12"',
  ...pageQueryMessages,
};

// /v1 bodies refuse fields they do not know (a typo is an error, not a silently ignored field).
const CreateEvent = Type.Object(
  {
    eventId: Type.Optional(Type.String({ pattern: EVENT_ID_PATTERN, description: 'Generated when absent' })),
    name: Type.String({ minLength: 1, maxLength: MAX_EVENT_NAME_LENGTH }),
    totalSeats: Type.Integer({ minimum: 0, maximum: MAX_TOTAL_SEATS }),
    maxSeatsPerReservation: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_SEATS_PER_RESERVATION_LIMIT,
        default: DEFAULT_MAX_SEATS_PER_RESERVATION,
      }),
    ),
  },
  { additionalProperties: false },
);

const UpdateEvent = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_EVENT_NAME_LENGTH })),
    totalSeats: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_TOTAL_SEATS })),
  },
  // maxSeatsPerReservation is fixed at creation: sending it (or anything unknown) is refused, not ignored.
  { additionalProperties: false },
);

const EventParams = Type.Object({ eventId: Type.String() });
const IfMatch = Type.Object({ 'if-match': Type.Optional(Type.String()) });

/**
 * The version an If-Match header asks for: one strong entity tag as the ETag gives it (`"12"`), or `*` for any.
 * Anything else (a weak tag, which If-Match never matches, a list, garbage) matches no version.
 */
function expectedVersion(ifMatch: string | undefined): number | undefined | 'none' {
  if (ifMatch === undefined || ifMatch.trim() === '*') return undefined;
  const match = /^\s*"(\d{1,15})"\s*$/.exec(ifMatch);
  return match ? Number(match[1]) : 'none';
}

function sendSummary(reply: FastifyReply, summary: EventSummary, status = 200) {
  return reply.code(status).header('etag', `"${summary.version}"`).send(eventSummaryBody(summary));
}

/** Events: the admin creates and changes them; the admin and partners read them. */
export const eventRoutes: FastifyPluginAsyncTypebox<{ events: EventService }> = async (app, { events }) => {
  const admin = { access: 'admin' as const, fieldMessages: messages };
  const any = { access: 'any' as const, fieldMessages: messages };

  app.post(
    '/v1/events',
    {
      config: admin,
      schema: { body: CreateEvent, response: { 201: EventSummaryBody, 400: ErrorBody, 409: ErrorBody } },
    },
    async (request, reply) => {
      const { maxSeatsPerReservation = DEFAULT_MAX_SEATS_PER_RESERVATION, ...rest } = request.body;
      const outcome = await events.createEvent({ ...rest, maxSeatsPerReservation });
      switch (outcome.kind) {
        case 'created':
          return sendSummary(reply, outcome.event, 201);
        case 'already_exists':
          return sendError(reply, apiErrors.eventAlreadyExists);
        case 'invalid':
          return sendError(reply, invalidField(outcome.field, messages));
      }
    },
  );

  app.patch(
    '/v1/events/:eventId',
    {
      config: admin,
      schema: {
        params: EventParams,
        headers: IfMatch,
        body: UpdateEvent,
        response: { 200: EventSummaryBody, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, 412: ErrorBody },
      },
    },
    async (request, reply) => {
      const { name, totalSeats } = request.body;
      if (name === undefined && totalSeats === undefined) {
        return sendError(reply, { ...invalidField('body', messages), message: 'body must set name or totalSeats' });
      }
      const expected = expectedVersion(request.headers['if-match']);
      if (expected === 'none') return sendError(reply, apiErrors.versionMismatch);
      const outcome = await events.updateEvent(request.params.eventId, { name, totalSeats }, expected);
      switch (outcome.kind) {
        case 'updated':
          return sendSummary(reply, outcome.event);
        case 'event_not_found':
          return sendError(reply, apiErrors.eventNotFound);
        case 'version_mismatch':
          return sendError(reply, apiErrors.versionMismatch);
        case 'below_reserved':
          return sendError(reply, {
            status: 409,
            code: 'SEATS_BELOW_RESERVED',
            message: `totalSeats cannot be below the ${outcome.reservedSeats} seats already reserved`,
          });
        case 'invalid':
          return sendError(reply, invalidField(outcome.field, messages));
      }
    },
  );

  app.get(
    '/v1/events',
    {
      config: any,
      schema: { querystring: Type.Object(PageQuery), response: { 200: pageOf(EventSummaryBody), 400: ErrorBody } },
    },
    async (request) => {
      const page = await events.listEvents({
        limit: pageSize(request.query.limit),
        after: decodeCursor(request.query.cursor),
      });
      return { items: page.items.map(eventSummaryBody), nextCursor: encodeCursor(page.next) };
    },
  );

  app.get(
    '/v1/events/:eventId',
    { config: any, schema: { params: EventParams, response: { 200: EventSummaryBody, 404: ErrorBody } } },
    async (request, reply) => {
      const summary = await events.getEvent(request.params.eventId);
      return summary ? sendSummary(reply, summary) : sendError(reply, apiErrors.eventNotFound);
    },
  );
};

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
import { apiErrors, invalidField, sendError } from '../../plugins/errors.js';
import {
  decodeCursor,
  described,
  encodeCursor,
  errorResponse,
  EventSummaryBody,
  eventSummaryBody,
  pageOf,
  PageQuery,
  pageQueryMessages,
  pageSize,
  missingField,
} from '../schemas.js';

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
  {
    additionalProperties: false,
    examples: [{ eventId: 'jazz-night', name: 'Jazz night', totalSeats: 100, maxSeatsPerReservation: 4 }],
  },
);

const UpdateEvent = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_EVENT_NAME_LENGTH })),
    totalSeats: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_TOTAL_SEATS })),
  },
  // maxSeatsPerReservation is fixed at creation: sending it (or anything unknown) is refused, not ignored.
  { additionalProperties: false, examples: [{ totalSeats: 120 }, { name: 'Jazz night (late show)' }] },
);

const EventParams = Type.Object({ eventId: Type.String({ examples: ['jazz-night'] }) });
const IfMatch = Type.Object({
  'if-match': Type.Optional(
    Type.String({ description: 'The version the change is meant for, as the ETag gives it ("12"), or *' }),
  ),
});

const tags = ['Events'];
const etag = 'With `ETag: "<version>"`';
const eventNotFound = errorResponse('No event has this id', apiErrors.eventNotFound);

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
      schema: {
        tags,
        operationId: 'createEvent',
        summary: 'Create an event',
        description: 'The id is a UUID if absent. `maxSeatsPerReservation` (1-1000, default 10) is fixed at creation.',
        body: CreateEvent,
        response: {
          201: described(EventSummaryBody, `Created: the event's summary. ${etag}`),
          400: errorResponse(
            'The body is not valid: the message names the field',
            missingField('totalSeats'),
            invalidField('eventId', messages),
            { code: 'VALIDATION_ERROR', message: 'capacity cannot be set here' },
          ),
          409: errorResponse('An event with this id exists', apiErrors.eventAlreadyExists),
        },
      },
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
        tags,
        operationId: 'updateEvent',
        summary: "Change an event's name or total seats",
        description:
          'Reserved seats stay reserved and available seats move with the total; one change of `version`. ' +
          '`If-Match` is optional: with it, the change applies only to that version.',
        params: EventParams,
        headers: IfMatch,
        body: UpdateEvent,
        response: {
          200: described(EventSummaryBody, `Changed: the event's summary. ${etag}`),
          400: errorResponse(
            'The body or If-Match is not valid: the message names the field',
            { ...invalidField('body', messages), message: 'body must set name or totalSeats' },
            invalidField('totalSeats', messages),
            { code: 'VALIDATION_ERROR', message: 'maxSeatsPerReservation cannot be set here' },
          ),
          404: eventNotFound,
          409: errorResponse('`totalSeats` below the seats already reserved', {
            code: 'SEATS_BELOW_RESERVED',
            message: 'totalSeats cannot be below the 12 seats already reserved',
          }),
          412: errorResponse('The event is not at the version in If-Match', apiErrors.versionMismatch),
        },
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
      schema: {
        tags,
        operationId: 'listEvents',
        summary: 'List events',
        description: 'In id order, a page at a time.',
        querystring: Type.Object(PageQuery),
        response: {
          200: described(pageOf(EventSummaryBody), 'A page of events'),
          400: errorResponse(
            '`limit` or `cursor` is not valid',
            invalidField('limit', messages),
            invalidField('cursor', messages),
          ),
        },
      },
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
    {
      config: any,
      schema: {
        tags,
        operationId: 'getEvent',
        summary: 'Get an event',
        params: EventParams,
        response: { 200: described(EventSummaryBody, `The event's summary. ${etag}`), 404: eventNotFound },
      },
    },
    async (request, reply) => {
      const summary = await events.getEvent(request.params.eventId);
      return summary ? sendSummary(reply, summary) : sendError(reply, apiErrors.eventNotFound);
    },
  );
};

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { DEFAULT_PARTNER_WINDOW, type ConsoleStore } from '@ticketboss/domain';
import { apiErrors, invalidField, sendError } from '../../plugins/errors.js';
import {
  ActivityParams,
  ActivityQuery,
  activitySeconds,
  adminFieldMessages,
  EventActivityBody,
  eventActivityBody,
  EventOverviewBody,
  eventOverviewBody,
  EventsQuery,
  NO_STORE,
  notStored,
  PartnerOverviewBody,
  partnerOverviewBody,
  PartnersQuery,
} from '../admin-schemas.js';
import { decodeCursor, described, encodeCursor, errorResponse, pageOf, pageSize } from '../schemas.js';

const tags = ['Admin'];
const invalidPage = [invalidField('limit', adminFieldMessages), invalidField('cursor', adminFieldMessages)];

/**
 * What the operator console shows (and anyone with the admin token can read without it): events busiest first, one
 * event second by second, and what each partner did. All from the database, so every API process answers alike.
 */
export const adminRoutes: FastifyPluginAsyncTypebox<{ console: ConsoleStore }> = async (app, { console: store }) => {
  const config = { access: 'admin' as const, fieldMessages: adminFieldMessages };
  // On every answer of these routes, refusals and errors included: live figures, never to be kept by a cache.
  app.addHook('onSend', async (_request, reply) => {
    reply.header('cache-control', NO_STORE);
  });

  app.get(
    '/v1/admin/events',
    {
      config,
      schema: {
        tags,
        operationId: 'listEventOverviews',
        summary: 'Events, busiest first',
        description:
          'Every event with the summary GET /v1/events/{eventId} gives and its selling rate over the last minute: ' +
          'most seats sold per minute first, then most seats taken net, then by id. A page at a time.',
        querystring: EventsQuery,
        response: {
          200: notStored(described(pageOf(EventOverviewBody), 'A page of events')),
          400: errorResponse('`limit` or `cursor` is not valid', ...invalidPage),
        },
      },
    },
    async (request) => {
      const page = await store.listEventOverviews({
        limit: pageSize(request.query.limit),
        after: decodeCursor(request.query.cursor),
      });
      return { items: page.items.map(eventOverviewBody), nextCursor: encodeCursor(page.next) };
    },
  );

  app.get(
    '/v1/admin/events/:eventId/activity',
    {
      config,
      schema: {
        tags,
        operationId: 'getEventActivity',
        summary: "An event's last seconds, second by second",
        description:
          'Reservations, cancellations, holds taken, expired and confirmed, and available seats, one entry per ' +
          'second up to the current one (still filling), as columns; with the summary and rates of the same ' +
          'instant and an estimated sell-out time. Poll it every second for a live view.',
        params: ActivityParams,
        querystring: ActivityQuery,
        response: {
          200: notStored(described(EventActivityBody, "The event's activity")),
          400: errorResponse('`seconds` is not valid', invalidField('seconds', adminFieldMessages)),
          404: errorResponse('No event has this id', apiErrors.eventNotFound),
        },
      },
    },
    async (request, reply) => {
      const activity = await store.eventActivity(request.params.eventId, activitySeconds(request.query.seconds));
      if (!activity) return sendError(reply, apiErrors.eventNotFound);
      return eventActivityBody(activity);
    },
  );

  app.get(
    '/v1/admin/partners',
    {
      config,
      schema: {
        tags,
        operationId: 'listPartnerOverviews',
        summary: 'Partners, most requests first',
        description:
          'Every partner (zeros when idle) with its requests, new reservations and their seats, refusals for lack ' +
          'of seats and 429s over the window, its last request, and its failing webhook endpoints. Counts reach ' +
          'the database about a second after the requests.',
        querystring: PartnersQuery,
        response: {
          200: notStored(described(pageOf(PartnerOverviewBody), 'A page of partners')),
          400: errorResponse(
            '`window`, `limit` or `cursor` is not valid',
            invalidField('window', adminFieldMessages),
            ...invalidPage,
          ),
        },
      },
    },
    async (request) => {
      const { window = DEFAULT_PARTNER_WINDOW, limit, cursor } = request.query;
      const page = await store.listPartnerOverviews({
        window,
        limit: pageSize(limit),
        after: decodeCursor(cursor),
      });
      return { items: page.items.map(partnerOverviewBody), nextCursor: encodeCursor(page.next) };
    },
  );
};

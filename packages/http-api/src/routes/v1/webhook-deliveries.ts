import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { partnerOf } from '../../plugins/access.js';
import { apiErrors, invalidField, sendError } from '../../plugins/errors.js';
import type { WebhookEndpoints } from '../../webhooks/endpoints.js';
import {
  decodeCursor,
  described,
  encodeCursor,
  errorResponse,
  pageOf,
  PageQuery,
  pageQueryMessages,
  pageSize,
} from '../schemas.js';
import { AttemptBody, attemptBody, DeliveryParams, QueuedBody, WebhookParams } from '../webhook-schemas.js';

const messages = { failed: 'failed must be true or false', ...pageQueryMessages };
const tags = ['Webhooks'];
const webhookNotFound = errorResponse(
  "No such webhook, or another partner's: the two answer alike",
  apiErrors.webhookNotFound,
);

const DeliveriesQuery = Type.Object({
  failed: Type.Optional(
    Type.Union([Type.Literal('true'), Type.Literal('false')], { description: 'true: only failed attempts' }),
  ),
  ...PageQuery,
});

/** What was sent to a webhook, and sending again: a test message, or a delivery once more. */
export const webhookDeliveryRoutes: FastifyPluginAsyncTypebox<{ endpoints: WebhookEndpoints }> = async (
  app,
  { endpoints },
) => {
  const config = { access: 'partner' as const, fieldMessages: messages };

  app.post(
    '/v1/webhooks/:webhookId/test',
    {
      config,
      schema: {
        tags,
        operationId: 'testWebhook',
        summary: 'Send a test message',
        description:
          'Queues a `webhook.test` message to the endpoint, signed and retried like any other; its data is ' +
          '`{"webhookId", "message"}`. A disabled endpoint gets it once re-enabled.',
        params: WebhookParams,
        response: { 202: described(QueuedBody, 'Queued'), 404: webhookNotFound },
      },
    },
    async (request, reply) => {
      const delivery = await endpoints.sendTest(partnerOf(request).partnerId, request.params.webhookId);
      if (!delivery) return sendError(reply, apiErrors.webhookNotFound);
      return reply.code(202).send({ deliveryId: delivery.deliveryId });
    },
  );

  app.get(
    '/v1/webhooks/:webhookId/deliveries',
    {
      config,
      schema: {
        tags,
        operationId: 'listWebhookDeliveries',
        summary: "A webhook's delivery log",
        description:
          'Every attempt to POST to the endpoint, newest first, a page at a time: the status it answered or why ' +
          'it failed, and when the next attempt is due. `failed=true` keeps the failed attempts.',
        params: WebhookParams,
        querystring: DeliveriesQuery,
        response: {
          200: described(pageOf(AttemptBody), 'A page of attempts'),
          400: errorResponse(
            '`failed`, `limit` or `cursor` is not valid',
            invalidField('failed', messages),
            invalidField('limit', messages),
            invalidField('cursor', messages),
          ),
          404: webhookNotFound,
        },
      },
    },
    async (request, reply) => {
      const { failed, limit, cursor } = request.query;
      const page = await endpoints.listAttempts(partnerOf(request).partnerId, request.params.webhookId, {
        limit: pageSize(limit),
        cursor: decodeCursor(cursor),
        failedOnly: failed === 'true',
      });
      if (!page) return sendError(reply, apiErrors.webhookNotFound);
      return { items: page.items.map(attemptBody), nextCursor: encodeCursor(page.next) };
    },
  );

  app.post(
    '/v1/webhooks/:webhookId/deliveries/:deliveryId/redeliver',
    {
      config,
      schema: {
        tags,
        operationId: 'redeliverWebhook',
        summary: 'Send a delivery again',
        description:
          'Queues another attempt now, with the same `webhook-id` and payload, whether the delivery succeeded, ' +
          'failed or is still being retried.',
        params: DeliveryParams,
        response: {
          202: described(QueuedBody, 'Queued'),
          404: errorResponse(
            "No such webhook or delivery, or another partner's",
            apiErrors.webhookNotFound,
            apiErrors.deliveryNotFound,
          ),
        },
      },
    },
    async (request, reply) => {
      const { webhookId, deliveryId } = request.params;
      const outcome = await endpoints.redeliver(partnerOf(request).partnerId, webhookId, deliveryId);
      switch (outcome.kind) {
        case 'queued':
          return reply.code(202).send({ deliveryId: outcome.delivery.deliveryId });
        case 'webhook_not_found':
          return sendError(reply, apiErrors.webhookNotFound);
        case 'delivery_not_found':
          return sendError(reply, apiErrors.deliveryNotFound);
      }
    },
  );
};

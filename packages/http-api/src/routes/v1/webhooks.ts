import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { partnerOf } from '../../plugins/access.js';
import { apiErrors, sendError, type ApiError } from '../../plugins/errors.js';
import { webhookFieldMessages, type InvalidWebhook, type WebhookEndpoints } from '../../webhooks/endpoints.js';
import {
  decodeCursor,
  described,
  encodeCursor,
  errorResponse,
  missingField,
  pageOf,
  PageQuery,
  pageQueryMessages,
  pageSize,
} from '../schemas.js';
import {
  carriesSecret,
  RegisterWebhook,
  UpdateWebhook,
  WebhookBody,
  webhookBody,
  WebhookParams,
  WebhookWithSecretBody,
  webhookWithSecretBody,
} from '../webhook-schemas.js';

const messages = { ...webhookFieldMessages, ...pageQueryMessages };

const invalidWebhook = ({ message }: InvalidWebhook): ApiError => ({ status: 400, code: 'VALIDATION_ERROR', message });
const emptyUpdate: ApiError = {
  status: 400,
  code: 'VALIDATION_ERROR',
  message: 'body must set url, events, description or enabled',
};
const privateUrl = {
  code: 'VALIDATION_ERROR',
  message: 'url must reach a public address: 127.0.0.1 is a loopback address',
};

const tags = ['Webhooks'];
const webhookNotFound = errorResponse(
  "No such webhook, or another partner's: the two answer alike",
  apiErrors.webhookNotFound,
);
const NO_STORE = 'no-store';

/** A partner's webhook endpoints: registered, seen and changed only with its own API keys. */
export const webhookRoutes: FastifyPluginAsyncTypebox<{ endpoints: WebhookEndpoints }> = async (app, { endpoints }) => {
  const config = { access: 'partner' as const, fieldMessages: messages };

  app.post(
    '/v1/webhooks',
    {
      config,
      schema: {
        tags,
        operationId: 'registerWebhook',
        summary: 'Register a webhook endpoint',
        description:
          'Every change of one of your reservations, of the types in `events`, is then POSTed to `url`, signed ' +
          'with the `secret` of this answer (Standard Webhooks), which is shown only here. At most 20 per partner.',
        body: RegisterWebhook,
        response: {
          201: carriesSecret(described(WebhookWithSecretBody, 'Registered, with its signing secret')),
          400: errorResponse(
            'The body is not valid: the message names the field',
            missingField('url'),
            { code: 'VALIDATION_ERROR', message: webhookFieldMessages.url },
            privateUrl,
            { code: 'VALIDATION_ERROR', message: webhookFieldMessages.events },
          ),
          409: errorResponse('The partner already has 20 webhooks', apiErrors.webhookLimitReached),
        },
      },
    },
    async (request, reply) => {
      const outcome = await endpoints.register(partnerOf(request).partnerId, request.body);
      switch (outcome.kind) {
        case 'created':
          return reply.code(201).header('cache-control', NO_STORE).send(webhookWithSecretBody(outcome.endpoint));
        case 'limit_reached':
          return sendError(reply, apiErrors.webhookLimitReached);
        case 'invalid':
          return sendError(reply, invalidWebhook(outcome));
      }
    },
  );

  app.get(
    '/v1/webhooks',
    {
      config,
      schema: {
        tags,
        operationId: 'listWebhooks',
        summary: 'List your webhooks',
        description: 'Oldest first, a page at a time. Secrets are never shown again.',
        querystring: Type.Object(PageQuery),
        response: { 200: described(pageOf(WebhookBody), 'A page of your webhooks') },
      },
    },
    async (request) => {
      const page = await endpoints.list(partnerOf(request).partnerId, {
        limit: pageSize(request.query.limit),
        after: decodeCursor(request.query.cursor),
      });
      return { items: page.items.map(webhookBody), nextCursor: encodeCursor(page.next) };
    },
  );

  app.get(
    '/v1/webhooks/:webhookId',
    {
      config,
      schema: {
        tags,
        operationId: 'getWebhook',
        summary: 'Get a webhook',
        params: WebhookParams,
        response: { 200: described(WebhookBody, 'The webhook'), 404: webhookNotFound },
      },
    },
    async (request, reply) => {
      const endpoint = await endpoints.find(partnerOf(request).partnerId, request.params.webhookId);
      return endpoint ? webhookBody(endpoint) : sendError(reply, apiErrors.webhookNotFound);
    },
  );

  app.patch(
    '/v1/webhooks/:webhookId',
    {
      config,
      schema: {
        tags,
        operationId: 'updateWebhook',
        summary: 'Change, disable or re-enable a webhook',
        description:
          'Only the fields sent change. `enabled: false` stops sending (changes are still recorded and wait); ' +
          '`enabled: true` resumes, also after TicketBoss disabled the endpoint, and clears `failingSince` and ' +
          '`disabledReason`.',
        params: WebhookParams,
        body: UpdateWebhook,
        response: {
          200: described(WebhookBody, 'Changed'),
          400: errorResponse('The body is not valid: the message names the field', emptyUpdate, privateUrl, {
            code: 'VALIDATION_ERROR',
            message: webhookFieldMessages.enabled,
          }),
          404: webhookNotFound,
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      if (Object.values(body).every((value) => value === undefined)) return sendError(reply, emptyUpdate);
      const outcome = await endpoints.update(partnerOf(request).partnerId, request.params.webhookId, body);
      switch (outcome.kind) {
        case 'updated':
          return webhookBody(outcome.endpoint);
        case 'not_found':
          return sendError(reply, apiErrors.webhookNotFound);
        case 'invalid':
          return sendError(reply, invalidWebhook(outcome));
      }
    },
  );

  app.delete(
    '/v1/webhooks/:webhookId',
    {
      config,
      schema: {
        tags,
        operationId: 'deleteWebhook',
        summary: 'Delete a webhook',
        description: 'Nothing more is sent to it, retries included; its delivery log goes with it.',
        params: WebhookParams,
        response: { 204: Type.Null({ description: 'Deleted' }), 404: webhookNotFound },
      },
    },
    async (request, reply) => {
      const deleted = await endpoints.remove(partnerOf(request).partnerId, request.params.webhookId);
      return deleted ? reply.code(204).send(null) : sendError(reply, apiErrors.webhookNotFound);
    },
  );

  app.post(
    '/v1/webhooks/:webhookId/rotate-secret',
    {
      config,
      schema: {
        tags,
        operationId: 'rotateWebhookSecret',
        summary: "Replace a webhook's secret",
        description:
          'The new secret is shown only in this answer and signs from now on; for 24 hours the old one signs ' +
          'alongside it (two signatures in `webhook-signature`), so receivers can switch without losing a message.',
        params: WebhookParams,
        response: {
          200: carriesSecret(described(WebhookWithSecretBody, 'The webhook with its new secret')),
          404: webhookNotFound,
        },
      },
    },
    async (request, reply) => {
      const endpoint = await endpoints.rotateSecret(partnerOf(request).partnerId, request.params.webhookId);
      if (!endpoint) return sendError(reply, apiErrors.webhookNotFound);
      return reply.header('cache-control', NO_STORE).send(webhookWithSecretBody(endpoint));
    },
  );
};

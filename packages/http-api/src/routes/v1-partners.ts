import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { MAX_PARTNER_NAME_LENGTH, PARTNER_ID_PATTERN, type PartnerService } from '@ticketboss/domain';
import { apiErrors, ErrorBody, invalidField, sendError } from '../errors.js';
import { ApiKeyBody, apiKeyBody } from './schemas.js';

const messages = {
  partnerId: 'partnerId must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit',
  name: `name must be a non-blank string of at most ${MAX_PARTNER_NAME_LENGTH} characters`,
  keyId: 'API key not found',
};

const CreatePartner = Type.Object(
  {
    partnerId: Type.String({ pattern: PARTNER_ID_PATTERN }),
    name: Type.String({ minLength: 1, maxLength: MAX_PARTNER_NAME_LENGTH }),
  },
  { additionalProperties: false },
);

const Created = Type.Object({ partnerId: Type.String(), name: Type.String(), apiKey: ApiKeyBody });
const PartnerParams = Type.Object({ partnerId: Type.String() });
const KeyParams = Type.Object({ partnerId: Type.String(), keyId: Type.String() });

/** Admin: partners and their API keys. */
export const partnerRoutes: FastifyPluginAsyncTypebox<{ partners: PartnerService }> = async (app, { partners }) => {
  const config = { access: 'admin' as const, fieldMessages: messages };

  app.post(
    '/v1/partners',
    { config, schema: { body: CreatePartner, response: { 201: Created, 400: ErrorBody, 409: ErrorBody } } },
    async (request, reply) => {
      const outcome = await partners.createPartner(request.body);
      switch (outcome.kind) {
        case 'created':
          return reply.code(201).send({
            partnerId: outcome.partner.partnerId,
            name: outcome.partner.name,
            apiKey: apiKeyBody(outcome.key, outcome.token),
          });
        case 'already_exists':
          return sendError(reply, apiErrors.partnerAlreadyExists);
        case 'invalid':
          return sendError(reply, invalidField(outcome.field, messages));
      }
    },
  );

  app.post(
    '/v1/partners/:partnerId/keys',
    { config, schema: { params: PartnerParams, response: { 201: ApiKeyBody, 404: ErrorBody } } },
    async (request, reply) => {
      const outcome = await partners.issueKey(request.params.partnerId);
      if (outcome.kind === 'partner_not_found') return sendError(reply, apiErrors.partnerNotFound);
      return reply.code(201).send(apiKeyBody(outcome.key, outcome.token));
    },
  );

  app.delete(
    '/v1/partners/:partnerId/keys/:keyId',
    {
      config,
      schema: {
        params: KeyParams,
        response: { 204: Type.Null({ description: 'Revoked: the key stops working at once' }), 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const { partnerId, keyId } = request.params;
      const outcome = await partners.revokeKey(partnerId, keyId);
      if (outcome.kind === 'key_not_found') return sendError(reply, apiErrors.apiKeyNotFound);
      return reply.code(204).send(null);
    },
  );
};

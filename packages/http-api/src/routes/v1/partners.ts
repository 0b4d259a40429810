import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type TSchema } from '@sinclair/typebox';
import { MAX_PARTNER_NAME_LENGTH, PARTNER_ID_PATTERN, type PartnerService } from '@ticketboss/domain';
import { apiErrors, invalidField, sendError } from '../../plugins/errors.js';
import { ApiKeyBody, apiKeyBody, apiKeyExample, described, errorResponse, missingField } from '../schemas.js';

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
  { additionalProperties: false, examples: [{ partnerId: 'acme', name: 'Acme Tickets' }] },
);

const Created = Type.Object(
  { partnerId: Type.String(), name: Type.String(), apiKey: ApiKeyBody },
  { examples: [{ partnerId: 'acme', name: 'Acme Tickets', apiKey: apiKeyExample }] },
);
const PartnerId = Type.String({ examples: ['acme'] });
const PartnerParams = Type.Object({ partnerId: PartnerId });
const KeyParams = Type.Object({
  partnerId: PartnerId,
  keyId: Type.String({ description: 'The `id` of the key', examples: ['k3v9q2m7x1b8n4c6'] }),
});

const tags = ['Partners'];

/**
 * An answer that carries a new token: no cache, the browser's included, may keep it (the token is shown once, and
 * only its hash is kept here).
 */
function carriesToken<T extends TSchema>(schema: T): T {
  const headers = {
    'Cache-Control': { type: 'string', enum: ['no-store'], description: 'Always `no-store`: the answer holds a token' },
  };
  return { ...schema, headers };
}
const NO_STORE = 'no-store';

/** Admin: partners and their API keys. */
export const partnerRoutes: FastifyPluginAsyncTypebox<{ partners: PartnerService }> = async (app, { partners }) => {
  const config = { access: 'admin' as const, fieldMessages: messages };

  app.post(
    '/v1/partners',
    {
      config,
      schema: {
        tags,
        operationId: 'createPartner',
        summary: 'Create a partner and its first API key',
        description: 'The token is shown once, in this answer; only its hash is kept.',
        body: CreatePartner,
        response: {
          201: carriesToken(described(Created, 'Created, with its first API key')),
          400: errorResponse(
            'The body is not valid: the message names the field',
            missingField('name'),
            invalidField('partnerId', messages),
          ),
          409: errorResponse('A partner with this id exists', apiErrors.partnerAlreadyExists),
        },
      },
    },
    async (request, reply) => {
      const outcome = await partners.createPartner(request.body);
      switch (outcome.kind) {
        case 'created':
          return reply
            .code(201)
            .header('cache-control', NO_STORE)
            .send({
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
    {
      config,
      schema: {
        tags,
        operationId: 'createApiKey',
        summary: 'Give a partner a new API key',
        description: 'For rotation: the old keys keep working until they are revoked. The token is shown once.',
        params: PartnerParams,
        response: {
          201: carriesToken(described(ApiKeyBody, 'The new key')),
          404: errorResponse('No partner has this id', apiErrors.partnerNotFound),
        },
      },
    },
    async (request, reply) => {
      const outcome = await partners.issueKey(request.params.partnerId);
      if (outcome.kind === 'partner_not_found') return sendError(reply, apiErrors.partnerNotFound);
      return reply.code(201).header('cache-control', NO_STORE).send(apiKeyBody(outcome.key, outcome.token));
    },
  );

  app.delete(
    '/v1/partners/:partnerId/keys/:keyId',
    {
      config,
      schema: {
        tags,
        operationId: 'revokeApiKey',
        summary: 'Revoke an API key',
        description: 'The key stops working at once, in every API process. Revoking it again answers 204 again.',
        params: KeyParams,
        response: {
          204: Type.Null({ description: 'Revoked: the key stops working at once' }),
          404: errorResponse("No such key, or another partner's", apiErrors.apiKeyNotFound),
        },
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

import { readFileSync } from 'node:fs';
import helmet from '@fastify/helmet';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Type, type TSchema } from '@sinclair/typebox';
import type { FastifyContextConfig, FastifyInstance, FastifySchema } from 'fastify';
import type { Access } from './access.js';
import { apiErrors, type ApiError, type ErrorBody } from './errors.js';
import { errorResponse } from '../routes/schemas.js';
import { docsSecurityHeaders } from './security-headers.js';

const DOCS_PREFIX = '/docs';
const OPENAPI_PATH = '/openapi.json';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const description = `
Partner-facing REST API for reserving general-admission seats at events: instant accept or deny, never oversold,
never "no" while seats remain.

**Authentication.** Every \`/v1\` route needs \`Authorization: Bearer <token>\`: the admin token or a partner's API
key, as each route says. No token, a wrong one or a revoked one: 401 \`UNAUTHORIZED\`; the wrong kind of token for
the route: 403 \`FORBIDDEN\`.

**Errors.** Every error body is \`{"error": "<message>", "code": "<STABLE_CODE>"}\`: match on \`code\`, show
\`error\` to people. An unknown route answers 404 \`ROUTE_NOT_FOUND\`.

**Rate limits.** Each request is counted against its API key (or, without a valid key, its client address) by a
token bucket. Counted answers carry \`RateLimit-Policy\` and \`RateLimit\` headers; over the limit the answer is
429 \`RATE_LIMITED\` with \`Retry-After\`.

**Request ids.** Every response carries \`X-Request-Id\`: yours if you sent a sane one (letters, digits, \`._:-\`,
up to 128 characters), and the same id is on every log line of that request.

**Paging.** Pass \`nextCursor\` back as \`cursor\` until it is \`null\`.
`.trim();

const tags = [
  { name: 'Reservations', description: "A partner's reservations, made and seen with its API key" },
  {
    name: 'Webhooks',
    description: "A partner's endpoints, told of every change of its reservations (Standard Webhooks)",
  },
  { name: 'Events', description: 'The admin creates and changes events; the admin and partners read them' },
  { name: 'Partners', description: 'The admin manages partners and their API keys' },
  {
    name: 'Admin',
    description: "What the operator console (/console) shows: events' sales second by second, partners' activity",
  },
  {
    name: 'Classic routes',
    description: 'The four routes of the original TicketBoss, on the event `node-meetup-2025`',
  },
  { name: 'Operations', description: 'Liveness, readiness and metrics' },
];

// One scheme per kind of token: the docs page's "Authorize" holds both, and each route asks for the one it takes.
const securitySchemes = {
  partnerApiKey: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'tb_<16-character id>_<43 characters>',
    description: "A partner's API key: `Authorization: Bearer <key>`. The partner is the key's.",
  },
  adminToken: {
    type: 'http',
    scheme: 'bearer',
    description: 'The admin token (`TICKETBOSS_ADMIN_TOKEN`): `Authorization: Bearer <token>`.',
  },
} as const;

const securityOf: Record<Access, Array<Record<string, string[]>> | undefined> = {
  open: undefined,
  any: [{ adminToken: [] }, { partnerApiKey: [] }],
  admin: [{ adminToken: [] }],
  partner: [{ partnerApiKey: [] }],
};

/** An error answer as routes declare it (see `errorResponse`), plus the headers it carries, for the document. */
interface ErrorResponseSchema {
  readonly $ref: 'ErrorBody';
  readonly description?: string;
  readonly examples?: readonly ErrorBody[];
  readonly headers?: Readonly<Record<string, TSchema>>;
}

const isErrorResponse = (schema: unknown): schema is ErrorResponseSchema =>
  typeof schema === 'object' && schema !== null && (schema as { $ref?: unknown }).$ref === 'ErrorBody';

const header = (description: string, schema: TSchema = Type.String()): TSchema => ({ ...schema, description });

function withHeaders(response: ErrorResponseSchema, headers: Record<string, TSchema>): ErrorResponseSchema {
  return { ...response, headers };
}

// errorResponse's schema is typed for routes (as the body it stands for); here it is the plain object it is.
const rejected = (description: string, ...errors: ApiError[]): ErrorResponseSchema =>
  errorResponse(description, ...errors) as unknown as ErrorResponseSchema;

/**
 * The error answers a route can give whatever its handler does, from its access and its schema: the access check's
 * 401, 403 and 429, the body parser's and validator's 400, 413 and 415, and the error handler's 500 and 503 (a
 * lock or statement timeout on any database read, the key lookup included, or a database that cannot be reached). A route's own schema declares the
 * answers only it gives, and may describe one of these more closely for itself.
 */
function standardErrorResponses(
  config: Pick<FastifyContextConfig, 'access' | 'unlimited'>,
  schema: FastifySchema,
): Record<string, ErrorResponseSchema> {
  const { access = 'open', unlimited = false } = config;
  const responses: Record<string, ErrorResponseSchema> = {};
  if (schema.body !== undefined || schema.querystring !== undefined || schema.headers !== undefined) {
    responses[400] = rejected(
      'The request is not valid: the message names the field',
      ...(schema.body === undefined ? [] : [apiErrors.invalidJson]),
    );
  }
  if (access !== 'open') {
    responses[401] = withHeaders(rejected('No token, or a wrong or revoked one', apiErrors.unauthorized), {
      'WWW-Authenticate': header('Always `Bearer realm="ticketboss"`'),
    });
  }
  if (access === 'admin') responses[403] = rejected("A partner's key, not the admin token", apiErrors.adminOnly);
  if (access === 'partner') responses[403] = rejected("The admin token, not a partner's key", apiErrors.partnerOnly);
  if (schema.body !== undefined) {
    responses[413] = rejected('The body is larger than 64 KiB', apiErrors.payloadTooLarge);
    responses[415] = rejected('`Content-Type` is not `application/json`', apiErrors.unsupportedMediaType);
  }
  // An unlimited route that needs a token counts the requests it refuses: past the limit, those answer 429.
  if (!unlimited || access !== 'open') {
    const over = unlimited
      ? 'Too many refused tokens (401, 403) from this address or partner: nothing was done; the right token is never counted'
      : 'Over the rate limit: nothing was done';
    responses[429] = withHeaders(rejected(over, apiErrors.rateLimited), {
      'Retry-After': header('Seconds until the next request fits', Type.Integer({ minimum: 1 })),
      'RateLimit-Policy': header(
        'The bucket: `"per-partner";q=<burst>;w=<seconds an empty bucket takes to refill>` (`"per-address"` without a key)',
      ),
      RateLimit: header('What is left: `"per-partner";r=<requests left>;t=<seconds until the bucket is full>`'),
    });
  }
  responses[500] = rejected('Anything unexpected; the cause is in the log, never in the body', apiErrors.internal);
  // Liveness and readiness probes (open and never counted) do not go through the use cases.
  if (access !== 'open' || !unlimited) {
    responses[503] = withHeaders(
      rejected(
        'The database is too busy to answer in time (nothing changed), or cannot be reached; retry after the ' +
          'delay, with the same Idempotency-Key for a change',
        apiErrors.contended,
        apiErrors.databaseUnavailable,
      ),
      { 'Retry-After': header('Seconds to wait before retrying', Type.Integer({ minimum: 1 })) },
    );
  }
  return responses;
}

/**
 * An error answer as the document shows it: ErrorBody, one example per message named by its code (the route's
 * first, then the standard ones), and the headers of that status.
 */
function documentedError(own: ErrorResponseSchema | undefined, standard: ErrorResponseSchema | undefined) {
  const examples: Record<string, { summary: string; value: ErrorBody }> = {};
  for (const value of [...(own?.examples ?? []), ...(standard?.examples ?? [])]) {
    if (Object.values(examples).some((example) => example.value.error === value.error)) continue;
    let name = value.code;
    for (let n = 2; name in examples; n++) name = `${value.code} (${n})`;
    examples[name] = { summary: value.error, value };
  }
  const headers = own?.headers ?? standard?.headers;
  return {
    description: own?.description ?? standard?.description,
    ...(headers ? { headers } : {}),
    content: { 'application/json': { schema: { $ref: 'ErrorBody' }, examples } },
  };
}

function documentedResponses(route: FastifyContextConfig, schema: FastifySchema): Record<string, unknown> {
  const own = (schema.response ?? {}) as Record<string, unknown>;
  const standard = standardErrorResponses(route, schema);
  const responses: Record<string, unknown> = {};
  // Integer keys keep ascending order in a JavaScript object, so the statuses come out sorted.
  for (const status of new Set([...Object.keys(own), ...Object.keys(standard)])) {
    const mine = own[status];
    responses[status] = mine === undefined || isErrorResponse(mine) ? documentedError(mine, standard[status]) : mine;
  }
  return responses;
}

/**
 * The OpenAPI 3.1 document of every route registered after this call, at /openapi.json, and the docs page at
 * /docs with all its assets served from here (it works with no internet access). Neither needs a token nor is
 * counted by the rate limit: they describe the API, and a page load fetches several files at once.
 */
export function registerOpenApi(app: FastifyInstance): void {
  void app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'TicketBoss API', version, description },
      // Relative: the server that serves the document, wherever it runs.
      servers: [{ url: '/', description: 'The server that serves this document' }],
      tags,
      components: { securitySchemes },
    },
    // Shared schemas keep their names: ErrorBody is #/components/schemas/ErrorBody.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
    transform: ({ schema, url, route }) => {
      if (schema.hide) return { schema, url };
      const config = route.config ?? {};
      const security = securityOf[config.access ?? 'open'];
      return {
        url,
        schema: {
          ...schema,
          tags: schema.tags ?? ['Operations'],
          ...(security ? { security } : {}),
          response: documentedResponses(config, schema),
        },
      };
    },
  });

  void app.register(async (docs) => {
    docs.addHook('onRoute', (route) => {
      route.config = { ...route.config, unlimited: true };
    });
    // The page's own policy, set after (and so over) the API's strict one, for the routes of this plugin only.
    await docs.register(helmet, docsSecurityHeaders);
    await docs.register(swaggerUi, {
      routePrefix: DOCS_PREFIX,
      uiConfig: { deepLinking: true, docExpansion: 'list', tryItOutEnabled: false },
      theme: { title: 'TicketBoss API' },
    });
    docs.get(OPENAPI_PATH, { schema: { hide: true } }, async () => docs.swagger());
  });
}

import { randomUUID } from 'node:crypto';
import helmet from '@fastify/helmet';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  Clock,
  ConsoleStore,
  EventService,
  Idempotency,
  PartnerService,
  ReservationService,
  WebhookStore,
} from '@ticketboss/domain';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { installAccessControl, type RateLimit } from '../plugins/access.js';
import { consoleRoutes } from '../plugins/console.js';
import { apiErrors, ErrorBody, handleClientError, handleError, handleNotFound, sendError } from '../plugins/errors.js';
import type { Metrics } from '../plugins/metrics.js';
import { registerOpenApi } from '../plugins/openapi.js';
import type { PartnerActivityRecorder } from './partner-activity.js';
import type { ReadinessCheck } from './readiness.js';
import { OneLinePerRequest } from '../plugins/request-log.js';
import { apiSecurityHeaders, apiSecurityHeaderValues } from '../plugins/security-headers.js';
import { healthRoutes } from '../routes/classic/health.js';
import { metricsRoutes } from '../routes/classic/metrics.js';
import { seedReservationRoutes, type SeedAuth } from '../routes/classic/reservations.js';
import { adminRoutes } from '../routes/v1/admin.js';
import { eventRoutes } from '../routes/v1/events.js';
import { partnerRoutes } from '../routes/v1/partners.js';
import { v1ReservationRoutes } from '../routes/v1/reservations.js';
import { webhookDeliveryRoutes } from '../routes/v1/webhook-deliveries.js';
import { webhookRoutes } from '../routes/v1/webhooks.js';
import { createWebhookEndpoints } from '../webhooks/endpoints.js';
import type { ResolveHost } from '../webhooks/urls.js';

export interface AppDeps {
  readonly reservations: ReservationService;
  readonly events: EventService;
  readonly partners: PartnerService;
  /** Partners' webhook endpoints and their deliveries. */
  readonly webhooks: WebhookStore;
  /** What the operator console's admin routes read. */
  readonly console: ConsoleStore;
  /** Counts what each partner's requests got, for the console's partners table; absent: nothing is counted. */
  readonly partnerActivity?: PartnerActivityRecorder;
  /** Whose time stamps webhook endpoints and secret rotations: the services' (the database's). */
  readonly clock: Clock;
  /**
   * TICKETBOSS_WEBHOOK_ALLOW_PRIVATE: webhook URLs may reach loopback, private and link-local addresses (default
   * false). `resolveHost`: how their hostnames are resolved (the system's resolver by default).
   */
  readonly webhookUrls?: { readonly allowPrivate: boolean; readonly resolveHost?: ResolveHost };
  /** Idempotency-Key records of the routes that take one. */
  readonly idempotency: Idempotency;
  /** The event behind the classic routes, which name none. */
  readonly defaultEventId: string;
  /** Whether the classic POST and DELETE need a partner's API key. */
  readonly seedAuth: SeedAuth;
  /** SHA-256 of the admin token; without it the admin routes answer 401 to everyone. */
  readonly adminTokenHash: Buffer | undefined;
  /** Absent: requests are not rate limited. */
  readonly rateLimit?: RateLimit;
  /** Absent: no /metrics. */
  readonly metrics?: Metrics;
  /** What /ready checks; absent (tests of HTTP alone): always ready. */
  readonly readiness?: ReadinessCheck;
  /**
   * Fastify's `trustProxy` (TICKETBOSS_TRUST_PROXY): which peers' X-Forwarded-For names the client, whose address
   * then counts for per-address rate limits and goes in the log. Absent: none, the socket's address.
   */
  readonly trustProxy?: boolean | readonly string[];
  /** Omit for no logging (tests). */
  readonly logger?: FastifyBaseLogger;
}

export const BODY_LIMIT_BYTES = 64 * 1024;

const alwaysReady: ReadinessCheck = async () => ({ ready: true, checks: { database: 'ok', migrations: 'ok' } });

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Builds the HTTP API without listening, so tests can `inject()` and start.ts can `listen()`. */
export function buildApp(deps: AppDeps): FastifyInstance {
  const { metrics } = deps;
  const logController = new OneLinePerRequest();
  const observe = (request: FastifyRequest, reply: FastifyReply) =>
    metrics?.observeRequest(
      request.method,
      request.routeOptions.url ?? 'unmatched',
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
  const app = createFastify(deps, logController, observe);
  installRequestHooks(app);
  installAccessControl(app, {
    partners: deps.partners,
    adminTokenHash: deps.adminTokenHash,
    rateLimit: deps.rateLimit,
  });
  registerOpenApi(app);

  const activity = deps.partnerActivity;
  if (activity) {
    app.addHook('onResponse', async (request, reply) => {
      if (request.principal?.kind === 'partner') activity.answered(request.principal.partnerId, reply.statusCode);
    });
  }
  if (metrics) {
    app.addHook('onResponse', async (request, reply) => observe(request, reply));
    void app.register(metricsRoutes, { metrics });
  }
  void app.register(healthRoutes, { readiness: deps.readiness ?? alwaysReady });
  void app.register(seedReservationRoutes, {
    reservations: deps.reservations,
    eventId: deps.defaultEventId,
    auth: deps.seedAuth,
    idempotency: deps.idempotency,
    activity,
  });
  void app.register(partnerRoutes, { partners: deps.partners });
  void app.register(eventRoutes, { events: deps.events });
  void app.register(v1ReservationRoutes, {
    reservations: deps.reservations,
    idempotency: deps.idempotency,
    activity,
  });
  void app.register(adminRoutes, { console: deps.console });
  const endpoints = createWebhookEndpoints({
    store: deps.webhooks,
    clock: deps.clock,
    allowPrivate: deps.webhookUrls?.allowPrivate ?? false,
    resolveHost: deps.webhookUrls?.resolveHost,
  });
  void app.register(webhookRoutes, { endpoints });
  void app.register(webhookDeliveryRoutes, { endpoints });
  void app.register(consoleRoutes);
  return app;
}

type Observe = (request: FastifyRequest, reply: FastifyReply) => void;

/** Fastify with the request ids, body limits, parsing rules and error paths every answer relies on. */
function createFastify(
  { logger, trustProxy = false }: Pick<AppDeps, 'logger' | 'trustProxy'>,
  logController: OneLinePerRequest,
  observe: Observe,
) {
  return Fastify({
    ...(logger ? { loggerInstance: logger } : { logger: false }),
    logController,
    trustProxy: typeof trustProxy === 'boolean' ? trustProxy : [...trustProxy],
    bodyLimit: BODY_LIMIT_BYTES,
    // Any id that fits in a request line reaches its route (and is answered "not found" there), not the 404 of
    // unknown routes; Node caps the request line at 16 KiB anyway.
    routerOptions: { maxParamLength: 16 * 1024 },
    // A caller's X-Request-Id is kept when it is sane, so partners can correlate their logs with ours.
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // URL decoding failures and the like go through the same handler as every other error. No hook runs for
    // them, and they are neither logged nor counted on their own: request id, security headers, log line and
    // count are done here.
    frameworkErrors: (error, request, reply) => {
      reply.header('x-request-id', request.id).headers(apiSecurityHeaderValues);
      reply.raw.once('finish', () => {
        logController.requestCompleted(null, request, reply);
        observe(request, reply);
      });
      void handleError(error, request, reply);
    },
    clientErrorHandler: handleClientError,
    // Node would answer an HTTP/1.1 request without Host itself, with an empty 400; it is refused below instead,
    // in the error shape and with a request id like every other answer.
    http: { requireHostHeader: false },
    // During shutdown, requests already on open connections are still served (and then close the connection);
    // new connections are refused by the closed listener.
    return503OnClosing: false,
    // Valid JSON with __proto__ or constructor.prototype keys: the keys are dropped (like any unknown field),
    // never applied to objects.
    onProtoPoisoning: 'remove',
    onConstructorPoisoning: 'remove',
    ajv: {
      // "3" is not a number of seats: no type coercion, and bodies are never rewritten by validation.
      customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
}

/** Security headers, JSON only, X-Request-Id and Host, keep-alive ended while closing, and the error handlers. */
function installRequestHooks(app: FastifyInstance): void {
  // First, so that its headers are on every answer a hook gives too (refusals by access control, 429s).
  void app.register(helmet, apiSecurityHeaders);
  // JSON only: without this, Fastify would parse text/plain bodies into strings.
  app.removeContentTypeParser('text/plain');
  app.addSchema(ErrorBody);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // HTTP/1.1 requires Host (RFC 9112 section 3.2); HTTP/1.0 does not.
    if (request.headers.host === undefined && request.raw.httpVersion === '1.1') {
      return sendError(reply, apiErrors.missingHost);
    }
  });
  // While closing, answers in flight end their keep-alive connection, so close() need not wait for it to idle out.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler(handleNotFound);
}

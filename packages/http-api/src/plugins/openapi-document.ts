import { DEFAULT_EVENT } from '@ticketboss/domain';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppDeps } from '../server/app.js';
import { createMetrics } from './metrics.js';

/**
 * A service the document never calls: the routes need one to be built, and none of them is called to describe them.
 * Every method throws, so a request answered by mistake fails loudly.
 */
function unavailable<T extends object>(name: string): T {
  // The proxy stands for any service interface, whatever its methods.
  return new Proxy({} as T, {
    get: (_target, method) => () => {
      throw new Error(`${name}.${String(method)}: no services behind the app that generates the OpenAPI document`);
    },
  });
}

/** The app as `pnpm start` builds it, with no services behind its routes: enough to describe them. */
export function buildAppWithoutServices(overrides: Partial<AppDeps> = {}): FastifyInstance {
  return buildApp({
    reservations: unavailable('reservations'),
    events: unavailable('events'),
    partners: unavailable('partners'),
    idempotency: unavailable('idempotency'),
    webhooks: unavailable('webhooks'),
    console: unavailable('console'),
    clock: unavailable('clock'),
    defaultEventId: DEFAULT_EVENT.eventId,
    seedAuth: 'api-key',
    adminTokenHash: undefined,
    metrics: createMetrics(),
    ...overrides,
  });
}

/**
 * The OpenAPI document of the app as `pnpm start` serves it (API keys on the classic routes, /metrics on), as
 * pretty-printed JSON with a trailing newline. It holds nothing that changes between runs: the same code gives the
 * same bytes.
 */
export async function generateOpenApiDocument(): Promise<string> {
  const app = buildAppWithoutServices();
  try {
    await app.ready();
    return `${JSON.stringify(app.swagger(), null, 2)}\n`;
  } finally {
    await app.close();
  }
}

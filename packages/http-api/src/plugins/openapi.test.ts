import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildAppWithoutServices, generateOpenApiDocument } from './openapi-document.js';
import { createMemoryRateLimiter } from './rate-limit.js';

interface Operation {
  readonly operationId?: string;
  readonly tags?: readonly string[];
  readonly security?: ReadonlyArray<Record<string, readonly string[]>>;
  readonly responses: Record<
    string,
    { content?: Record<string, { examples?: Record<string, unknown> }>; headers?: Record<string, unknown> }
  >;
}

interface Document {
  readonly openapi: string;
  readonly paths: Record<string, Record<string, Operation>>;
  readonly components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> };
}

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function documentOf(built: FastifyInstance): Promise<Document> {
  const response = await built.inject({ method: 'GET', url: '/openapi.json' });
  expect(response.statusCode).toBe(200);
  return response.json<Document>();
}

const statuses = (operation: Operation | undefined) => Object.keys(operation?.responses ?? {});

describe('the OpenAPI document', () => {
  it('is served at /openapi.json without a token, as OpenAPI 3.1, the same as `pnpm openapi` writes', async () => {
    app = buildAppWithoutServices();
    const served = await documentOf(app);
    expect(served.openapi).toBe('3.1.0');
    expect(served).toEqual(JSON.parse(await generateOpenApiDocument()));
  });

  it('is the same bytes every time it is generated', async () => {
    expect(await generateOpenApiDocument()).toBe(await generateOpenApiDocument());
  });

  it('lists every route the app serves, except the docs themselves', async () => {
    app = buildAppWithoutServices();
    const served: string[] = [];
    app.addHook('onRoute', (route) => {
      if (route.schema?.hide || route.method === 'HEAD') return;
      for (const method of [route.method].flat()) {
        served.push(`${method.toLowerCase()} ${route.url.replace(/:(\w+)/g, '{$1}')}`);
      }
    });
    const documented = Object.entries((await documentOf(app)).paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method} ${path}`),
    );
    expect(served.length).toBeGreaterThan(10);
    expect(documented.sort()).toEqual(served.filter((route) => route !== 'get /openapi.json').sort());
  });

  it("gives a partner's reservation every answer it can get, the bearer scheme it needs, and examples", async () => {
    app = buildAppWithoutServices();
    const document = await documentOf(app);
    const reserve = document.paths['/v1/events/{eventId}/reservations']?.post;
    expect(statuses(reserve)).toEqual([
      '201',
      '400',
      '401',
      '403',
      '404',
      '409',
      '413',
      '415',
      '422',
      '429',
      '500',
      '503',
    ]);
    expect(reserve?.security).toEqual([{ partnerApiKey: [] }]);
    expect(reserve?.tags).toEqual(['Reservations']);
    expect(Object.keys(reserve?.responses[201]?.headers ?? {})).toEqual(['Idempotent-Replayed']);
    const parameters = (reserve as { parameters?: { name: string; in: string }[] } | undefined)?.parameters ?? [];
    expect(parameters).toContainEqual(expect.objectContaining({ name: 'idempotency-key', in: 'header' }));
    expect(Object.keys(reserve?.responses[400]?.content?.['application/json']?.examples ?? {})).toContain(
      'INVALID_JSON',
    );
    expect(document.components.securitySchemes).toMatchObject({
      partnerApiKey: { type: 'http', scheme: 'bearer' },
      adminToken: { type: 'http', scheme: 'bearer' },
    });
    expect(Object.keys(document.components.schemas)).toContain('ErrorBody');
  });

  it("matches each route's access: any token, admin only, open, and never counted", async () => {
    app = buildAppWithoutServices();
    const { paths } = await documentOf(app);
    const listEvents = paths['/v1/events']?.get;
    expect(listEvents?.security).toEqual([{ adminToken: [] }, { partnerApiKey: [] }]);
    // Any token will do: there is no wrong kind, so no 403.
    expect(statuses(listEvents)).toEqual(['200', '400', '401', '429', '500', '503']);
    expect(paths['/v1/partners']?.post?.security).toEqual([{ adminToken: [] }]);
    expect(paths['/reservations']?.get?.security).toBeUndefined();
    expect(statuses(paths['/reservations']?.get)).toEqual(['200', '404', '429', '500', '503']);
    expect(paths['/health']?.get?.security).toBeUndefined();
    expect(statuses(paths['/health']?.get)).toEqual(['200', '500']);
  });
});

describe('the docs page', () => {
  it('is served with all its assets, needs no token, and is not counted by the rate limit', async () => {
    const policy = { perSecond: 1, burst: 1 };
    app = buildAppWithoutServices({ rateLimit: { policy, limiter: createMemoryRateLimiter(policy) } });
    const page = await app.inject({ method: 'GET', url: '/docs' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] ?? '');
    expect(assets.length).toBeGreaterThan(3);
    for (const asset of assets) expect(asset).toMatch(/^\/docs\/static\//);
    for (const url of [...assets, '/docs/json', '/openapi.json', '/openapi.json', '/docs']) {
      const response = await app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(200);
      expect(response.headers.ratelimit, url).toBeUndefined();
    }
    // The same client is counted on the API's routes.
    const counted = await app.inject({ method: 'GET', url: '/v1/events' });
    expect(counted.statusCode).toBe(401);
    expect(counted.headers.ratelimit).toBeDefined();
  });
});

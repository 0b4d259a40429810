import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import helmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { consoleSecurityHeaders } from './security-headers.js';

/**
 * packages/http-api/console: two folders up from this module, which is src/plugins/console.ts when run from source
 * (tsx, tests) and dist/plugins/console.js when built, so the same URL finds it from both. The image copies the
 * folder beside dist/ (see the Dockerfile).
 */
const CONSOLE_ROOT = fileURLToPath(new URL('../../console/', import.meta.url));
/** uPlot's browser build, from the installed package: the page loads nothing from anywhere else. */
const UPLOT_DIST = dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'));
const UPLOT_FILES = new Set(['/uPlot.iife.min.js', '/uPlot.min.css']);

const PAGE_PATHS = ['/console', '/console/'];
const ASSETS_PREFIX = '/console/assets/';

/**
 * None of these files has a version in its name, so a browser asks again each time (a 304 while unchanged, thanks
 * to the ETag) and a new deployment never meets an old script in a cache.
 */
function revalidate(reply: FastifyReply): void {
  reply.header('cache-control', 'no-cache');
}

/**
 * The operator console's page at /console and its assets under /console/assets/ (uPlot's under
 * /console/assets/vendor/). They hold no data (the page reads it from the admin routes with the token it asks
 * for), so they are open; like /docs they are not counted by the rate limit, since one page load fetches five
 * files at once. Their answers carry the console's own Content-Security-Policy.
 */
export async function consoleRoutes(app: FastifyInstance): Promise<void> {
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, unlimited: true };
  });
  // Set after (and so over) the API's strict policy, for the routes of this plugin only.
  await app.register(helmet, consoleSecurityHeaders);
  await app.register(fastifyStatic, {
    root: `${CONSOLE_ROOT}assets`,
    prefix: ASSETS_PREFIX,
    index: false,
    cacheControl: false,
    setHeaders: revalidate,
  });
  await app.register(fastifyStatic, {
    root: UPLOT_DIST,
    prefix: `${ASSETS_PREFIX}vendor/`,
    index: false,
    cacheControl: false,
    setHeaders: revalidate,
    decorateReply: false,
    allowedPath: (path) => UPLOT_FILES.has(path),
  });
  for (const url of PAGE_PATHS) {
    app.get(url, { schema: { hide: true } }, (_request, reply: FastifyReply) =>
      reply.sendFile('index.html', CONSOLE_ROOT),
    );
  }
}

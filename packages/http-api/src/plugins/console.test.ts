import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryRateLimiter } from './rate-limit.js';
import { createAppWithDatabase, type AppWithDatabase } from '../testing/app-with-database.js';

/** A rate limit whose clock never moves: a fourth counted request from one address would be refused. */
const policy = { perSecond: 1, burst: 3 };
let t: AppWithDatabase;

beforeAll(async () => {
  t = await createAppWithDatabase({ rateLimit: { policy, limiter: createMemoryRateLimiter(policy, () => 0) } });
});
afterAll(() => t?.close());

const get = (url: string, headers: Record<string, string> = {}) => t.app.inject({ method: 'GET', url, headers });

const CONSOLE_CSP = [
  "default-src 'self'",
  "base-uri 'none'",
  "connect-src 'self'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "img-src 'self' data:",
  "object-src 'none'",
  "script-src 'self'",
  "script-src-attr 'none'",
  "style-src 'self'",
  "require-trusted-types-for 'script'",
].join(';');

describe('the console page and its assets', () => {
  it('/console and /console/ answer the page, with its own strict policy and no caching without asking', async () => {
    const page = await readFile(new URL('../../console/index.html', import.meta.url), 'utf8');
    for (const url of ['/console', '/console/']) {
      const response = await get(url);
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(response.body).toBe(page);
      expect(response.headers['content-security-policy']).toBe(CONSOLE_CSP);
      expect(response.headers).toMatchObject({
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
      });
      expect(response.headers.etag).toEqual(expect.any(String));
    }
  });

  it('serves its script and style, and uPlot from the installed package, each revalidated by its ETag', async () => {
    const uplotDist = new URL('.', `file://${createRequire(import.meta.url).resolve('uplot/dist/uPlot.min.css')}`);
    const assets = [
      [
        '/console/assets/console.js',
        /^(text|application)\/javascript; charset=utf-8$/,
        new URL('../../console/assets/console.js', import.meta.url),
      ],
      [
        '/console/assets/console.css',
        /^text\/css; charset=utf-8$/,
        new URL('../../console/assets/console.css', import.meta.url),
      ],
      [
        '/console/assets/vendor/uPlot.iife.min.js',
        /^(text|application)\/javascript; charset=utf-8$/,
        new URL('uPlot.iife.min.js', uplotDist),
      ],
      ['/console/assets/vendor/uPlot.min.css', /^text\/css; charset=utf-8$/, new URL('uPlot.min.css', uplotDist)],
    ] as const;
    for (const [url, type, file] of assets) {
      const response = await get(url);
      expect(response.statusCode, url).toBe(200);
      expect(response.headers['content-type']).toMatch(type);
      expect(response.body).toBe(await readFile(file, 'utf8'));
      expect(response.headers['content-security-policy']).toBe(CONSOLE_CSP);
      expect(response.headers['cache-control']).toBe('no-cache');
      const again = await get(url, { 'if-none-match': String(response.headers.etag) });
      expect(again.statusCode, url).toBe(304);
    }
  });

  it('serves nothing else from those folders: the 404 of unknown routes', async () => {
    for (const url of [
      '/console/assets/index.html',
      '/console/assets/../index.html',
      '/console/assets/%2e%2e/tsconfig.json',
      '/console/assets/vendor/uPlot.esm.js',
      '/console/assets/vendor/uPlot.d.ts',
      '/console/assets/vendor/../../tsconfig.json',
      '/console/assets/nothing.js',
      '/console/index.html',
    ]) {
      const response = await get(url);
      expect(response.statusCode, url).toBeGreaterThanOrEqual(400);
      expect(response.statusCode, url).toBeLessThan(500);
      expect(response.body, url).not.toContain('function');
      expect(response.body, url).not.toContain('compilerOptions');
    }
    expect((await get('/console/assets/nothing.js')).json()).toMatchObject({ code: 'ROUTE_NOT_FOUND' });
  });

  it('is not counted by the rate limit: a page load is five requests at once', async () => {
    for (let i = 0; i < 3; i += 1) {
      for (const url of ['/console', '/console/assets/console.js', '/console/assets/vendor/uPlot.iife.min.js']) {
        expect((await get(url)).statusCode, url).toBe(200);
      }
    }
  });

  it('is left out of the OpenAPI document', async () => {
    const document = (await get('/openapi.json')).json<{ paths: Record<string, unknown> }>();
    expect(Object.keys(document.paths).filter((path) => path.startsWith('/console'))).toEqual([]);
  });
});

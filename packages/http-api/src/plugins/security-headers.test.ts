import { connect } from 'node:net';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryRateLimiter } from './rate-limit.js';
import { createAppWithDatabase, TEST_ADMIN_TOKEN, type AppWithDatabase } from '../testing/app-with-database.js';

/** A rate limit whose clock never moves, so that a key's fourth request is refused. */
const policy = { perSecond: 1, burst: 3 };
let t: AppWithDatabase;
let partner: string;

beforeAll(async () => {
  t = await createAppWithDatabase({
    seedAuth: 'api-key',
    rateLimit: { policy, limiter: createMemoryRateLimiter(policy, () => 0) },
  });
  partner = await t.createPartner('headers');
});
afterAll(() => t.close());

const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' };
const API_CSP = "default-src 'none';base-uri 'none';form-action 'none';frame-ancestors 'none'";

function expectApiSecurityHeaders(response: LightMyRequestResponse | { headers: Record<string, unknown> }) {
  expect(response.headers).toMatchObject({
    'x-content-type-options': 'nosniff',
    'content-security-policy': API_CSP,
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
  });
  expect(response.headers['x-request-id']).toEqual(expect.any(String));
}

describe('security headers', () => {
  it('the answers that carry a new API token are never stored by a cache', async () => {
    const created = await t.app.inject({
      method: 'POST',
      url: '/v1/partners',
      headers: admin,
      payload: { partnerId: 'cached-not', name: 'Cached Not' },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ apiKey: { token: expect.any(String) } });
    expect(created.headers['cache-control']).toBe('no-store');
    const rotated = await t.app.inject({
      method: 'POST',
      url: '/v1/partners/cached-not/keys',
      headers: { authorization: admin.authorization },
    });
    expect(rotated.statusCode).toBe(201);
    expect(rotated.json()).toMatchObject({ token: expect.any(String) });
    expect(rotated.headers['cache-control']).toBe('no-store');
    expectApiSecurityHeaders(rotated);
  });

  it('every kind of JSON answer has them, and keeps the headers it had', async () => {
    const bearer = { authorization: `Bearer ${partner}` };
    const reserve = () =>
      t.app.inject({
        method: 'POST',
        url: '/v1/events/node-meetup-2025/reservations',
        headers: { ...bearer, 'content-type': 'application/json', 'idempotency-key': 'headers-1' },
        payload: { seats: 1 },
      });
    const event = await t.app.inject({ url: '/v1/events/node-meetup-2025', headers: bearer });
    expect(event.headers.etag).toMatch(/^"\d+"$/);
    const first = await reserve();
    const replayed = await reserve();
    expect([first.statusCode, replayed.statusCode]).toEqual([201, 201]);
    expect(replayed.headers['idempotent-replayed']).toBe('true');
    expect(replayed.headers.ratelimit).toEqual(expect.any(String));
    const limited = await t.app.inject({ url: '/v1/events', headers: bearer });
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('1');
    const unauthorized = await t.app.inject({ url: '/v1/events', remoteAddress: '10.9.9.9' });
    expect(unauthorized.statusCode).toBe(401);
    expect(unauthorized.headers['www-authenticate']).toBe('Bearer realm="ticketboss"');
    const health = await t.app.inject({ url: '/health' });
    const notFound = await t.app.inject({ url: '/nowhere' });
    const badUrl = await t.app.inject({ url: '/v1/reservations/%ZZ' });
    expect(badUrl.statusCode).toBe(400);
    const metrics = await t.app.inject({ url: '/metrics', headers: admin });
    for (const response of [event, first, replayed, limited, unauthorized, health, notFound, badUrl, metrics]) {
      expectApiSecurityHeaders(response);
    }
  });

  it('answers written on the raw socket have them too', async () => {
    const address = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(address).port), '127.0.0.1', () =>
        socket.write(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`),
      );
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    const head = answer.slice(0, answer.indexOf('\r\n\r\n')).split('\r\n').slice(1);
    const headers = Object.fromEntries(
      head.map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]),
    );
    expectApiSecurityHeaders({ headers });
  });

  it('/docs has a policy of its own: this origin only, never framed', async () => {
    for (const url of ['/docs', '/docs/static/swagger-initializer.js', '/openapi.json']) {
      const response = await t.app.inject({ url });
      expect(response.statusCode).toBe(200);
      const csp = String(response.headers['content-security-policy']);
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self';");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toMatch(/https:|\*/);
      expect(response.headers['x-frame-options']).toBe('DENY');
      expect(response.headers['x-content-type-options']).toBe('nosniff');
    }
  });
});

import { Writable } from 'node:stream';
import { createTestDatabase, waitUntil, type TestDatabase } from '@ticketboss/adapters-postgres/testing';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryRateLimiter } from './plugins/rate-limit.js';
import { createAppWithDatabase, type AppWithDatabase } from './testing/app-with-database.js';

/**
 * TICKETBOSS_TRUST_PROXY behind a load balancer on 127.0.0.1: who the per-address rate limit counts and the log
 * names. Requests without a key go over real HTTP to the app listening on 127.0.0.1, as a balancer would send them.
 */

/** Two requests per address, and a clock that never moves: the third from one address is refused. */
const policy = { perSecond: 1, burst: 2 };

interface Served {
  readonly t: AppWithDatabase;
  readonly url: string;
  /** The address the log line of the request with this X-Request-Id names, once it is written. */
  loggedAddress(requestId: string): Promise<string>;
}

let database: TestDatabase;
const served: Served[] = [];
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  for (const { t } of served.splice(0)) await t.close();
  await database?.drop();
});

async function serve(trustProxy?: boolean | string[]): Promise<Served> {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const t = await createAppWithDatabase({
    database,
    trustProxy,
    rateLimit: { policy, limiter: createMemoryRateLimiter(policy, () => 0) },
    logger: pino({ level: 'info' }, sink),
  });
  const url = await t.app.listen({ host: '127.0.0.1', port: 0 });
  const completed = (requestId: string) =>
    lines
      .map((line) => JSON.parse(line) as { reqId?: string; msg?: string; req?: { remoteAddress?: string } })
      .find((line) => line.reqId === requestId && line.msg === 'request completed');
  const one: Served = {
    t,
    url,
    async loggedAddress(requestId) {
      // Logged when the answer has gone, which may be a moment after the client read it.
      await waitUntil(() => completed(requestId) !== undefined, `the log line of ${requestId}`);
      return completed(requestId)!.req!.remoteAddress!;
    },
  };
  served.push(one);
  return one;
}

let requests = 0;

/** GET /reservations (open: counted per address) from 127.0.0.1, carrying X-Forwarded-For. */
async function summary(server: Served, forwardedFor: string): Promise<{ status: number; requestId: string }> {
  const requestId = `proxied-${(requests += 1)}`;
  const response = await fetch(`${server.url}/reservations`, {
    headers: { 'x-forwarded-for': forwardedFor, 'x-request-id': requestId },
  });
  await response.arrayBuffer();
  return { status: response.status, requestId };
}

describe('with TICKETBOSS_TRUST_PROXY naming the load balancer', () => {
  it('counts and logs each client by its forwarded address, and only from that balancer', async () => {
    const server = await serve(['127.0.0.1']);
    const a = [await summary(server, '203.0.113.7'), await summary(server, '203.0.113.7')];
    const b = await summary(server, '203.0.113.8');
    // What a balancer that appends sends when client A writes an address of its own first: still A.
    const forged = await summary(server, '198.51.100.1, 203.0.113.7');
    expect([...a, b, forged].map((r) => r.status)).toEqual([200, 200, 200, 429]);
    expect(await server.loggedAddress(a[0]!.requestId)).toBe('203.0.113.7');
    expect(await server.loggedAddress(b.requestId)).toBe('203.0.113.8');
    expect(await server.loggedAddress(forged.requestId)).toBe('203.0.113.7');

    // A peer that is not the balancer is the client itself, whatever header it sends.
    const direct = [];
    for (const forwardedFor of ['203.0.113.20', '203.0.113.21', '203.0.113.22']) {
      direct.push(
        await server.t.app.inject({
          method: 'GET',
          url: '/reservations',
          remoteAddress: '192.0.2.5',
          headers: { 'x-forwarded-for': forwardedFor, 'x-request-id': `direct-${forwardedFor}` },
        }),
      );
    }
    expect(direct.map((r) => r.statusCode)).toEqual([200, 200, 429]);
    expect(await server.loggedAddress('direct-203.0.113.20')).toBe('192.0.2.5');
  });

  it('with true, takes the leftmost address of the header, which the client chooses', async () => {
    const server = await serve(true);
    const forged = await summary(server, '198.51.100.1, 203.0.113.7');
    expect(forged.status).toBe(200);
    expect(await server.loggedAddress(forged.requestId)).toBe('198.51.100.1');
  });
});

describe('without TICKETBOSS_TRUST_PROXY (the default)', () => {
  it('counts and logs every request from the balancer as the balancer', async () => {
    const server = await serve();
    const results = [
      await summary(server, '203.0.113.7'),
      await summary(server, '203.0.113.7'),
      await summary(server, '203.0.113.8'),
    ];
    expect(results.map((r) => r.status)).toEqual([200, 200, 429]);
    for (const { requestId } of results) expect(await server.loggedAddress(requestId)).toBe('127.0.0.1');
  });
});

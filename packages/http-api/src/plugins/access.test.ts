import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '@ticketboss/adapters-postgres/testing';
import { createMemoryRateLimiter } from './rate-limit.js';
import { createAppWithDatabase, TEST_ADMIN_TOKEN, type AppWithDatabase } from '../testing/app-with-database.js';

/** Access control under a rate limit whose clock never moves: a bucket, once empty, stays empty. */
const policy = { perSecond: 1, burst: 5 };
const logLines: string[] = [];
let t: AppWithDatabase;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  t = await createAppWithDatabase({
    seedAuth: 'api-key',
    rateLimit: { policy, limiter: createMemoryRateLimiter(policy, () => 0) },
    logger: pino({ level: 'info' }, sink),
  });
});
afterAll(() => t.close());

const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

/** The value of one sample line of the exposition, 0 when it is not there. */
function sample(text: string, line: string): number {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

const count = (text: string, status: number) =>
  sample(text, `ticketboss_http_requests_total{method="GET",route="/v1/events",status="${status}"}`);

const scrape = async () => {
  const response = await t.app.inject({ method: 'GET', url: '/metrics', headers: admin });
  expect(response.statusCode).toBe(200);
  return response.body;
};

interface LogLine {
  reqId?: string;
  msg?: string;
  res?: { statusCode: number };
  err?: { code?: string };
}

describe('requests refused by the rate limit', () => {
  it('are answered, logged and counted in /metrics as 429, once each', async () => {
    // Over a real connection, as the flood came: the double send showed there, not only in inject().
    const address = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const before = await scrape();
    const statuses: number[] = [];
    for (let i = 0; i < 12; i += 1) {
      const response = await fetch(`${address}/v1/events`, {
        headers: { authorization: `Bearer garbage-${i}`, 'x-request-id': `garbage-${i}` },
      });
      statuses.push(response.status);
      const body = (await response.json()) as { code: string };
      expect(body.code).toBe(response.status === 429 ? 'RATE_LIMITED' : 'UNAUTHORIZED');
    }
    expect(statuses).toEqual([...Array<number>(5).fill(401), ...Array<number>(7).fill(429)]);

    // Counted and logged when the answer has gone (onResponse), which may be a moment after the client read it.
    const garbageLines = () =>
      logLines.map((line) => JSON.parse(line) as LogLine).filter((l) => l.reqId?.startsWith('garbage-'));
    const completed = () => garbageLines().filter((l) => l.msg === 'request completed');
    const grown = (after: string) => (status: number) => count(after, status) - count(before, status);
    let after = '';
    await waitUntil(async () => {
      after = await scrape();
      const grew = grown(after);
      return grew(401) + grew(429) >= 12 && completed().length >= 12;
    }, 'the 12 answers counted and logged');
    expect([grown(after)(401), grown(after)(429)]).toEqual([5, 7]);
    expect(completed().map((l) => l.res?.statusCode)).toEqual(statuses);
    const lines = garbageLines();
    expect(lines.filter((l) => l.err?.code === 'FST_ERR_REP_ALREADY_SENT')).toEqual([]);
    expect(lines.length).toBe(completed().length);
  });
});

describe('/metrics under the rate limit', () => {
  it('counts wrong tokens against the client address, and never refuses the admin token', async () => {
    const from = '10.0.0.2';
    const get = (authorization?: string) =>
      t.app.inject({
        method: 'GET',
        url: '/metrics',
        remoteAddress: from,
        headers: authorization === undefined ? {} : { authorization },
      });
    const guesses = [];
    for (let i = 0; i < 8; i += 1) guesses.push((await get(`Bearer guess-${i}`)).statusCode);
    expect(guesses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    const noToken = await get();
    expect(noToken.statusCode).toBe(429);
    expect(noToken.headers['retry-after']).toBeDefined();
    // A partner's key is not the admin's: a refusal too, counted against that key.
    const partner = await t.createPartner('metrics-guesser');
    const asPartner = [];
    for (let i = 0; i < 7; i += 1) asPartner.push((await get(`Bearer ${partner}`)).statusCode);
    expect(asPartner).toEqual([403, 403, 403, 403, 403, 429, 429]);

    // The same address, with the admin token: scraped as often as Prometheus likes, never counted.
    for (let i = 0; i < 20; i += 1) {
      const scraped = await get(admin.authorization);
      expect(scraped.statusCode).toBe(200);
      expect(scraped.headers.ratelimit).toBeUndefined();
    }
    // /health stays open to the exhausted address.
    const health = await t.app.inject({ method: 'GET', url: '/health', remoteAddress: from });
    expect(health.statusCode).toBe(200);
  });
});

import { createServer, type AddressInfo, type Socket } from 'node:net';
import { createDatabase, readMigrations } from '@ticketboss/adapters-postgres';
import type { EventSummary } from '@ticketboss/domain';
import type { MigrationFile } from '@ticketboss/adapters-postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '@ticketboss/domain/testing';
import { createMetrics } from './plugins/metrics.js';
import { createReadinessCheck, READINESS_REUSE_MS } from './server/readiness.js';
import { createAppWithDatabase, TEST_ADMIN_TOKEN, type AppWithDatabase } from './testing/app-with-database.js';

let t: AppWithDatabase;

beforeAll(async () => {
  t = await createAppWithDatabase({ seedAuth: 'none' });
});
afterAll(() => t.close());

const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

/** The value of one sample line of the exposition, or undefined when it is not there. */
function sample(text: string, line: string): number | undefined {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

describe('/metrics', () => {
  it('needs the admin token', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    const token = await t.createPartner('metrics-reader');
    const asPartner = await t.app.inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(asPartner.statusCode).toBe(403);
  });

  it('counts requests, outcomes, batch sizes, pool usage and seats per event, moving as requests are served', async () => {
    const scrape = async () => {
      const response = await t.app.inject({ method: 'GET', url: '/metrics', headers: admin });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      return response.body;
    };
    const before = await scrape();
    const reserve = (seats: number) =>
      t.app.inject({
        method: 'POST',
        url: '/reservations',
        headers: { 'content-type': 'application/json' },
        payload: { partnerId: 'metrics', seats },
      });
    const made = await Promise.all(Array.from({ length: 5 }, () => reserve(2)));
    expect(made.map((r) => r.statusCode)).toEqual([201, 201, 201, 201, 201]);
    expect((await reserve(11)).statusCode).toBe(400);
    const { reservationId } = made[0]!.json<{ reservationId: string }>();
    expect((await t.app.inject({ method: 'DELETE', url: `/reservations/${reservationId}` })).statusCode).toBe(204);

    const after = await scrape();
    const grew = (line: string) => (sample(after, line) ?? 0) - (sample(before, line) ?? 0);
    expect(grew('ticketboss_reservations_total{outcome="reserved"}')).toBe(5);
    expect(grew('ticketboss_cancellations_total{outcome="cancelled"}')).toBe(1);
    expect(grew('ticketboss_http_requests_total{method="POST",route="/reservations",status="201"}')).toBe(5);
    expect(grew('ticketboss_http_requests_total{method="POST",route="/reservations",status="400"}')).toBe(1);
    expect(
      grew('ticketboss_http_request_duration_seconds_count{method="POST",route="/reservations",status="201"}'),
    ).toBe(5);
    // Six changes committed, in however many coalesced commits.
    expect(grew('ticketboss_commit_batch_size_sum')).toBe(6);
    expect(grew('ticketboss_commit_batch_size_count')).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'ticketboss_event_available_seats{event_id="node-meetup-2025"}')).toBe(492);
    expect(sample(after, 'ticketboss_db_pool_connections{state="max"}')).toBeGreaterThan(0);
    expect(sample(after, 'ticketboss_db_pool_connections{state="open"}')).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'ticketboss_version_conflicts_total')).toBeGreaterThanOrEqual(0);
    expect(after).toContain('process_cpu_seconds_total');
  });
});

describe('/metrics of holds', () => {
  it('counts confirmations by outcome, and the holds a sweep marks expired', async () => {
    const clock = createManualClock();
    const h = await createAppWithDatabase({ database: t.database, seedAuth: 'api-key', clock });
    try {
      const token = await h.createPartner('metrics-holds');
      const call = (method: 'POST', url: string, payload?: unknown) =>
        h.app.inject({
          method,
          url,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          payload: JSON.stringify(payload ?? {}),
        });
      const holdOne = async () =>
        (await call('POST', '/v1/events/node-meetup-2025/reservations', { seats: 1, holdSeconds: 1 })).json<{
          reservationId: string;
        }>().reservationId;
      const [first, second, third] = [await holdOne(), await holdOne(), await holdOne()];
      expect((await call('POST', `/v1/reservations/${first}/confirm`)).statusCode).toBe(200);
      clock.advance(1000);
      expect((await call('POST', `/v1/reservations/${second}/confirm`)).statusCode).toBe(410);
      const metrics = createMetrics();
      const swept = await metrics.instrument(h.services.reservations).sweepExpiredHolds();
      expect(swept.expired.map((r) => r.reservationId).sort()).toEqual([second, third].sort());
      const text = await metrics.registry.metrics();
      expect(sample(text, 'ticketboss_holds_expired_total')).toBe(2);
      const scraped = (await h.app.inject({ method: 'GET', url: '/metrics', headers: admin })).body;
      expect(sample(scraped, 'ticketboss_confirmations_total{outcome="confirmed"}')).toBe(1);
      expect(sample(scraped, 'ticketboss_confirmations_total{outcome="hold_expired"}')).toBe(1);
    } finally {
      await h.close();
    }
  });
});

describe('/ready', () => {
  it('answers 200 while the database answers and nothing is pending', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/ready' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ready', checks: { database: 'ok', migrations: 'ok' } });
  });

  it('is not ready while a migration is pending, naming it', async () => {
    const pending: MigrationFile = { name: '9999_future.sql', sql: 'SELECT 1', checksum: 'f'.repeat(64) };
    const check = createReadinessCheck(t.database.db, [...(await readMigrations()).files, pending]);
    expect(await check()).toEqual({
      ready: false,
      checks: { database: 'ok', migrations: 'pending: 9999_future.sql' },
    });
  });

  it('is not ready when the database has migrations this build does not know (a newer build ran), naming them', async () => {
    const files = (await readMigrations()).files;
    const older = files.slice(0, -1);
    const check = createReadinessCheck(t.database.db, older);
    expect(await check()).toEqual({
      ready: false,
      checks: { database: 'ok', migrations: `unknown to this build: ${files.at(-1)!.name}` },
    });
  });

  it('answers a flood of probes from one check a second, never one check per probe', async () => {
    let queries = 0;
    const counted = t.database.db.withPlugin({
      transformQuery: ({ node }) => {
        queries += 1;
        return node;
      },
      transformResult: async ({ result }) => result,
    });
    let now = 0;
    const check = createReadinessCheck(counted, (await readMigrations()).files, 2000, { now: () => now });
    expect((await check()).ready).toBe(true);
    const perCheck = queries;
    expect(perCheck).toBeGreaterThan(0);
    // One after another, as a flood of separate requests arrives (those that overlap share a check anyway).
    for (let i = 0; i < 50; i += 1) {
      now += 10;
      expect(await check()).toEqual({ ready: true, checks: { database: 'ok', migrations: 'ok' } });
    }
    expect(queries).toBe(perCheck);
    now += READINESS_REUSE_MS;
    await check();
    expect(queries).toBe(2 * perCheck);
  });

  it('is not ready while the database does not answer, within its time limit; probes meanwhile share one check', async () => {
    // A server that accepts connections and never says a word: a dead network path, not a refusal.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    const nowhere = createDatabase({ connectionString: `postgres://postgres@127.0.0.1:${port}/none`, poolSize: 1 });
    try {
      const check = createReadinessCheck(nowhere, [], 500);
      const started = performance.now();
      const [first, second] = await Promise.all([check(), check()]);
      const waited = performance.now() - started;
      expect(first).toEqual({ ready: false, checks: { database: 'unreachable', migrations: 'unknown' } });
      expect(second).toBe(first);
      // It gave up at its limit, while the silent server still held the connection open.
      expect(waited).toBeGreaterThanOrEqual(450);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
      await nowhere.destroy();
    }
  });
});

describe('createMetrics', () => {
  it('keeps answering, with the last seats, when reading the events fails', async () => {
    let fail = false;
    const metrics = createMetrics({
      events: async () => {
        if (fail) throw new Error('database down');
        return { items: [{ eventId: 'gig', availableSeats: 7 } as EventSummary] };
      },
    });
    expect(sample(await metrics.registry.metrics(), 'ticketboss_event_available_seats{event_id="gig"}')).toBe(7);
    fail = true;
    const text = await metrics.registry.metrics();
    expect(sample(text, 'ticketboss_event_available_seats{event_id="gig"}')).toBe(7);
    expect(sample(text, 'ticketboss_metrics_collect_errors_total')).toBe(1);
  });
});

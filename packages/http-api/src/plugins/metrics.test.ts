import { Writable } from 'node:stream';
import type { EventSummary } from '@ticketboss/domain';
import Fastify from 'fastify';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createMetrics } from './metrics.js';
import { metricsRoutes } from '../routes/classic/metrics.js';

/** The /metrics route alone (no access check: that is the app's), on metrics whose events read fails when told. */
async function scrapedApp() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const state = { failure: undefined as Error | undefined };
  const metrics = createMetrics({
    events: async () => {
      if (state.failure) throw state.failure;
      return { items: [{ eventId: 'gig', availableSeats: 7 } as EventSummary] };
    },
  });
  const app = Fastify({ loggerInstance: pino({ level: 'info' }, sink) });
  await app.register(metricsRoutes, { metrics });
  const scrape = async () => {
    const response = await app.inject({ url: '/metrics' });
    expect(response.statusCode).toBe(200);
  };
  const warnings = () => lines.filter((line) => line.level === 40);
  return { app, state, scrape, warnings };
}

describe('a scrape whose read of the events fails', () => {
  it('is logged at warn with its cause, once per streak of failures', async () => {
    const { app, state, scrape, warnings } = await scrapedApp();
    try {
      await scrape();
      expect(warnings()).toEqual([]);
      state.failure = new Error('connection terminated unexpectedly');
      await scrape();
      await scrape();
      await scrape();
      const [line, ...more] = warnings();
      expect(more).toEqual([]);
      expect(line).toMatchObject({
        msg: expect.stringContaining('reading the events failed') as unknown,
        err: { message: 'connection terminated unexpectedly' },
      });
      expect((line!.err as { stack: string }).stack).toContain('metrics.test.ts');
      // A read that succeeds ends the streak; the next failure is logged again.
      state.failure = undefined;
      await scrape();
      state.failure = new Error('the database system is shutting down');
      await scrape();
      expect(warnings().map((w) => (w.err as { message: string }).message)).toEqual([
        'connection terminated unexpectedly',
        'the database system is shutting down',
      ]);
    } finally {
      await app.close();
    }
  });
});

describe('webhook metrics', () => {
  it('count attempts by outcome, time them, and read the queue depth when scraped (keeping it if that fails)', async () => {
    let depth: number | Error = 42;
    const metrics = createMetrics({
      webhookQueueDepth: async () => {
        if (depth instanceof Error) throw depth;
        return depth;
      },
    });
    metrics.webhooks.attempted('delivered', 0.02);
    metrics.webhooks.attempted('delivered', 0.03);
    metrics.webhooks.attempted('failed', 10);
    metrics.webhooks.attempted('given_up', 0.5);
    const log = { warn: () => undefined };
    const text = await metrics.scrape(log);
    expect(text).toContain('ticketboss_webhook_deliveries_total{outcome="delivered"} 2');
    expect(text).toContain('ticketboss_webhook_deliveries_total{outcome="failed"} 1');
    expect(text).toContain('ticketboss_webhook_deliveries_total{outcome="given_up"} 1');
    expect(text).toContain('ticketboss_webhook_delivery_duration_seconds_count 4');
    expect(text).toContain('ticketboss_webhook_queue_depth 42');
    depth = new Error('database unavailable');
    expect(await metrics.scrape(log)).toContain('ticketboss_webhook_queue_depth 42');
  });
});

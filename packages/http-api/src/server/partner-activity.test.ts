import { waitUntil } from '@ticketboss/adapters-postgres/testing';
import {
  StoreUnavailable,
  type PartnerActivityCount,
  type Reservation,
  type ReserveSeatsOutcome,
} from '@ticketboss/domain';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createPartnerActivityRecorder, type PartnerActivityRecorder } from './partner-activity.js';

/**
 * The recorder alone, on a store that keeps what it is given in memory and fails while told to (the database away):
 * what reaches PostgreSQL, and how, is partner-activity-store.test.ts's and admin-partners.test.ts's question.
 */
function flakyStore() {
  const added: PartnerActivityCount[][] = [];
  const state = { failing: false, calls: 0 };
  return Object.assign(state, {
    added,
    async addPartnerActivity(counts: readonly PartnerActivityCount[]) {
      state.calls += 1;
      if (state.failing) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      added.push(counts.map((count) => ({ ...count })));
    },
  });
}

function logLines() {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) },
  );
  return { lines, logger };
}

const at = (iso: string) => new Date(iso);
const reserved = (seats: number): ReserveSeatsOutcome => ({
  kind: 'reserved',
  reservation: { seats } as Reservation,
});

let recorder: PartnerActivityRecorder | undefined;
afterEach(async () => {
  await recorder?.close();
  recorder = undefined;
});

describe('the partner activity recorder', () => {
  it('counts per partner and minute: requests, 429s, fresh reservations and their seats, refusals', async () => {
    const store = flakyStore();
    const clock = { time: at('2025-11-25T12:00:58.000Z'), now: () => clock.time };
    recorder = createPartnerActivityRecorder({ store, clock, logger: pino({ level: 'silent' }), flushIntervalMs: 0 });
    recorder.answered('acme', 201);
    recorder.decided('acme', reserved(3));
    recorder.decided('acme', { kind: 'insufficient_seats', availableSeats: 1 });
    recorder.decided('acme', { kind: 'contended' });
    recorder.answered('acme', 429);
    clock.time = at('2025-11-25T12:00:59.500Z');
    recorder.answered('acme', 409);
    recorder.answered('globex', 200);
    clock.time = at('2025-11-25T12:01:00.000Z');
    recorder.answered('acme', 200);
    await recorder.flush();
    expect(store.added).toEqual([
      [
        {
          partnerId: 'acme',
          minute: at('2025-11-25T12:00:00.000Z'),
          requests: 3,
          reservations: 1,
          seats: 3,
          refusals: 1,
          rateLimited: 1,
          lastRequestAt: at('2025-11-25T12:00:59.500Z'),
        },
        expect.objectContaining({ partnerId: 'globex', requests: 1, lastRequestAt: at('2025-11-25T12:00:59.500Z') }),
        expect.objectContaining({ partnerId: 'acme', minute: at('2025-11-25T12:01:00.000Z'), requests: 1 }),
      ],
    ]);
    await recorder.flush();
    expect(store.calls).toBe(1); // nothing new: no call
  });

  it('keeps the counts of a failed flush and adds them, once, with the next one; warns once per run', async () => {
    const store = flakyStore();
    const { lines, logger } = logLines();
    const clock = { now: () => at('2025-11-25T12:00:10.000Z') };
    recorder = createPartnerActivityRecorder({ store, clock, logger, flushIntervalMs: 0 });
    store.failing = true;
    recorder.answered('acme', 201);
    recorder.decided('acme', reserved(2));
    await recorder.flush();
    recorder.answered('acme', 429);
    await recorder.flush();
    expect(store.added).toEqual([]);
    expect(lines.filter((line) => line.level === 40).map((line) => line.msg)).toEqual([
      'partner activity not flushed; kept for the next flush',
    ]);
    store.failing = false;
    recorder.answered('acme', 200);
    await recorder.flush();
    await recorder.flush();
    expect(store.added).toEqual([
      [expect.objectContaining({ partnerId: 'acme', requests: 3, reservations: 1, seats: 2, rateLimited: 1 })],
    ]);
    expect(lines.at(-1)?.msg).toBe('partner activity flushed again');
  });

  it('leaves a database outage to the line database.ts logs for it: no warn of its own', async () => {
    const { lines, logger } = logLines();
    const store = {
      addPartnerActivity: () => Promise.reject(new StoreUnavailable('database unavailable: connect ECONNREFUSED')),
    };
    recorder = createPartnerActivityRecorder({ store, clock: { now: () => new Date() }, logger, flushIntervalMs: 0 });
    recorder.answered('acme', 503);
    await recorder.flush();
    expect(lines.filter((line) => line.level >= 40)).toEqual([]);
    expect(lines.map((line) => line.msg)).toEqual(['partner activity not flushed; kept for the next flush']);
  });

  it('lets go of minutes past the retention while the database stays away', async () => {
    const store = flakyStore();
    const clock = { time: at('2025-11-25T12:00:10.000Z'), now: () => clock.time };
    recorder = createPartnerActivityRecorder({ store, clock, logger: pino({ level: 'silent' }), flushIntervalMs: 0 });
    store.failing = true;
    recorder.answered('acme', 200);
    await recorder.flush();
    clock.time = at('2025-11-26T12:05:00.000Z');
    recorder.answered('acme', 200);
    await recorder.flush();
    store.failing = false;
    await recorder.flush();
    expect(store.added).toEqual([[expect.objectContaining({ minute: at('2025-11-26T12:05:00.000Z'), requests: 1 })]]);
  });

  it('flushes on its timer, surviving failures there (no unhandled rejection), and once more on close', async () => {
    const store = flakyStore();
    const clock = { now: () => new Date() };
    recorder = createPartnerActivityRecorder({ store, clock, logger: pino({ level: 'silent' }), flushIntervalMs: 5 });
    store.failing = true;
    recorder.answered('acme', 200);
    await waitUntil(() => store.calls >= 3, 'three failed flushes on the timer');
    store.failing = false;
    await waitUntil(() => store.added.length === 1, 'a flush on the timer');
    expect(store.added[0]).toEqual([expect.objectContaining({ partnerId: 'acme', requests: 1 })]);
    recorder.answered('acme', 200);
    await recorder.close();
    recorder = undefined;
    expect(store.added.flat().reduce((sum, count) => sum + count.requests, 0)).toBe(2);
  });
});

import { StoreUnavailable, type Idempotency, type ReservationService } from '@ticketboss/domain';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startSweeper, type SweepLease, type Sweeper } from './sweeper.js';

/** A lease always held: the scheduling tests below are about one sweeper (sweeper-lease.test.ts: several). */
const held: SweepLease = { acquire: async () => true, release: async () => undefined };

/**
 * The sweeper's scheduling alone: its rounds go to fakes of the services, each sweep blocking on a gate the test
 * opens (a database that stalls), and its ticks are driven by fake timers, so no real time passes.
 */
function stalledSweeper(intervalMs: number) {
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const calls = { sweeps: 0, purges: 0 };
  const reservations = {
    async sweepExpiredHolds() {
      calls.sweeps += 1;
      await gate;
      return { expired: [] };
    },
  } as unknown as ReservationService;
  const idempotency = {
    async purge() {
      calls.purges += 1;
      return 0;
    },
  } as unknown as Idempotency;
  const sweeper = startSweeper({
    reservations,
    idempotency,
    lease: held,
    intervalMs,
    logger: pino({ level: 'silent' }),
  });
  return { sweeper, calls, open };
}

/** Lets settled promises run their callbacks. */
const settle = () => vi.advanceTimersByTimeAsync(0);

let started: { sweeper: Sweeper; open: () => void } | undefined;
afterEach(async () => {
  started?.open();
  await started?.sweeper.stop();
  started = undefined;
  vi.useRealTimers();
});

describe('sweeper', () => {
  it('skips its ticks while a round is stalled, and stop() waits for that round only', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { sweeper, calls, open } = (started = stalledSweeper(1000));
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls.sweeps).toBe(1); // the first round, stalled on the database
    await vi.advanceTimersByTimeAsync(10_000); // ten ticks during the stall
    let stopped = false;
    const stopping = sweeper.stop().then(() => (stopped = true));
    await settle();
    expect(stopped).toBe(false); // the round in progress is waited for
    open();
    await stopping;
    // Only the stalled round ran: the ten ticks queued nothing behind it for shutdown to wait on.
    expect(calls).toEqual({ sweeps: 1, purges: 1 });
    await vi.advanceTimersByTimeAsync(5000);
    expect(calls).toEqual({ sweeps: 1, purges: 1 }); // and stopped means no more ticks
  });

  it('ticks again once the stalled round is over', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { calls, open } = (started = stalledSweeper(1000));
    await vi.advanceTimersByTimeAsync(3000);
    expect(calls).toEqual({ sweeps: 1, purges: 0 });
    open();
    await settle();
    expect(calls).toEqual({ sweeps: 1, purges: 1 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls).toEqual({ sweeps: 2, purges: 2 });
  });

  it('runOnce runs one round after the one in progress, however often it is asked meanwhile', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { sweeper, calls, open } = (started = stalledSweeper(0));
    const first = sweeper.runOnce();
    const asked = [sweeper.runOnce(), sweeper.runOnce()];
    await settle();
    expect(calls.sweeps).toBe(1);
    open();
    await Promise.all([first, ...asked]);
    expect(calls).toEqual({ sweeps: 2, purges: 2 });
  });
});

describe('sweeper failures', () => {
  it('logs a failed round at warn, but not each round of a database outage (main.ts logs the outage once)', async () => {
    const lines: { level: number; msg: string }[] = [];
    const logger = pino(
      { level: 'debug' },
      { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) },
    );
    let failure: Error = new StoreUnavailable('database unavailable: connect ECONNREFUSED');
    const reservations = {
      sweepExpiredHolds: () => Promise.reject(failure),
    } as unknown as ReservationService;
    const idempotency = { purge: async () => 0 } as unknown as Idempotency;
    const sweeper = startSweeper({ reservations, idempotency, lease: held, intervalMs: 0, logger });
    try {
      await sweeper.runOnce();
      await sweeper.runOnce();
      expect(lines.filter((line) => line.level >= 40)).toEqual([]);
      failure = new Error('relation "reservations" does not exist');
      await sweeper.runOnce();
      expect(lines.filter((line) => line.level === 40).map((line) => line.msg)).toEqual([
        'sweep failed; the next round will try again',
      ]);
    } finally {
      await sweeper.stop();
    }
  });
});

describe("pruning the console's rollups", () => {
  function pruningSweeper(prune: (now: Date) => Promise<number>) {
    const lines: { level: number; msg: string }[] = [];
    const logger = pino(
      { level: 'debug' },
      { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) },
    );
    const clock = { time: new Date('2025-11-25T12:00:00.000Z'), now: () => clock.time };
    /** What each round did, in order. */
    const calls = { sweeps: 0, prunes: [] as Date[], order: [] as string[] };
    let beforeSweep: () => Promise<void> = async () => undefined;
    const reservations = {
      async sweepExpiredHolds() {
        await beforeSweep();
        calls.sweeps += 1;
        calls.order.push('sweep');
        return { expired: [] };
      },
    } as unknown as ReservationService;
    const idempotency = {
      purge: async () => {
        calls.order.push('purge');
        return 0;
      },
    } as unknown as Idempotency;
    const store = {
      pruneActivity(now: Date) {
        calls.prunes.push(now);
        calls.order.push('prune');
        return prune(now);
      },
    };
    const sweeper = startSweeper({
      reservations,
      idempotency,
      lease: held,
      intervalMs: 0,
      rollups: { console: store, clock },
      logger,
    });
    /** What each sweep waits for first (a database that stalls, or fails). */
    const beforeSweeps = (wait: () => Promise<void>) => (beforeSweep = wait);
    return { sweeper, clock, calls, lines, beforeSweeps };
  }

  it('prunes after marking the expired holds and purging the keys, not before', async () => {
    const { sweeper, calls } = pruningSweeper(async () => 3);
    try {
      await sweeper.runOnce();
      expect(calls.order).toEqual(['sweep', 'purge', 'prune']);
    } finally {
      await sweeper.stop();
    }
  });

  it('does not prune once stopped: a shutdown during the sweep waits for the sweep only', async () => {
    const { sweeper, calls, beforeSweeps } = pruningSweeper(async () => 3);
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    beforeSweeps(() => gate);
    const round = sweeper.runOnce();
    const stopping = sweeper.stop();
    open();
    await Promise.all([round, stopping]);
    expect(calls.order).toEqual(['sweep', 'purge']);
  });

  it('prunes even when the sweep failed, as it is work of its own', async () => {
    const { sweeper, calls, beforeSweeps } = pruningSweeper(async () => 3);
    beforeSweeps(() => Promise.reject(new Error('relation "reservations" does not exist')));
    try {
      await sweeper.runOnce();
      expect(calls.order).toEqual(['prune']);
    } finally {
      await sweeper.stop();
    }
  });

  it('prunes on the first round that holds the lease, then about once a minute, as of the clock', async () => {
    const { sweeper, clock, calls } = pruningSweeper(async () => 3);
    try {
      await sweeper.runOnce();
      clock.time = new Date('2025-11-25T12:00:59.000Z');
      await sweeper.runOnce();
      clock.time = new Date('2025-11-25T12:01:00.000Z');
      await sweeper.runOnce();
      expect(calls.prunes).toEqual([new Date('2025-11-25T12:00:00.000Z'), new Date('2025-11-25T12:01:00.000Z')]);
      expect(calls.sweeps).toBe(3);
    } finally {
      await sweeper.stop();
    }
  });

  it('logs a failed prune at warn and sweeps all the same', async () => {
    const { sweeper, calls, lines } = pruningSweeper(() => Promise.reject(new Error('relation missing')));
    try {
      await sweeper.runOnce();
      expect(calls).toMatchObject({ sweeps: 1, prunes: [expect.any(Date)] });
      expect(lines.filter((line) => line.level === 40).map((line) => line.msg)).toEqual([
        "pruning the console's rollups failed; the next try is in a minute",
      ]);
    } finally {
      await sweeper.stop();
    }
  });

  it('does not prune in a process that does not hold the lease', async () => {
    const prunes: Date[] = [];
    const sweeper = startSweeper({
      reservations: {} as ReservationService,
      idempotency: {} as Idempotency,
      lease: { acquire: async () => false, release: async () => undefined },
      intervalMs: 0,
      rollups: { console: { pruneActivity: async (now) => (prunes.push(now), 0) }, clock: { now: () => new Date() } },
      logger: pino({ level: 'silent' }),
    });
    await sweeper.runOnce();
    await sweeper.stop();
    expect(prunes).toEqual([]);
  });
});

import { randomUUID } from 'node:crypto';
import {
  createReservationService,
  type CancelReservationOutcome,
  type ConfirmHoldOutcome,
  type EventRepository,
  type ReservationService,
  type ReservationStatus,
  type ReserveSeatsOutcome,
  type SweepOutcome,
} from '@ticketboss/domain';
import { createManualClock } from '@ticketboss/domain/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type DatabaseHandle } from './database.js';
import { createPostgresEventRepository } from './event-repository.js';
import { findInvariantBreaches } from './invariant.js';
import { createTestDatabase, type TestDatabase } from './testing/index.js';

/**
 * Holds, confirmations, cancellations and expiry in random interleavings, on the real PostgreSQL adapter and the
 * real service, in two "processes" (two services, each with its own repository and pool on the same database).
 * One manual clock is shared by everything, so whether a hold has expired is decided to the millisecond, and it
 * never moves while the operations of a step run together.
 */

const PARTNER = 'partner-a';
const MAX_WAIT_MS = 2000;
/** Real time a step may take before it counts as hung (with the clock standing still, no deadline ever passes). */
const STEP_TIMEOUT_MS = 10_000;
/**
 * Version conflicts a step may run into: a few when both processes write at once, never hundreds (which would be a
 * request retrying a commit that cannot succeed, until its deadline; and the clock standing still, never).
 */
const MAX_CONFLICTS_PER_STEP = 100;
let conflictsInStep = 0;
let onSpin: (() => void) | undefined;

const clock = createManualClock();
let database: TestDatabase;
let secondPool: DatabaseHandle;

interface Process {
  readonly repository: EventRepository;
  readonly service: ReservationService;
}
let processes: readonly [Process, Process];

function startProcess(db: DatabaseHandle): Process {
  const repository = createPostgresEventRepository(db, { clock });
  const service = createReservationService({
    repository,
    clock,
    ids: { reservationId: () => randomUUID() },
    maxWaitMs: MAX_WAIT_MS,
    observer: {
      committed: () => undefined,
      conflicted() {
        conflictsInStep += 1;
        if (conflictsInStep === MAX_CONFLICTS_PER_STEP) onSpin?.();
      },
    },
  });
  return { repository, service };
}

beforeAll(async () => {
  database = await createTestDatabase();
  secondPool = createDatabase({ connectionString: database.url });
  processes = [startProcess(database.db), startProcess(secondPool)];
});
afterAll(async () => {
  await secondPool?.destroy();
  await database?.drop();
});

// ---- Commands ----

type By = 0 | 1;
type Op =
  | { readonly op: 'reserve'; readonly by: By; readonly seats: number }
  | { readonly op: 'hold'; readonly by: By; readonly seats: number; readonly holdSeconds: number }
  | { readonly op: 'confirm'; readonly by: By; readonly index: number }
  | { readonly op: 'cancel'; readonly by: By; readonly index: number }
  | { readonly op: 'sweep'; readonly by: By };
type Step =
  | { readonly step: 'one'; readonly op: Op }
  | { readonly step: 'advance'; readonly ms: number }
  /** Two or three operations at once. */
  | { readonly step: 'together'; readonly ops: readonly Op[] }
  /**
   * The clock moved to a hold's expiry (or 1 ms before it), then a confirm or cancel of it, alone or at once with
   * a sweep.
   */
  | {
      readonly step: 'atExpiry';
      readonly index: number;
      readonly offset: 0 | -1;
      readonly action: 'confirm' | 'cancel';
      readonly by: By;
      readonly sweepBy?: By;
    }
  /**
   * Two or three cancels and confirms of one hold at once; `lead` reservations go first in the process of the
   * first of them, so that what follows arrives during a commit and is batched.
   */
  | {
      readonly step: 'sameHold';
      readonly index: number;
      readonly lead: readonly Extract<Op, { op: 'reserve' | 'hold' }>[];
      readonly actions: readonly { readonly op: 'cancel' | 'confirm'; readonly by: By }[];
    };

const by = fc.constantFrom<By>(0, 1);
const seats = fc.integer({ min: 1, max: 4 });
const index = fc.nat({ max: 60 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ op: fc.constant('reserve' as const), by, seats }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('hold' as const),
      by,
      seats,
      holdSeconds: fc.integer({ min: 1, max: 5 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('confirm' as const), by, index }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('cancel' as const), by, index }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('sweep' as const), by }) },
);
const leadArb = fc.oneof(
  fc.record({ op: fc.constant('reserve' as const), by, seats }),
  fc.record({ op: fc.constant('hold' as const), by, seats, holdSeconds: fc.integer({ min: 1, max: 5 }) }),
);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ step: fc.constant('one' as const), op: opArb }) },
  { weight: 4, arbitrary: fc.record({ step: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 3000 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      step: fc.constant('together' as const),
      ops: fc.array(opArb, { minLength: 2, maxLength: 3 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      step: fc.constant('together' as const),
      ops: fc.tuple(by, by).map(([a, b]): Op[] => [
        { op: 'sweep', by: a },
        { op: 'sweep', by: b },
      ]),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record(
      {
        step: fc.constant('atExpiry' as const),
        index,
        offset: fc.constantFrom<0 | -1>(0, -1),
        action: fc.constantFrom('confirm' as const, 'cancel' as const),
        by,
        sweepBy: by,
      },
      { requiredKeys: ['step', 'index', 'offset', 'action', 'by'] },
    ),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      step: fc.constant('sameHold' as const),
      index,
      lead: fc.array(leadArb, { maxLength: 2 }),
      actions: fc.array(fc.record({ op: fc.constantFrom('cancel' as const, 'confirm' as const), by }), {
        minLength: 2,
        maxLength: 3,
      }),
    }),
  },
);

// ---- The model: each reservation as the service's answers made it ----

interface Known {
  readonly id: string;
  readonly seats: number;
  readonly kind: 'confirmed' | 'hold';
  /** Holds only. */
  readonly expiresAt: number;
  confirmed: boolean;
  cancelled: boolean;
}

function statusOf(r: Known, now: number): ReservationStatus {
  if (r.cancelled) return 'cancelled';
  if (r.confirmed) return 'confirmed';
  return now >= r.expiresAt ? 'expired' : 'held';
}

/** An operation and its answer. */
type Done =
  | {
      readonly type: 'reserve';
      readonly op: Extract<Op, { op: 'reserve' | 'hold' }>;
      readonly answer: ReserveSeatsOutcome;
    }
  | { readonly type: 'confirm'; readonly op: Op; readonly target: Known; readonly answer: ConfirmHoldOutcome }
  | { readonly type: 'cancel'; readonly op: Op; readonly target: Known; readonly answer: CancelReservationOutcome }
  | { readonly type: 'sweep'; readonly op: Op; readonly answer: SweepOutcome };

class Run {
  readonly known: Known[] = [];
  /** Reservations whose seats came back: by a cancel answered `cancelled`, or listed by a sweep. */
  readonly seatsBack = new Set<string>();
  readonly log: string[] = [];

  constructor(
    readonly eventId: string,
    readonly totalSeats: number,
  ) {}

  pick(i: number, filter: (r: Known) => boolean = () => true): Known | undefined {
    const candidates = this.known.filter(filter);
    return candidates.length === 0 ? undefined : candidates[i % candidates.length];
  }

  taken(now: number): { confirmed: number; held: number; confirmedCount: number } {
    let confirmed = 0;
    let held = 0;
    let confirmedCount = 0;
    for (const r of this.known) {
      const status = statusOf(r, now);
      if (status === 'confirmed') {
        confirmed += r.seats;
        confirmedCount += 1;
      } else if (status === 'held') held += r.seats;
    }
    return { confirmed, held, confirmedCount };
  }

  free(now: number): number {
    const { confirmed, held } = this.taken(now);
    return this.totalSeats - confirmed - held;
  }

  /** Runs the operations at once (the clock standing still), then checks each answer against the model. */
  async together(ops: readonly Op[]): Promise<Done[]> {
    const now = clock.now().getTime();
    const targets = ops.map((op) => (op.op === 'confirm' || op.op === 'cancel' ? this.pick(op.index) : undefined));
    const runnable = ops.flatMap((op, i) => ((op.op === 'confirm' || op.op === 'cancel') && !targets[i] ? [] : [i]));
    if (runnable.length === 0) return [];
    const before = new Map(this.known.map((r) => [r.id, statusOf(r, now)]));
    const freeBefore = this.free(now);
    const pending = Promise.all(runnable.map((i) => this.perform(ops[i]!, targets[i])));
    let timer: NodeJS.Timeout | undefined;
    conflictsInStep = 0;
    const stuck = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`did not settle within ${STEP_TIMEOUT_MS} ms`), STEP_TIMEOUT_MS);
      onSpin = () => resolve(`kept retrying (${MAX_CONFLICTS_PER_STEP} version conflicts)`);
    });
    const outcome = await Promise.race([pending, stuck]);
    clearTimeout(timer);
    onSpin = undefined;
    if (typeof outcome === 'string') {
      // Let the stuck requests reach their deadline (answering `contended`) so they stop retrying, then fail.
      clock.advance(MAX_WAIT_MS + 1);
      const late = await pending.then(
        (answers) => answers.map(summarize).join(', '),
        (error: unknown) => String(error),
      );
      throw new Error(
        `${runnable.map((i) => label(ops[i]!)).join(' & ')} ${outcome} with the clock standing still; ` +
          `once it was moved past their deadline they answered: ${late}`,
      );
    }
    const done = outcome;
    this.log.push(
      `at +${now - runStart}ms: ` +
        done
          .map((d) => `${label(d.op)}${'target' in d ? `[${this.known.indexOf(d.target)}]` : ''} -> ${summarize(d)}`)
          .join(' & '),
    );
    this.check(done, now, before, freeBefore);
    return done;
  }

  private async perform(op: Op, target: Known | undefined): Promise<Done> {
    const { service } = processes[op.by];
    const { eventId } = this;
    switch (op.op) {
      case 'reserve':
        return {
          type: 'reserve',
          op,
          answer: await service.reserveSeats({ eventId, partnerId: PARTNER, seats: op.seats }),
        };
      case 'hold': {
        const { seats, holdSeconds } = op;
        const answer = await service.reserveSeats({ eventId, partnerId: PARTNER, seats, holdSeconds });
        return { type: 'reserve', op, answer };
      }
      case 'confirm': {
        const answer = await service.confirmHold({ reservationId: target!.id, partnerId: PARTNER });
        return { type: 'confirm', op, target: target!, answer };
      }
      case 'cancel': {
        const answer = await service.cancelReservation({ reservationId: target!.id, partnerId: PARTNER });
        return { type: 'cancel', op, target: target!, answer };
      }
      case 'sweep':
        return { type: 'sweep', op, answer: await service.sweepExpiredHolds() };
    }
  }

  private check(done: readonly Done[], now: number, before: Map<string, ReservationStatus>, freeBefore: number) {
    const sequential = done.length === 1;
    const on = (r: Known) => ({
      cancels: done.filter((d): d is Extract<Done, { type: 'cancel' }> => d.type === 'cancel' && d.target === r),
      confirms: done.filter((d): d is Extract<Done, { type: 'confirm' }> => d.type === 'confirm' && d.target === r),
    });

    for (const d of done) {
      switch (d.type) {
        case 'reserve': {
          const { op, answer } = d;
          if (answer.kind === 'reserved') {
            expect(answer.reservation).toMatchObject({ eventId: this.eventId, partnerId: PARTNER, seats: op.seats });
            if (op.op === 'hold') {
              expect(answer.reservation.status).toBe('held');
              expect(answer.reservation.expiresAt).toEqual(new Date(now + op.holdSeconds * 1000));
            } else {
              expect(answer.reservation.status).toBe('confirmed');
              expect(answer.reservation.expiresAt).toBeUndefined();
            }
            break;
          }
          expect(answer.kind, `${label(op)} answered`).toBe('insufficient_seats');
          if (answer.kind !== 'insufficient_seats') break;
          expect(op.seats).toBeGreaterThan(answer.availableSeats);
          // Refused only when the seats did not fit: with the clock standing still no hold expires during the
          // step, so the seats free when it was decided are at least those free before, less what the step's
          // other reservations took.
          const takenByOthers = done
            .filter((o) => o !== d && o.type === 'reserve' && o.answer.kind === 'reserved')
            .reduce((sum, o) => sum + (o.op as { seats: number }).seats, 0);
          expect(op.seats, `${label(op)} refused with ${freeBefore} free before`).toBeGreaterThan(
            freeBefore - takenByOthers,
          );
          if (sequential) expect(answer.availableSeats).toBe(freeBefore);
          break;
        }
        case 'confirm': {
          const { target, answer } = d;
          const was = before.get(target.id)!;
          const allowed: string[] = {
            held: ['confirmed'],
            confirmed: ['confirmed'],
            cancelled: ['cancelled'],
            expired: ['hold_expired'],
          }[was];
          // A cancel at the same time may come first.
          if (on(target).cancels.some((o) => o.answer.kind === 'cancelled')) allowed.push('cancelled');
          expect(allowed, `confirm of a ${was} reservation answered ${answer.kind}`).toContain(answer.kind);
          if (answer.kind === 'confirmed') {
            expect(answer.reservation).toMatchObject({ reservationId: target.id, status: 'confirmed' });
          }
          if (answer.kind === 'hold_expired') expect(answer.reservation.status).toBe('expired');
          break;
        }
        case 'cancel': {
          const { target, answer } = d;
          const was = before.get(target.id)!;
          const expected = {
            held: 'cancelled',
            confirmed: 'cancelled',
            cancelled: 'already_cancelled',
            expired: 'hold_expired',
          }[was];
          // Of several cancels of one live reservation, one cancels it and the others find it cancelled.
          const allowed =
            expected === 'cancelled' && on(target).cancels.length > 1 ? ['cancelled', 'already_cancelled'] : [expected];
          expect(allowed, `cancel of a ${was} reservation answered ${answer.kind}`).toContain(answer.kind);
          break;
        }
        case 'sweep':
          for (const r of d.answer.expired.filter((e) => e.eventId === this.eventId)) {
            expect(r.status).toBe('expired');
            expect(before.get(r.reservationId), `swept ${r.reservationId}`).toBe('expired');
          }
          break;
      }
    }

    // Per reservation: one cancel of a live one cancels it; at most one confirm of a live hold records it.
    for (const r of this.known) {
      const was = before.get(r.id);
      const { cancels, confirms } = on(r);
      if (cancels.length > 0 && (was === 'held' || was === 'confirmed')) {
        expect(cancels.filter((d) => d.answer.kind === 'cancelled')).toHaveLength(1);
      }
      const recorded = confirms.filter((d) => d.answer.kind === 'confirmed' && d.answer.recorded);
      expect(recorded.length, 'confirmations recorded').toBeLessThanOrEqual(was === 'held' ? 1 : 0);
      if (was === 'held' && confirms.some((d) => d.answer.kind === 'confirmed')) expect(recorded).toHaveLength(1);
    }

    // The model follows the answers; a reservation's seats come back at most once.
    const giveBack = (id: string, why: string) => {
      expect(this.seatsBack.has(id), `${id} got its seats back twice (${why})`).toBe(false);
      this.seatsBack.add(id);
    };
    for (const d of done) {
      switch (d.type) {
        case 'reserve':
          if (d.answer.kind === 'reserved') {
            const { reservation } = d.answer;
            this.known.push({
              id: reservation.reservationId,
              seats: reservation.seats,
              kind: d.op.op === 'hold' ? 'hold' : 'confirmed',
              expiresAt: reservation.expiresAt?.getTime() ?? Infinity,
              confirmed: d.op.op === 'reserve',
              cancelled: false,
            });
          }
          break;
        case 'confirm':
          if (d.answer.kind === 'confirmed') d.target.confirmed = true;
          break;
        case 'cancel':
          if (d.answer.kind === 'cancelled') {
            d.target.cancelled = true;
            giveBack(d.target.id, 'cancelled');
          }
          break;
        case 'sweep':
          for (const r of d.answer.expired) if (r.eventId === this.eventId) giveBack(r.reservationId, 'swept');
          break;
      }
    }
  }

  /** The summary, from both processes, and every reservation's status, against the model at this instant. */
  async checkState(): Promise<void> {
    const now = clock.now().getTime();
    const { confirmed, held, confirmedCount } = this.taken(now);
    for (const { repository } of processes) {
      const summary = await repository.getEventSummary(this.eventId);
      expect(summary).toBeDefined();
      const { availableSeats, heldSeats, reservedSeats, reservationCount, totalSeats } = summary!;
      expect(availableSeats + heldSeats + reservedSeats).toBe(totalSeats);
      expect({ availableSeats, heldSeats, reservedSeats, reservationCount, totalSeats }).toEqual({
        availableSeats: this.totalSeats - confirmed - held,
        heldSeats: held,
        reservedSeats: confirmed,
        reservationCount: confirmedCount,
        totalSeats: this.totalSeats,
      });
    }
    const { repository } = processes[0];
    const page = await repository.listReservations({ partnerId: PARTNER, eventId: this.eventId, limit: 1000 });
    const stored = new Map(page.items.map((r) => [r.reservationId, r.status]));
    expect(stored).toEqual(new Map(this.known.map((r) => [r.id, statusOf(r, now)])));
  }

  /** After a sweep: none of the event's holds past their expiry is left unmarked. */
  async expectNoUnmarkedExpiredHolds(): Promise<void> {
    const rows = await database.db
      .selectFrom('reservations')
      .select('reservation_id')
      .where('event_id', '=', this.eventId)
      .where('status', '=', 'held')
      .where('expires_at', '<=', clock.now())
      .execute();
    expect(rows).toEqual([]);
  }
}

let runStart = 0;

function label(op: Op): string {
  switch (op.op) {
    case 'reserve':
      return `${op.by}:reserve(${op.seats})`;
    case 'hold':
      return `${op.by}:hold(${op.seats}, ${op.holdSeconds}s)`;
    case 'confirm':
    case 'cancel':
      return `${op.by}:${op.op}`;
    case 'sweep':
      return `${op.by}:sweep`;
  }
}

function summarize(d: Done): string {
  if (d.type === 'sweep') return `swept ${d.answer.expired.length}`;
  if (d.type === 'confirm' && d.answer.kind === 'confirmed') return `confirmed (recorded: ${d.answer.recorded})`;
  return d.answer.kind;
}

async function runSteps(totalSeats: number, steps: readonly Step[]): Promise<void> {
  const eventId = `holds-${randomUUID().slice(0, 13)}`;
  const created = await processes[0].repository.createEvent({
    eventId,
    name: 'Holds property',
    totalSeats,
    maxSeatsPerReservation: 4,
  });
  expect(created.kind).toBe('created');
  runStart = clock.now().getTime();
  const run = new Run(eventId, totalSeats);
  try {
    for (const step of steps) {
      const now = clock.now().getTime();
      switch (step.step) {
        case 'one': {
          await run.together([step.op]);
          if (step.op.op === 'sweep') await run.expectNoUnmarkedExpiredHolds();
          break;
        }
        case 'advance':
          clock.advance(step.ms);
          run.log.push(`advance ${step.ms}ms`);
          break;
        case 'together':
          await run.together(step.ops);
          break;
        case 'atExpiry': {
          const hold =
            run.pick(step.index, (r) => r.kind === 'hold' && statusOf(r, now) === 'held') ??
            run.pick(step.index, (r) => r.kind === 'hold');
          if (!hold) break;
          const at = hold.expiresAt + step.offset;
          const moved = at > now;
          if (moved) clock.advance(at - now);
          const stillHeld = statusOf(hold, now) === 'held';
          const i = run.known.indexOf(hold);
          run.log.push(
            `clock to the expiry of [${i}]${step.offset === 0 ? '' : ' - 1ms'} (+${clock.now().getTime() - runStart}ms)`,
          );
          const [acted, swept] = await run.together([
            { op: step.action, by: step.by, index: i },
            ...(step.sweepBy === undefined ? [] : [{ op: 'sweep' as const, by: step.sweepBy }]),
          ]);
          if (!moved || !stillHeld) break;
          const answer = acted?.type === 'confirm' || acted?.type === 'cancel' ? acted.answer : undefined;
          const sweptIds = swept?.type === 'sweep' ? swept.answer.expired.map((r) => r.reservationId) : undefined;
          if (step.offset === 0) {
            // Exactly at its expiry the hold is over: confirm and cancel refuse, and a sweep returns its seats.
            expect(answer?.kind).toBe('hold_expired');
            if (sweptIds) expect(sweptIds).toContain(hold.id);
          } else {
            expect(answer).toMatchObject(
              step.action === 'confirm' ? { kind: 'confirmed', recorded: true } : { kind: 'cancelled' },
            );
            if (sweptIds) expect(sweptIds).not.toContain(hold.id);
          }
          break;
        }
        case 'sameHold': {
          const hold =
            run.pick(step.index, (r) => r.kind === 'hold' && statusOf(r, now) === 'held') ??
            run.pick(step.index, (r) => r.kind === 'hold');
          if (!hold) break;
          const i = run.known.indexOf(hold);
          const first = step.actions[0]!.by;
          await run.together([
            ...step.lead.map((op) => ({ ...op, by: first })),
            ...step.actions.map(({ op, by }) => ({ op, by, index: i })),
          ]);
          break;
        }
      }
      await run.checkState();
      expect(await findInvariantBreaches(database.db)).toEqual([]);
    }

    // Past every expiry, a sweep leaves each reservation confirmed, cancelled or expired, and the seats add up.
    clock.advance(6000);
    run.log.push('advance 6000ms, sweep');
    await run.together([{ op: 'sweep', by: 0 }]);
    await run.expectNoUnmarkedExpiredHolds();
    await run.checkState();
    expect(await findInvariantBreaches(database.db)).toEqual([]);
  } catch (error) {
    // Remove the failed run's event, so that the breach it may leave does not fail the runs that shrink it.
    await database.db.deleteFrom('reservations').where('event_id', '=', eventId).execute();
    await database.db.deleteFrom('events').where('event_id', '=', eventId).execute();
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${message}\nrun (${totalSeats} seats):\n  ${run.log.join('\n  ')}`, { cause: error });
  }
}

describe('holds, confirmations, cancellations and expiry in two processes on PostgreSQL', () => {
  it('answer consistently with the clock, never oversell, and keep the stored invariant', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 3, max: 12 }),
        fc.array(stepArb, { minLength: 1, maxLength: 40, size: 'max' }),
        (totalSeats, steps) => runSteps(totalSeats, steps),
      ),
      { numRuns: 50 },
    );
  }, 120_000);
});

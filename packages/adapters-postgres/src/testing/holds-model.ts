import { randomUUID } from 'node:crypto';
import {
  createReservationService,
  type EventRepository,
  type ReservationService,
  type ReservationStatus,
} from '@ticketboss/domain';
import type { ManualClock } from '@ticketboss/domain/testing';
import { expect } from 'vitest';
import type { DatabaseHandle } from '../database.js';
import { createPostgresEventRepository } from '../event-repository.js';
import {
  expectAnswers,
  expectOneEffectEach,
  followAnswers,
  statusOf,
  summarize,
  type Done,
  type Known,
} from './holds-answers.js';
import { label, type Op } from './holds-steps.js';

/**
 * The holds property's system and run (holds.property.test.ts): two "processes" (two services, each with its own
 * repository and pool on the same database) on one manual clock, and a run that sends them the steps' operations
 * and checks every answer and the stored state against the model (holds-answers.ts).
 */

export const PARTNER = 'partner-a';
export const MAX_WAIT_MS = 2000;
/** Real time a step may take before it counts as hung (with the clock standing still, no deadline ever passes). */
const STEP_TIMEOUT_MS = 10_000;
/**
 * Version conflicts a step may run into: a few when both processes write at once, never hundreds (which would be a
 * request retrying a commit that cannot succeed, until its deadline; and the clock standing still, never).
 */
const MAX_CONFLICTS_PER_STEP = 100;

/** Watches the step that runs for hanging or spinning; the processes' observers report their conflicts to it. */
export class StepWatch {
  private conflicts = 0;
  private onSpin: (() => void) | undefined;

  conflicted(): void {
    this.conflicts += 1;
    if (this.conflicts === MAX_CONFLICTS_PER_STEP) this.onSpin?.();
  }

  /** `stuck` resolves with why, if the step hangs or keeps retrying; `stop` once the step settled. */
  watch(): { readonly stuck: Promise<string>; stop(): void } {
    let timer: NodeJS.Timeout | undefined;
    this.conflicts = 0;
    const stuck = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`did not settle within ${STEP_TIMEOUT_MS} ms`), STEP_TIMEOUT_MS);
      this.onSpin = () => resolve(`kept retrying (${MAX_CONFLICTS_PER_STEP} version conflicts)`);
    });
    return {
      stuck,
      stop: () => {
        clearTimeout(timer);
        this.onSpin = undefined;
      },
    };
  }
}

export interface Process {
  readonly repository: EventRepository;
  readonly service: ReservationService;
}

export function startProcess(db: DatabaseHandle, clock: ManualClock, watch: StepWatch): Process {
  const repository = createPostgresEventRepository(db, { clock });
  const service = createReservationService({
    repository,
    clock,
    ids: { reservationId: () => randomUUID() },
    maxWaitMs: MAX_WAIT_MS,
    observer: {
      committed: () => undefined,
      conflicted: () => watch.conflicted(),
    },
  });
  return { repository, service };
}

export interface HoldsSystem {
  readonly clock: ManualClock;
  readonly processes: readonly [Process, Process];
  /** The database both processes use, read directly by the checks. */
  readonly db: DatabaseHandle;
  readonly watch: StepWatch;
}

/** One event's run: the model of its reservations, and the log a failure prints. */
export class Run {
  readonly known: Known[] = [];
  /** Reservations whose seats came back: by a cancel answered `cancelled`, or listed by a sweep. */
  readonly seatsBack = new Set<string>();
  readonly log: string[] = [];
  /** The clock when the run began: the log counts from here. */
  readonly start: number;

  constructor(
    private readonly system: HoldsSystem,
    readonly eventId: string,
    readonly totalSeats: number,
  ) {
    this.start = system.clock.now().getTime();
  }

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
    const { clock, watch } = this.system;
    const now = clock.now().getTime();
    const targets = ops.map((op) => (op.op === 'confirm' || op.op === 'cancel' ? this.pick(op.index) : undefined));
    const runnable = ops.flatMap((op, i) => ((op.op === 'confirm' || op.op === 'cancel') && !targets[i] ? [] : [i]));
    if (runnable.length === 0) return [];
    const statuses = new Map(this.known.map((r) => [r.id, statusOf(r, now)]));
    const freeSeats = this.free(now);
    const pending = Promise.all(runnable.map((i) => this.perform(ops[i]!, targets[i])));
    const watching = watch.watch();
    const outcome = await Promise.race([pending, watching.stuck]);
    watching.stop();
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
      `at +${now - this.start}ms: ` +
        done
          .map((d) => `${label(d.op)}${'target' in d ? `[${this.known.indexOf(d.target)}]` : ''} -> ${summarize(d)}`)
          .join(' & '),
    );
    this.check(done, now, statuses, freeSeats);
    return done;
  }

  private async perform(op: Op, target: Known | undefined): Promise<Done> {
    const { service } = this.system.processes[op.by];
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

  private check(done: readonly Done[], now: number, statuses: Map<string, ReservationStatus>, freeSeats: number) {
    const before = { eventId: this.eventId, partnerId: PARTNER, now, statuses, freeSeats };
    expectAnswers(done, before);
    expectOneEffectEach(done, this.known, before);
    followAnswers(done, this);
  }

  /** The summary, from both processes, and every reservation's status, against the model at this instant. */
  async checkState(): Promise<void> {
    const { clock, processes } = this.system;
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
    const rows = await this.system.db
      .selectFrom('reservations')
      .select('reservation_id')
      .where('event_id', '=', this.eventId)
      .where('status', '=', 'held')
      .where('expires_at', '<=', this.system.clock.now())
      .execute();
    expect(rows).toEqual([]);
  }
}

import type {
  CancelReservationOutcome,
  ConfirmHoldOutcome,
  ReservationStatus,
  ReserveSeatsOutcome,
  SweepOutcome,
} from '@ticketboss/domain';
import { expect } from 'vitest';
import { label, type Op } from './holds-steps.js';

/**
 * The holds property's model (holds.property.test.ts): each reservation as the service's answers made it, how
 * each answer of a step is checked against the model as it stood before the step, and how the model then follows
 * the answers.
 */

export interface Known {
  readonly id: string;
  readonly seats: number;
  readonly kind: 'confirmed' | 'hold';
  /** Holds only. */
  readonly expiresAt: number;
  confirmed: boolean;
  cancelled: boolean;
}

export function statusOf(r: Known, now: number): ReservationStatus {
  if (r.cancelled) return 'cancelled';
  if (r.confirmed) return 'confirmed';
  return now >= r.expiresAt ? 'expired' : 'held';
}

/** An operation and its answer. */
export type Done =
  | {
      readonly type: 'reserve';
      readonly op: Extract<Op, { op: 'reserve' | 'hold' }>;
      readonly answer: ReserveSeatsOutcome;
    }
  | { readonly type: 'confirm'; readonly op: Op; readonly target: Known; readonly answer: ConfirmHoldOutcome }
  | { readonly type: 'cancel'; readonly op: Op; readonly target: Known; readonly answer: CancelReservationOutcome }
  | { readonly type: 'sweep'; readonly op: Op; readonly answer: SweepOutcome };

/** An answer as the failure log writes it. */
export function summarize(d: Done): string {
  if (d.type === 'sweep') return `swept ${d.answer.expired.length}`;
  if (d.type === 'confirm' && d.answer.kind === 'confirmed') return `confirmed (recorded: ${d.answer.recorded})`;
  return d.answer.kind;
}

/** What a step's answers are checked against: the model just before the operations ran together. */
export interface Before {
  readonly eventId: string;
  readonly partnerId: string;
  readonly now: number;
  /** Each known reservation's status. */
  readonly statuses: ReadonlyMap<string, ReservationStatus>;
  readonly freeSeats: number;
}

/** The step's cancels and confirms of one reservation. */
function actionsOn(done: readonly Done[], r: Known) {
  return {
    cancels: done.filter((d): d is Extract<Done, { type: 'cancel' }> => d.type === 'cancel' && d.target === r),
    confirms: done.filter((d): d is Extract<Done, { type: 'confirm' }> => d.type === 'confirm' && d.target === r),
  };
}

/** Checks each answer of a step against the model as it stood before the step. */
export function expectAnswers(done: readonly Done[], before: Before): void {
  for (const d of done) {
    switch (d.type) {
      case 'reserve':
        expectReserveAnswer(d, done, before);
        break;
      case 'confirm':
        expectConfirmAnswer(d, done, before);
        break;
      case 'cancel':
        expectCancelAnswer(d, done, before);
        break;
      case 'sweep':
        for (const r of d.answer.expired.filter((e) => e.eventId === before.eventId)) {
          expect(r.status).toBe('expired');
          expect(before.statuses.get(r.reservationId), `swept ${r.reservationId}`).toBe('expired');
        }
        break;
    }
  }
}

function expectReserveAnswer(d: Extract<Done, { type: 'reserve' }>, done: readonly Done[], before: Before): void {
  const { op, answer } = d;
  const { now, freeSeats: freeBefore } = before;
  if (answer.kind === 'reserved') {
    expect(answer.reservation).toMatchObject({ eventId: before.eventId, partnerId: before.partnerId, seats: op.seats });
    if (op.op === 'hold') {
      expect(answer.reservation.status).toBe('held');
      expect(answer.reservation.expiresAt).toEqual(new Date(now + op.holdSeconds * 1000));
    } else {
      expect(answer.reservation.status).toBe('confirmed');
      expect(answer.reservation.expiresAt).toBeUndefined();
    }
    return;
  }
  expect(answer.kind, `${label(op)} answered`).toBe('insufficient_seats');
  if (answer.kind !== 'insufficient_seats') return;
  expect(op.seats).toBeGreaterThan(answer.availableSeats);
  // Refused only when the seats did not fit: with the clock standing still no hold expires during the step, so the
  // seats free when it was decided are at least those free before, less what the step's other reservations took.
  const takenByOthers = done
    .filter((o) => o !== d && o.type === 'reserve' && o.answer.kind === 'reserved')
    .reduce((sum, o) => sum + (o.op as { seats: number }).seats, 0);
  expect(op.seats, `${label(op)} refused with ${freeBefore} free before`).toBeGreaterThan(freeBefore - takenByOthers);
  const sequential = done.length === 1;
  if (sequential) expect(answer.availableSeats).toBe(freeBefore);
}

function expectConfirmAnswer(d: Extract<Done, { type: 'confirm' }>, done: readonly Done[], before: Before): void {
  const { target, answer } = d;
  const was = before.statuses.get(target.id)!;
  const allowed: string[] = {
    held: ['confirmed'],
    confirmed: ['confirmed'],
    cancelled: ['cancelled'],
    expired: ['hold_expired'],
  }[was];
  // A cancel at the same time may come first.
  if (actionsOn(done, target).cancels.some((o) => o.answer.kind === 'cancelled')) allowed.push('cancelled');
  expect(allowed, `confirm of a ${was} reservation answered ${answer.kind}`).toContain(answer.kind);
  if (answer.kind === 'confirmed') {
    expect(answer.reservation).toMatchObject({ reservationId: target.id, status: 'confirmed' });
  }
  if (answer.kind === 'hold_expired') expect(answer.reservation.status).toBe('expired');
}

function expectCancelAnswer(d: Extract<Done, { type: 'cancel' }>, done: readonly Done[], before: Before): void {
  const { target, answer } = d;
  const was = before.statuses.get(target.id)!;
  const expected = {
    held: 'cancelled',
    confirmed: 'cancelled',
    cancelled: 'already_cancelled',
    expired: 'hold_expired',
  }[was];
  // Of several cancels of one live reservation, one cancels it and the others find it cancelled.
  const allowed =
    expected === 'cancelled' && actionsOn(done, target).cancels.length > 1
      ? ['cancelled', 'already_cancelled']
      : [expected];
  expect(allowed, `cancel of a ${was} reservation answered ${answer.kind}`).toContain(answer.kind);
}

/** Per reservation: one cancel of a live one cancels it; at most one confirm of a live hold records it. */
export function expectOneEffectEach(done: readonly Done[], known: readonly Known[], before: Before): void {
  for (const r of known) {
    const was = before.statuses.get(r.id);
    const { cancels, confirms } = actionsOn(done, r);
    if (cancels.length > 0 && (was === 'held' || was === 'confirmed')) {
      expect(cancels.filter((d) => d.answer.kind === 'cancelled')).toHaveLength(1);
    }
    const recorded = confirms.filter((d) => d.answer.kind === 'confirmed' && d.answer.recorded);
    expect(recorded.length, 'confirmations recorded').toBeLessThanOrEqual(was === 'held' ? 1 : 0);
    if (was === 'held' && confirms.some((d) => d.answer.kind === 'confirmed')) expect(recorded).toHaveLength(1);
  }
}

/** The model follows the answers; a reservation's seats come back at most once. */
export function followAnswers(
  done: readonly Done[],
  model: { readonly eventId: string; readonly known: Known[]; readonly seatsBack: Set<string> },
): void {
  const giveBack = (id: string, why: string) => {
    expect(model.seatsBack.has(id), `${id} got its seats back twice (${why})`).toBe(false);
    model.seatsBack.add(id);
  };
  for (const d of done) {
    switch (d.type) {
      case 'reserve':
        if (d.answer.kind === 'reserved') {
          const { reservation } = d.answer;
          model.known.push({
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
        for (const r of d.answer.expired) if (r.eventId === model.eventId) giveBack(r.reservationId, 'swept');
        break;
    }
  }
}

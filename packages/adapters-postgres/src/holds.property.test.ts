import { randomUUID } from 'node:crypto';
import { createManualClock } from '@ticketboss/domain/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type DatabaseHandle } from './database.js';
import { findInvariantBreaches } from './invariant.js';
import { statusOf } from './testing/holds-answers.js';
import { Run, startProcess, StepWatch, type HoldsSystem } from './testing/holds-model.js';
import { stepArb, type Step } from './testing/holds-steps.js';
import { createTestDatabase, type TestDatabase } from './testing/index.js';

/**
 * Holds, confirmations, cancellations and expiry in random interleavings, on the real PostgreSQL adapter and the
 * real service, in two "processes" (two services, each with its own repository and pool on the same database).
 * One manual clock is shared by everything, so whether a hold has expired is decided to the millisecond, and it
 * never moves while the operations of a step run together. The steps and their generators are in
 * testing/holds-steps.ts, the model in testing/holds-answers.ts and the run in testing/holds-model.ts.
 */

const clock = createManualClock();
const watch = new StepWatch();
let database: TestDatabase;
let secondPool: DatabaseHandle;
let system: HoldsSystem;

beforeAll(async () => {
  database = await createTestDatabase();
  secondPool = createDatabase({ connectionString: database.url });
  const processes = [startProcess(database.db, clock, watch), startProcess(secondPool, clock, watch)] as const;
  system = { clock, processes, db: database.db, watch };
});
afterAll(async () => {
  await secondPool?.destroy();
  await database?.drop();
});

/** A hold still held (else any hold) of the run, picked by the step's index. */
function holdToAct(run: Run, index: number, now: number) {
  return (
    run.pick(index, (r) => r.kind === 'hold' && statusOf(r, now) === 'held') ??
    run.pick(index, (r) => r.kind === 'hold')
  );
}

/** The clock to a hold's expiry (or 1 ms before), then its confirm or cancel, alone or at once with a sweep. */
async function atExpiry(run: Run, step: Extract<Step, { step: 'atExpiry' }>, now: number): Promise<void> {
  const hold = holdToAct(run, step.index, now);
  if (!hold) return;
  const at = hold.expiresAt + step.offset;
  const moved = at > now;
  if (moved) clock.advance(at - now);
  const stillHeld = statusOf(hold, now) === 'held';
  const i = run.known.indexOf(hold);
  run.log.push(
    `clock to the expiry of [${i}]${step.offset === 0 ? '' : ' - 1ms'} (+${clock.now().getTime() - run.start}ms)`,
  );
  const [acted, swept] = await run.together([
    { op: step.action, by: step.by, index: i },
    ...(step.sweepBy === undefined ? [] : [{ op: 'sweep' as const, by: step.sweepBy }]),
  ]);
  if (!moved || !stillHeld) return;
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
}

/** Cancels and confirms of one hold at once, after `lead` reservations in the process of the first of them. */
async function sameHold(run: Run, step: Extract<Step, { step: 'sameHold' }>, now: number): Promise<void> {
  const hold = holdToAct(run, step.index, now);
  if (!hold) return;
  const i = run.known.indexOf(hold);
  const first = step.actions[0]!.by;
  await run.together([
    ...step.lead.map((op) => ({ ...op, by: first })),
    ...step.actions.map(({ op, by }) => ({ op, by, index: i })),
  ]);
}

async function runSteps(totalSeats: number, steps: readonly Step[]): Promise<void> {
  const eventId = `holds-${randomUUID().slice(0, 13)}`;
  const created = await system.processes[0].repository.createEvent({
    eventId,
    name: 'Holds property',
    totalSeats,
    maxSeatsPerReservation: 4,
  });
  expect(created.kind).toBe('created');
  const run = new Run(system, eventId, totalSeats);
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
        case 'atExpiry':
          await atExpiry(run, step, now);
          break;
        case 'sameHold':
          await sameHold(run, step, now);
          break;
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

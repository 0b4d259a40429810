/**
 * The seat ledger of one event under traffic over real HTTP: what the clients were answered, and when, held
 * against the event's total. A change the API applied was committed at some instant between the send of its
 * request and the arrival of its answer; times are performance.now() of the one process that sent them all.
 *
 * From the answers alone, at any instant t a reservation's seats were
 * - possibly taken from the send of the request its 201 answered, until the 204 of its cancellation arrived;
 * - surely taken from the arrival of its 201, until its cancellation was sent.
 * A refusal is proven when some instant of its window had fewer seats possibly free than it asked for: no order
 * of the commits the answers allow would have let it through. The ledger never proves a refusal that a correct
 * API could not have given, and never blames one it could have: an honest refusal was decided at an instant of
 * its window with fewer seats free than asked, and at that instant the seats possibly free were no more.
 */

/** A reservation or hold a request was made for, and what became of it. */
export interface Taking {
  readonly seats: number;
  /** Its request was sent: its seats may be taken from then. */
  readonly sentAt: number;
  /** Its 201 arrived: taken by then. Undefined when no answer says it was made (it may have been). */
  readonly answeredAt?: number;
  /** A cancellation was sent: the seats may be free from then. */
  readonly cancelSentAt?: number;
  /** Its 204 arrived: free by then. Undefined when no answer says it was cancelled (it may have been). */
  readonly cancelAnsweredAt?: number;
}

/** A 409 INSUFFICIENT_SEATS. */
export interface Refusal {
  readonly seats: number;
  readonly sentAt: number;
  readonly answeredAt: number;
}

export interface UnprovenRefusal {
  readonly refusal: Refusal;
  /** The fewest seats possibly free at any instant of its window: at least what it asked for. */
  readonly fewestPossiblyFree: number;
}

/** A count that changes at instants: its value at t is the sum of the changes at or before t. */
interface Steps {
  readonly times: readonly number[];
  readonly values: readonly number[];
}

function steps(changes: { at: number; delta: number }[]): Steps {
  changes.sort((a, b) => a.at - b.at);
  const times: number[] = [];
  const values: number[] = [];
  let value = 0;
  for (const { at, delta } of changes) {
    value += delta;
    if (times.length > 0 && times[times.length - 1] === at) values[values.length - 1] = value;
    else {
      times.push(at);
      values.push(value);
    }
  }
  return { times, values };
}

/** Index of the last change at or before t, -1 if none. */
function lastAtOrBefore(s: Steps, t: number): number {
  let low = 0;
  let high = s.times.length - 1;
  let found = -1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (s.times[middle]! <= t) {
      found = middle;
      low = middle + 1;
    } else high = middle - 1;
  }
  return found;
}

/** The highest (or lowest) value the count has at some instant of [from, to]. */
function extreme(s: Steps, from: number, to: number, pick: (a: number, b: number) => number): number {
  let index = lastAtOrBefore(s, from);
  let result = index < 0 ? 0 : s.values[index]!;
  for (index += 1; index < s.times.length && s.times[index]! <= to; index += 1) result = pick(result, s.values[index]!);
  return result;
}

/** Seats possibly taken at each instant: from the send of a reservation until the 204 of its cancellation. */
function possiblyTaken(takings: readonly Taking[]): Steps {
  const changes: { at: number; delta: number }[] = [];
  for (const t of takings) {
    changes.push({ at: t.sentAt, delta: t.seats });
    if (t.cancelAnsweredAt !== undefined) changes.push({ at: t.cancelAnsweredAt, delta: -t.seats });
  }
  return steps(changes);
}

/** Seats surely taken at each instant: from the 201 of a reservation until its cancellation was sent. */
function surelyTaken(takings: readonly Taking[]): Steps {
  const changes: { at: number; delta: number }[] = [];
  for (const t of takings) {
    if (t.answeredAt === undefined) continue;
    const until = t.cancelSentAt ?? Infinity;
    if (until <= t.answeredAt) continue;
    changes.push({ at: t.answeredAt, delta: t.seats });
    if (until !== Infinity) changes.push({ at: until, delta: -t.seats });
  }
  return steps(changes);
}

/** The refusals the ledger cannot prove: false denials, as far as the answers show. */
export function unprovenRefusals(
  totalSeats: number,
  takings: readonly Taking[],
  refusals: readonly Refusal[],
): UnprovenRefusal[] {
  const taken = possiblyTaken(takings);
  const unproven: UnprovenRefusal[] = [];
  for (const refusal of refusals) {
    const fewestPossiblyFree = totalSeats - extreme(taken, refusal.sentAt, refusal.answeredAt, Math.max);
    if (fewestPossiblyFree >= refusal.seats) unproven.push({ refusal, fewestPossiblyFree });
  }
  return unproven;
}

/** The most seats surely taken at one instant, beyond the total: above 0 is an oversell the answers prove. */
export function provenOversell(totalSeats: number, takings: readonly Taking[]): number {
  const taken = surelyTaken(takings);
  return Math.max(0, ...taken.values) - totalSeats;
}

/**
 * Whether a count of taken seats read in [sentAt, answeredAt] (a summary's held plus reserved seats) is one the
 * answers allow: no fewer than the fewest surely taken and no more than the most possibly taken in that window.
 */
export function takenSeatsAllowed(
  takings: readonly Taking[],
): (reading: { takenSeats: number; sentAt: number; answeredAt: number }) => boolean {
  const possibly = possiblyTaken(takings);
  const surely = surelyTaken(takings);
  return ({ takenSeats, sentAt, answeredAt }) =>
    takenSeats >= extreme(surely, sentAt, answeredAt, Math.min) &&
    takenSeats <= extreme(possibly, sentAt, answeredAt, Math.max);
}

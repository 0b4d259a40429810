import { RATE_SECONDS } from '@ticketboss/domain';

/**
 * An event's rollup for one second (its pools' rows added up, the holds past their expiry that no change has marked
 * yet counted among the expiries): what the console's series and rates are made of.
 */
export interface ActivitySecond {
  readonly second: Date;
  readonly reservations: number;
  readonly reserved_seats: number;
  readonly holds: number;
  readonly held_seats: number;
  readonly confirmations: number;
  readonly confirmed_seats: number;
  readonly cancellations: number;
  readonly cancelled_seats: number;
  readonly expiries: number;
  readonly expired_seats: number;
  readonly capacity_change: number;
}

export interface ActivitySeries {
  readonly at: number[];
  readonly reservations: number[];
  readonly cancellations: number[];
  readonly holdsTaken: number[];
  readonly holdsExpired: number[];
  readonly holdsConfirmed: number[];
  readonly availableSeats: (number | null)[];
}

export interface Rates {
  readonly seatsPerMinute: number;
  readonly netSeatsPerMinute: number;
}

const SECOND_MS = 1000;

/** The start of the second `at` falls in, in ms. */
export const secondOf = (at: Date): number => Math.floor(at.getTime() / SECOND_MS) * SECOND_MS;

/** The first second of the rate window: the RATE_SECONDS seconds that end with the current one. */
export const rateWindowStart = (now: Date): Date => new Date(secondOf(now) - (RATE_SECONDS - 1) * SECOND_MS);

/**
 * The second a row counts in: a row stamped after `now` (written by a process whose clock runs a little ahead) is
 * already in the snapshot's seats, so it counts in the current second.
 */
const slotOf = (row: ActivitySecond, nowSecond: number) => Math.min(secondOf(row.second), nowSecond);

/** Seats taken minus seats returned, per minute, and seats sold per minute, over the rate window. */
export function ratesOf(rows: readonly ActivitySecond[], now: Date): Rates {
  const nowSecond = secondOf(now);
  const from = rateWindowStart(now).getTime();
  let sold = 0;
  let net = 0;
  for (const row of rows) {
    if (slotOf(row, nowSecond) < from) continue;
    sold += row.reserved_seats + row.confirmed_seats;
    net += row.reserved_seats + row.held_seats - row.cancelled_seats - row.expired_seats;
  }
  return perMinute(sold, net);
}

/** The rates from the seats sold and the net seats taken over the rate window (RATE_SECONDS long). */
export function perMinute(sold: number, net: number): Rates {
  const scale = 60 / RATE_SECONDS;
  return { seatsPerMinute: sold * scale, netSeatsPerMinute: net * scale };
}

/**
 * The last `seconds` seconds up to `now`'s, one entry each. The available seats at the end of each second are the
 * current ones (`availableNow`, read in the same snapshot as `rows`) less every later second's change to them, so
 * `rows` must hold every row from the window's first second on; null before the event was created.
 */
export function seriesOf(
  rows: readonly ActivitySecond[],
  { now, seconds, availableNow, createdAt }: { now: Date; seconds: number; availableNow: number; createdAt: Date },
): ActivitySeries {
  const nowSecond = secondOf(now);
  const first = nowSecond - (seconds - 1) * SECOND_MS;
  const zeros = () => new Array<number>(seconds).fill(0);
  const series = {
    at: Array.from({ length: seconds }, (_, i) => (first + i * SECOND_MS) / SECOND_MS),
    reservations: zeros(),
    cancellations: zeros(),
    holdsTaken: zeros(),
    holdsExpired: zeros(),
    holdsConfirmed: zeros(),
  };
  const change = zeros();
  for (const row of rows) {
    const i = (slotOf(row, nowSecond) - first) / SECOND_MS;
    if (i < 0) continue;
    series.reservations[i]! += row.reservations;
    series.cancellations[i]! += row.cancellations;
    series.holdsTaken[i]! += row.holds;
    series.holdsExpired[i]! += row.expiries;
    series.holdsConfirmed[i]! += row.confirmations;
    change[i]! += row.capacity_change - row.reserved_seats - row.held_seats + row.cancelled_seats + row.expired_seats;
  }
  // An event made by a process whose clock runs a little behind the database's still exists now.
  const existsFrom = Math.min(secondOf(createdAt), nowSecond);
  const availableSeats = new Array<number | null>(seconds);
  let available = availableNow;
  for (let i = seconds - 1; i >= 0; i--) {
    availableSeats[i] = first + i * SECOND_MS < existsFrom ? null : available;
    available -= change[i]!;
  }
  return { ...series, availableSeats };
}

/** When the available seats run out at the net rate; null when that rate is not above 0 or none are left. */
export function sellOutAt(now: Date, availableSeats: number, netSeatsPerMinute: number): Date | null {
  if (netSeatsPerMinute <= 0 || availableSeats <= 0) return null;
  return new Date(now.getTime() + Math.round((availableSeats / netSeatsPerMinute) * 60_000));
}

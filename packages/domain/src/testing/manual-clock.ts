import type { Clock } from '../ports.js';

export interface ManualClock extends Clock {
  /** Moves time forward (or back, with a negative amount). */
  advance(ms: number): void;
}

/** A clock that moves only when told: for expiries decided to the millisecond. Starts at the real time. */
export function createManualClock(start: Date = new Date()): ManualClock {
  let nowMs = start.getTime();
  return {
    now: () => new Date(nowMs),
    advance(ms) {
      nowMs += ms;
    },
  };
}

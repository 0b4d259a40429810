/**
 * Runs tasks one at a time per key, in arrival order, and different keys independently. Used per event so
 * that one process never races itself for an event's version: its own requests queue instead of colliding.
 * This is a throughput measure only; correctness across processes comes from the version guard.
 */
export interface SerialLanes {
  run<T>(key: string, task: () => Promise<T>): Promise<T>;
  /** Keys with queued or running tasks (for tests and metrics). */
  readonly activeKeys: number;
}

export function createSerialLanes(): SerialLanes {
  const tails = new Map<string, Promise<void>>();
  return {
    run<T>(key: string, task: () => Promise<T>): Promise<T> {
      const previous = tails.get(key) ?? Promise.resolve();
      const result = previous.then(task);
      const tail = result.then(
        () => undefined,
        () => undefined,
      );
      tails.set(key, tail);
      void tail.then(() => {
        if (tails.get(key) === tail) tails.delete(key);
      });
      return result;
    },
    get activeKeys() {
      return tails.size;
    },
  };
}

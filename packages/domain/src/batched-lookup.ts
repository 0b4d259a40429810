/**
 * Turns a many-keys lookup into a one-key lookup that shares round trips: while a lookup is in flight, the keys
 * asked for meanwhile wait and the next lookup takes all of them at once. A caller never joins a lookup that
 * started before it asked, so every answer reflects the store as it was after the call was made (a revoked key
 * is never accepted by a request that arrived after the revocation was answered).
 */
export function createBatchedLookup<K, V>(
  fetchMany: (keys: readonly K[]) => Promise<ReadonlyMap<K, V>>,
): (key: K) => Promise<V | undefined> {
  let waiting: { key: K; resolve: (value: V | undefined) => void; reject: (error: unknown) => void }[] = [];
  let inFlight = false;

  async function drain(): Promise<void> {
    inFlight = true;
    while (waiting.length > 0) {
      const batch = waiting;
      waiting = [];
      try {
        const found = await fetchMany([...new Set(batch.map((w) => w.key))]);
        for (const w of batch) w.resolve(found.get(w.key));
      } catch (error) {
        for (const w of batch) w.reject(error);
      }
    }
    inFlight = false;
  }

  return (key) =>
    new Promise((resolve, reject) => {
      waiting.push({ key, resolve, reject });
      if (!inFlight) void drain();
    });
}

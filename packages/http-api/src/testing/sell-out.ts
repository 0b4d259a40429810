/**
 * A sell-out driven over real HTTP, and its analysis: used by the concurrency tests and by `pnpm bench`.
 */

/** Runs `tasks` with at most `limit` in flight at once. */
export async function inParallel<T>(limit: number, tasks: readonly (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

/** Deterministic seat counts 1..10, so a failing run can be replayed. */
export function seatCounts(n: number, seed: number): number[] {
  let state = seed;
  return Array.from({ length: n }, () => {
    // 32-bit LCG in integer arithmetic (a float product would lose the low bits); its high bits are the random ones.
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return ((state >>> 16) % 10) + 1;
  });
}

export interface Summary {
  readonly availableSeats: number;
  readonly reservedSeats: number;
  readonly reservationCount: number;
  readonly version: number;
  readonly totalSeats: number;
}

export interface ReserveResult {
  readonly seats: number;
  readonly status: number;
  readonly error: string | undefined;
  readonly startedAt: number;
  readonly answeredAt: number;
}

export async function reserveOverHttp(baseUrl: string, seats: number, partnerId = 'load'): Promise<ReserveResult> {
  const startedAt = performance.now();
  const response = await fetch(`${baseUrl}/reservations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ partnerId, seats }),
  });
  const body = (await response.json()) as { error?: string };
  return { seats, status: response.status, error: body.error, startedAt, answeredAt: performance.now() };
}

export async function fetchSummary(baseUrl: string): Promise<Summary> {
  return (await (await fetch(`${baseUrl}/reservations`)).json()) as Summary;
}

export interface SellOutReport {
  readonly results: readonly ReserveResult[];
  readonly final: Summary;
  readonly confirmed: number;
  readonly confirmedSeats: number;
  readonly denied: number;
  /** Answers other than 201 and 409. */
  readonly unexpected: readonly ReserveResult[];
  /**
   * Denials that were wrong. With only reservations, seats never come back, so a denied request must not fit in
   * what is left at the end; and the seats confirmed to requests sent after its 409 arrived were free when it
   * was decided, so those plus what is left must not have been enough either.
   */
  readonly falseDenials: readonly ReserveResult[];
  /** Oversold seats: confirmed beyond the event's total. */
  readonly oversold: number;
  /** From the first request to the last answer. */
  readonly elapsedMs: number;
}

/** Judges a sell-out's answers against the event's final summary (see SellOutReport). */
export function analyseSellOut(results: readonly ReserveResult[], final: Summary, elapsedMs: number): SellOutReport {
  const confirmedResults = results.filter((r) => r.status === 201);
  const deniedResults = results.filter((r) => r.status === 409);
  const confirmedSeats = confirmedResults.reduce((sum, r) => sum + r.seats, 0);
  const falseDenials = deniedResults.filter((d) => {
    const confirmedLater = confirmedResults
      .filter((c) => c.startedAt > d.answeredAt)
      .reduce((sum, c) => sum + c.seats, 0);
    return d.seats <= final.availableSeats + confirmedLater;
  });
  return {
    results,
    final,
    confirmed: confirmedResults.length,
    confirmedSeats,
    denied: deniedResults.length,
    unexpected: results.filter((r) => r.status !== 201 && r.status !== 409),
    falseDenials,
    oversold: Math.max(0, confirmedSeats - final.totalSeats),
    elapsedMs,
  };
}

/** Fires `requests` reservations of 1-10 seats with `inFlight` at a time, spread round-robin over `baseUrls`. */
export async function sellOut(options: {
  baseUrls: readonly string[];
  requests: number;
  inFlight: number;
  seed?: number;
  reserve?: (baseUrl: string, seats: number) => Promise<ReserveResult>;
}): Promise<SellOutReport> {
  const { baseUrls, requests, inFlight } = options;
  const reserve = options.reserve ?? reserveOverHttp;
  const counts = seatCounts(requests, options.seed ?? 20_251_125);
  const started = performance.now();
  const results = await inParallel(
    inFlight,
    counts.map((seats, i) => () => reserve(baseUrls[i % baseUrls.length]!, seats)),
  );
  const elapsedMs = performance.now() - started;
  return analyseSellOut(results, await fetchSummary(baseUrls[0]!), elapsedMs);
}

/**
 * The operator console's requests, as an open /console page makes them while it shows one event: that event's
 * activity every second, the events list and the partners table every 5 s, each with the admin token. Run in the
 * bench process, beside a churn, to measure what an open console costs the hot path (row 2d).
 */
import { summarise, type LatencySummary } from './stats.js';

export interface ConsolePolling {
  readonly requests: number;
  /** Answers other than 200. */
  readonly errors: number;
  readonly latency: LatencySummary;
}

/** What the page polls, and how often (packages/http-api/console/console.js). */
const STREAMS = [
  { every: 1000, path: (eventId: string) => `/v1/admin/events/${eventId}/activity` },
  { every: 5000, path: () => '/v1/admin/events' },
  { every: 5000, path: () => '/v1/admin/partners?window=15m' },
] as const;

export function startConsolePolling(url: string, adminToken: string, eventId: string) {
  const latencies: number[] = [];
  let errors = 0;
  let stopped = false;
  // Each stream's pending pause, ended at once by stop().
  const waking = new Set<() => void>();
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        waking.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      waking.add(wake);
    });

  async function poll(every: number, path: string) {
    while (!stopped) {
      const started = performance.now();
      try {
        const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${adminToken}` } });
        await response.arrayBuffer();
        latencies.push(performance.now() - started);
        if (response.status !== 200) errors += 1;
      } catch {
        // No answer at all (the process went away): counted, and the page would try again.
        errors += 1;
      }
      // As the page's timers do: the next request a period after this one started, at once if it took longer.
      const rest = every - (performance.now() - started);
      if (rest > 0 && !stopped) await pause(rest);
    }
  }

  const running = Promise.all(STREAMS.map((s) => poll(s.every, s.path(eventId))));
  return {
    async stop(): Promise<ConsolePolling> {
      stopped = true;
      for (const wake of [...waking]) wake();
      await running;
      return { requests: latencies.length, errors, latency: summarise(latencies) };
    },
  };
}

/**
 * The load generator: runs in its own process (so it does not share an event loop with the API), drives one
 * scenario over HTTP with undici, and prints its result as one JSON line on stdout.
 */
import { analyseSellOut, fetchSummary, inParallel, seatCounts, type ReserveResult } from '@ticketboss/http-api/testing';
import { randomUUID } from 'node:crypto';
import { Pool } from 'undici';
import { summarise, type LatencySummary } from './stats.js';

export type LoadPlan =
  | {
      readonly scenario: 'sell-out';
      readonly urls: string[];
      /** Partner API keys; requests take turns. */
      readonly tokens: string[];
      readonly requests: number;
      readonly inFlight: number;
      /** Reserve-and-cancel traffic first (every seat is back afterwards), so a cold JIT is not what is measured. */
      readonly warmUpMs: number;
    }
  | {
      readonly scenario: 'churn';
      readonly urls: string[];
      readonly tokens: string[];
      readonly clients: number;
      readonly durationMs: number;
      /** Each reservation sent with an Idempotency-Key of its own, as a careful partner sends it. */
      readonly idempotencyKeys?: boolean;
      /** Every n-th reservation (counted over all clients) is kept (not cancelled): the event sells seats as it churns. */
      readonly keepEvery?: number;
    };

export interface SellOutResult {
  readonly scenario: 'sell-out';
  readonly requests: number;
  readonly confirmed: number;
  readonly seatsSold: number;
  readonly denied: number;
  readonly falseDenials: number;
  readonly oversold: number;
  readonly serverErrors: number;
  readonly otherAnswers: number;
  readonly latency: LatencySummary;
  /** From the first request to the answer of the last confirmation. */
  readonly timeToSellOutMs: number;
  readonly elapsedMs: number;
  readonly availableAtEnd: number;
}

export interface ChurnResult {
  readonly scenario: 'churn';
  readonly operations: number;
  readonly operationsPerSecond: number;
  readonly reserved: number;
  readonly cancelled: number;
  /** Answers other than 201 to a reservation and 204 to its cancellation. */
  readonly errors: number;
  readonly contended: number;
  readonly latency: LatencySummary;
  readonly elapsedMs: number;
  /**
   * CPU time this load generator spent per operation (user + system). The same work per operation whatever
   * serves it: where it grows, the machine's cores were shared by more processes, each woken for fewer answers.
   */
  readonly loadCpuMsPerOperation: number;
}

const pools = new Map<string, Pool>();
function pool(url: string, connections: number): Pool {
  let existing = pools.get(url);
  if (!existing) {
    existing = new Pool(url, { connections, pipelining: 1 });
    pools.set(url, existing);
  }
  return existing;
}

/** The classic POST /reservations with a partner's key, as partners call it by default. */
async function reserve(url: string, seats: number, token: string, idempotencyKey?: string) {
  const startedAt = performance.now();
  const { statusCode, body } = await pool(url, 256).request({
    path: '/reservations',
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${token}`,
      ...(idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey }),
    },
    body: JSON.stringify({ seats }),
  });
  const payload = (await body.json()) as { reservationId?: string; error?: string };
  return { statusCode, payload, startedAt, answeredAt: performance.now() };
}

async function runSellOut(plan: Extract<LoadPlan, { scenario: 'sell-out' }>): Promise<SellOutResult> {
  if (plan.warmUpMs > 0) {
    const warmUp = await runChurn({
      scenario: 'churn',
      urls: plan.urls,
      tokens: plan.tokens,
      clients: plan.inFlight,
      durationMs: plan.warmUpMs,
    });
    if (warmUp.errors > 0) throw new Error(`warm-up had ${warmUp.errors} errors`);
  }
  const counts = seatCounts(plan.requests, 20_251_125);
  const started = performance.now();
  const results: ReserveResult[] = await inParallel(
    plan.inFlight,
    counts.map((seats, i) => async () => {
      const r = await reserve(plan.urls[i % plan.urls.length]!, seats, plan.tokens[i % plan.tokens.length]!);
      return { seats, status: r.statusCode, error: r.payload.error, startedAt: r.startedAt, answeredAt: r.answeredAt };
    }),
  );
  const elapsedMs = performance.now() - started;
  const report = analyseSellOut(results, await fetchSummary(plan.urls[0]!), elapsedMs);
  const lastConfirmation = Math.max(...results.filter((r) => r.status === 201).map((r) => r.answeredAt));
  return {
    scenario: 'sell-out',
    requests: plan.requests,
    confirmed: report.confirmed,
    seatsSold: report.confirmedSeats,
    denied: report.denied,
    falseDenials: report.falseDenials.length,
    oversold: report.oversold,
    serverErrors: results.filter((r) => r.status >= 500).length,
    otherAnswers: report.unexpected.length,
    latency: summarise(results.map((r) => r.answeredAt - r.startedAt)),
    timeToSellOutMs: lastConfirmation - started,
    elapsedMs,
    availableAtEnd: report.final.availableSeats,
  };
}

async function runChurn(plan: Extract<LoadPlan, { scenario: 'churn' }>): Promise<ChurnResult> {
  const latencies: number[] = [];
  let reserved = 0;
  let cancelled = 0;
  let errors = 0;
  let contended = 0;
  const cpuAtStart = process.cpuUsage();
  const started = performance.now();
  const until = started + plan.durationMs;
  await Promise.all(
    Array.from({ length: plan.clients }, async (_, client) => {
      const url = plan.urls[client % plan.urls.length]!;
      const token = plan.tokens[client % plan.tokens.length]!;
      while (performance.now() < until) {
        const r = await reserve(url, 1, token, plan.idempotencyKeys ? randomUUID() : undefined);
        latencies.push(r.answeredAt - r.startedAt);
        if (r.statusCode !== 201 || !r.payload.reservationId) {
          errors += 1;
          if (r.statusCode === 503) contended += 1;
          continue;
        }
        reserved += 1;
        if (plan.keepEvery !== undefined && reserved % plan.keepEvery === 0) continue;
        const cancelStarted = performance.now();
        const { statusCode, body } = await pool(url, 256).request({
          path: `/reservations/${r.payload.reservationId}`,
          method: 'DELETE',
          headers: { authorization: `Bearer ${token}` },
        });
        await body.dump();
        latencies.push(performance.now() - cancelStarted);
        if (statusCode === 204) cancelled += 1;
        else {
          errors += 1;
          if (statusCode === 503) contended += 1;
        }
      }
    }),
  );
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuAtStart);
  return {
    scenario: 'churn',
    loadCpuMsPerOperation: (cpu.user + cpu.system) / 1000 / Math.max(1, latencies.length),
    operations: latencies.length,
    operationsPerSecond: latencies.length / (elapsedMs / 1000),
    reserved,
    cancelled,
    errors,
    contended,
    latency: summarise(latencies),
    elapsedMs,
  };
}

const plan = JSON.parse(process.argv[2] ?? '{}') as LoadPlan;
const result = plan.scenario === 'sell-out' ? await runSellOut(plan) : await runChurn(plan);
await Promise.all([...pools.values()].map((p) => p.close()));
process.stdout.write(`${JSON.stringify(result)}\n`);

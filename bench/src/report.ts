/**
 * What a bench run measured, reduced to medians of rounds and per-round ratios: the JSON of
 * bench/results/latest.json, and the table and summary lines printed at the end.
 */
import type { CommitCounts } from './api-processes.js';
import type { ConsolePolling } from './console-poller.js';
import type { ChurnResult, SellOutResult } from './load.js';
import type { Ceiling, PoolRun } from './pgbench.js';
import { median, medianOf } from './stats.js';

/** One churn run, with what the processes counted of their commits during it (from /metrics). */
export type ChurnRound = ChurnResult & { readonly counts: CommitCounts };

/** Churn through the process whose partners have webhook endpoints, and what its deliveries took. */
export type WebhookRound = ChurnRound & {
  /** Deliveries the receiver got while the churn ran. */
  readonly deliveriesDuringChurn: number;
  /** Deliveries it got for this round in all, once the queue was empty (or at the drain deadline). */
  readonly deliveries: number;
  /** From the end of the churn until no delivery was queued; NaN if that did not happen by the deadline. */
  readonly drainMs: number;
};

/** Churn through the one-process set with the operator console's requests beside it, and how they were answered. */
export type ConsoleRound = ChurnRound & {
  readonly console: ConsolePolling;
  /** The closed churn run right after it (row 2's own run is the one right before it). */
  readonly closedAfter: ChurnRound;
};

/** Churn through one set of API processes (on a database of their own), round after round. */
export interface ChurnSet {
  readonly processes: number;
  readonly rounds: ChurnRound[];
  readonly peakRssMb: number[];
  /** Each process's "stopped" log line: totals over all its rounds. */
  readonly stopped: CommitCounts[];
}

export interface BenchRun {
  readonly date: string;
  readonly machine: string;
  readonly node: string;
  readonly postgres: string;
  readonly rounds: number;
  readonly churnSeconds: number;
  readonly clients: number;
  readonly sellOut: SellOutResult & { readonly peakRssMb: number[]; readonly stopped: CommitCounts[] };
  readonly sellOutCold: SellOutResult;
  /** Ordered by process count; the first is one process. */
  readonly churnSets: ChurnSet[];
  /** Churn through the one-process set, each reservation with an Idempotency-Key of its own. */
  readonly keyed: ChurnRound[];
  /** Churn through the one-process set with an open console on the churned event. */
  readonly withConsole: ConsoleRound[];
  /** Churn through one process as in `keyed`'s set, each partner with a webhook endpoint (every event). */
  readonly webhooks: WebhookRound[];
  /** Empty when pgbench is not installed. */
  readonly ceilings: Ceiling[];
  /** The seat-pool commit statement by pool count, without its version guard, then with it. */
  readonly pools: {
    readonly pools: number;
    readonly guarded: boolean;
    readonly console: boolean;
    readonly rounds: PoolRun[];
  }[];
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const pct = (n: number) => (Number.isFinite(n) ? `${(n * 100).toFixed(1)}%` : 'n/a');
const sum = <T>(items: readonly T[], key: (item: T) => number) => items.reduce((s, x) => s + key(x), 0);
const perRound = (ratios: readonly number[]) => ratios.map((r) => fmt(r, 2)).join(', ');
const verdict = (met: boolean) => (met ? 'met' : 'NOT met');
const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : noun.endsWith('s') ? 'es' : 's'}`;

/** Ratios of the same round's throughputs; empty unless both sides have every round. */
function ratios(top: readonly { operationsPerSecond: number }[], bottom: readonly { operationsPerSecond: number }[]) {
  if (top.length === 0 || top.length !== bottom.length) return [];
  return top.map((t, i) => t.operationsPerSecond / bottom[i]!.operationsPerSecond);
}

function churnSummary(set: ChurnSet, oneProcess: ChurnSet) {
  const counts = set.rounds.map((r) => r.counts);
  const toOneProcess = ratios(set.rounds, oneProcess.rounds);
  return {
    processes: set.processes,
    ...median(set.rounds, (r) => r.operationsPerSecond),
    toOneProcess: medianOf(toOneProcess),
    perRoundToOneProcess: toOneProcess,
    errorsAllRounds: sum(set.rounds, (r) => r.errors),
    contendedAllRounds: sum(set.rounds, (r) => r.contended),
    changesPerCommit: sum(counts, (c) => c.changesCommitted) / sum(counts, (c) => c.commits),
    conflictsPerCommit: sum(counts, (c) => c.versionConflicts) / sum(counts, (c) => c.commits),
    rebalancesPerSecond: sum(counts, (c) => c.rebalances) / sum(set.rounds, (r) => r.elapsedMs / 1000),
    loadCpuMsPerOperation: medianOf(set.rounds.map((r) => r.loadCpuMsPerOperation)),
    apiCpuMsPerOperation: medianOf(set.rounds.map((r) => (r.counts.cpuSeconds * 1000) / r.operations)),
    peakRssMb: set.peakRssMb,
    stopped: set.stopped,
    rounds: set.rounds,
  };
}

/** The numbers of bench/results/latest.json. */
export function summarise(run: BenchRun) {
  const oneProcess = run.churnSets[0]!;
  const churn = run.churnSets.map((set) => churnSummary(set, oneProcess));
  const keyedToUnkeyed = ratios(run.keyed, oneProcess.rounds);
  const churnToCeiling = ratios(oneProcess.rounds, run.ceilings);
  const webhooksToPlain = ratios(run.webhooks, oneProcess.rounds);
  // Each open run against the mean of the closed runs just before (row 2's) and after it, in the same round.
  const consoleToClosed =
    run.withConsole.length === oneProcess.rounds.length
      ? run.withConsole.map(
          (open, i) =>
            open.operationsPerSecond /
            ((oneProcess.rounds[i]!.operationsPerSecond + open.closedAfter.operationsPerSecond) / 2),
        )
      : [];
  const consoleLatencies = run.withConsole.map((r) => r.console.latency);
  const pools = run.pools.map(({ pools, guarded, console, rounds }) => {
    const toCeiling = ratios(rounds, run.ceilings);
    // The console's writes against the same statement without them (same pools and guard), round by round.
    const plain = run.pools.find((p) => p.pools === pools && p.guarded === guarded && !p.console);
    const toPlain = console && plain ? ratios(rounds, plain.rounds) : [];
    return {
      ...median(rounds, (r) => r.operationsPerSecond),
      toCeiling: medianOf(toCeiling),
      perRoundToCeiling: toCeiling,
      toPlain: medianOf(toPlain),
      perRoundToPlain: toPlain,
      conflictsPerCommitAllRounds:
        sum(rounds, (r) => r.versionConflicts) / sum(rounds, (r) => r.reserved + r.cancelled),
      pools,
      guarded,
      console,
      rounds,
    };
  });
  const ofProcesses = (n: number) => churn.find((c) => c.processes === n);
  const target = (name: string, value: number, op: '>=' | '<', bound: number, percent = false) => ({
    name,
    value,
    target: `${op} ${percent ? pct(bound) : bound}`,
    percent,
    met: op === '>=' ? value >= bound : value < bound,
  });
  const targets = [
    target('2 processes ÷ 1 process', ofProcesses(2)?.toOneProcess ?? Number.NaN, '>=', 0.9),
    target('4 processes ÷ 1 process', ofProcesses(4)?.toOneProcess ?? Number.NaN, '>=', 0.8),
    target(
      'version conflicts per commit, worst set of processes',
      Math.max(...churn.map((c) => c.conflictsPerCommit)),
      '<',
      0.05,
      true,
    ),
    target('1-process churn ÷ one-row ceiling', medianOf(churnToCeiling), '>=', 3),
  ];
  return {
    date: run.date,
    machine: run.machine,
    node: run.node,
    postgres: run.postgres,
    command: 'pnpm bench',
    settings: { rounds: run.rounds, churnSeconds: run.churnSeconds, clients: run.clients },
    sellOut: run.sellOut,
    sellOutCold: run.sellOutCold,
    churn,
    churnWithIdempotencyKeys: {
      ...median(run.keyed, (r) => r.operationsPerSecond),
      toUnkeyed: medianOf(keyedToUnkeyed),
      perRoundToUnkeyed: keyedToUnkeyed,
      errorsAllRounds: sum(run.keyed, (r) => r.errors),
      contendedAllRounds: sum(run.keyed, (r) => r.contended),
      rounds: run.keyed,
    },
    churnWithConsole: {
      ...median(run.withConsole, (r) => r.operationsPerSecond),
      toClosed: medianOf(consoleToClosed),
      perRoundToClosed: consoleToClosed,
      // The closed runs after the open ones count here too: they appear in no other row.
      errorsAllRounds: sum(run.withConsole, (r) => r.errors + r.closedAfter.errors),
      contendedAllRounds: sum(run.withConsole, (r) => r.contended + r.closedAfter.contended),
      apiCpuMsPerOperation: medianOf(run.withConsole.map((r) => (r.counts.cpuSeconds * 1000) / r.operations)),
      consoleRequestsAllRounds: sum(run.withConsole, (r) => r.console.requests),
      consoleErrorsAllRounds: sum(run.withConsole, (r) => r.console.errors),
      consoleP50Ms: medianOf(consoleLatencies.map((l) => l.p50)),
      consoleP99Ms: medianOf(consoleLatencies.map((l) => l.p99)),
      rounds: run.withConsole,
    },
    churnWithWebhooks: {
      ...median(run.webhooks, (r) => r.operationsPerSecond),
      toPlain: medianOf(webhooksToPlain),
      perRoundToPlain: webhooksToPlain,
      errorsAllRounds: sum(run.webhooks, (r) => r.errors),
      contendedAllRounds: sum(run.webhooks, (r) => r.contended),
      apiCpuMsPerOperation: medianOf(run.webhooks.map((r) => (r.counts.cpuSeconds * 1000) / r.operations)),
      deliveriesPerOperation: sum(run.webhooks, (r) => r.deliveries) / sum(run.webhooks, (r) => r.operations),
      deliveredDuringChurn: sum(run.webhooks, (r) => r.deliveriesDuringChurn) / sum(run.webhooks, (r) => r.deliveries),
      drainMs: run.webhooks.map((r) => r.drainMs),
      rounds: run.webhooks,
    },
    ceiling: run.ceilings.length > 0 ? median(run.ceilings, (c) => c.operationsPerSecond) : null,
    ceilingRounds: run.ceilings,
    churnToCeiling: { median: medianOf(churnToCeiling), perRound: churnToCeiling },
    pools,
    targets,
  };
}

export type Summary = ReturnType<typeof summarise>;

type ChurnRow = Summary['churn'][number];

/** The printed table, then one line per target and ratio. */
export function render(s: Summary): string {
  const { rounds, churnSeconds, clients } = s.settings;
  const churnCells = (
    c: ChurnRow | Summary['churnWithIdempotencyKeys'] | Summary['churnWithWebhooks'] | Summary['churnWithConsole'],
  ) => [
    `${fmt(c.operationsPerSecond)} ops/s`,
    `${c.reserved} × 201, ${c.cancelled} × 204`,
    `${c.errorsAllRounds} (503: ${c.contendedAllRounds})`,
    fmt(c.latency.p50, 1),
    fmt(c.latency.p99, 1),
  ];
  const sellOutCells = (o: SellOutResult) => [
    `sold out in ${fmt(o.timeToSellOutMs)} ms`,
    '',
    `${o.confirmed} × 201 (${o.seatsSold} seats), ${o.denied} × 409, false denials ${o.falseDenials}, oversold ${o.oversold}`,
    `${o.otherAnswers} (5xx: ${o.serverErrors})`,
    fmt(o.latency.p50, 1),
    fmt(o.latency.p99, 1),
  ];
  const one = s.churn[0]!;
  const ceilingRow = s.ceiling === null ? 'row 5 (not measured)' : 'row 5';
  const churnRow = (c: ChurnRow, i: number) => [
    i === 0
      ? `2. churn on one event: reserve 1 + cancel, ${clients} clients, ${churnSeconds} s, 1 process (median of ${rounds})`
      : `${i + 2}. churn as in 2, the ${clients} clients split over ${c.processes} API processes (median of ${rounds})`,
    churnCells(c)[0]!,
    i === 0
      ? `${fmt(s.churnToCeiling.median, 2)} × ${ceilingRow}`
      : `${fmt(c.toOneProcess, 2)} × row 2 (rounds ${perRound(c.perRoundToOneProcess)})`,
    ...churnCells(c).slice(1),
    fmt(c.changesPerCommit, 1),
    pct(c.conflictsPerCommit),
    fmt(c.rebalancesPerSecond, 1),
    c.peakRssMb.map((m) => fmt(m)).join(', '),
  ];
  const header = [
    'scenario',
    'throughput',
    'ratio, median of per-round ratios',
    'answers (median round)',
    'errors (503 or 5xx among them); churn: all rounds',
    'p50 ms',
    'p99 ms',
    'changes per commit',
    'version conflicts per commit',
    'rebalances /s',
    'peak RSS MB',
  ];
  const rows: string[][] = [
    [
      '1. sell-out: 500 seats, 1,000 requests of 1-10, 200 in flight (after 2 s of warm-up churn)',
      ...sellOutCells(s.sellOut),
      fmt(sum(s.sellOut.stopped, (c) => c.changesCommitted) / sum(s.sellOut.stopped, (c) => c.commits), 1),
      '',
      '',
      s.sellOut.peakRssMb.map((m) => fmt(m)).join(', '),
    ],
    ['1b. the same sell-out on a cold process (its first requests after start)', ...sellOutCells(s.sellOutCold)],
    churnRow(one, 0),
    [
      `2d. churn as in 2, with the operator console open on its event (its requests beside the churn: the event's activity every second, the events list and partners table every 5 s), compared with the closed runs just before (row 2's) and after it (median of ${rounds})`,
      churnCells(s.churnWithConsole)[0]!,
      `${fmt(s.churnWithConsole.toClosed, 2)} × closed (rounds ${perRound(s.churnWithConsole.perRoundToClosed)})`,
      ...churnCells(s.churnWithConsole).slice(1),
    ],
    [
      `2b. churn as in 2, each reservation with its own Idempotency-Key (median of ${rounds})`,
      churnCells(s.churnWithIdempotencyKeys)[0]!,
      `${fmt(s.churnWithIdempotencyKeys.toUnkeyed, 2)} × row 2`,
      ...churnCells(s.churnWithIdempotencyKeys).slice(1),
    ],
    [
      `2c. churn as in 2, each of its partners with a webhook endpoint for every event, delivered by the same process to a receiver on this machine (median of ${rounds})`,
      churnCells(s.churnWithWebhooks)[0]!,
      `${fmt(s.churnWithWebhooks.toPlain, 2)} × row 2 (rounds ${perRound(s.churnWithWebhooks.perRoundToPlain)})`,
      ...churnCells(s.churnWithWebhooks).slice(1),
    ],
    ...s.churn.slice(1).map((c, i) => churnRow(c, i + 1)),
    [
      `5. one-row ceiling: the pre-pool reserve and cancel on one event row by pgbench, ${clients} clients, one request per commit (median of ${rounds})`,
      s.ceiling ? `${fmt(s.ceiling.operationsPerSecond)} ops/s` : 'pgbench not found',
      '',
      '',
      '',
      s.ceiling ? `${fmt(s.ceiling.latencyAverageMs, 1)} (mean)` : '',
      '',
      '1',
    ],
    ...s.pools.map((p) => [
      // 6a, 6b, ... without the version guard; 7a, 7b, ... with it.
      `${p.guarded ? 7 : 6}${'abcdefgh'[s.pools.filter((q) => q.guarded === p.guarded).indexOf(p)]}. the seat-pool commit statement by pgbench, ${plural(p.pools, 'pool')}, ${p.clients} clients ` +
        `(${fmt(p.clients / p.pools)} per pool), one request per commit, ` +
        (p.guarded
          ? 'with the version guard, each client guarding with the version it last saw'
          : 'without the version guard, as row 5') +
        (p.console
          ? ", with the console's writes (its change added to the pool's event_activity row of the second, and a reservation's last_sale_at), as the API's commit statement makes them"
          : '') +
        ` (median of ${rounds})`,
      `${fmt(p.operationsPerSecond)} ops/s`,
      p.console
        ? `${fmt(p.toPlain, 2)} × row ${p.guarded ? 7 : 6}${'abcdefgh'[s.pools.filter((q) => q.guarded === p.guarded && !q.console).findIndex((q) => q.pools === p.pools)]} (rounds ${perRound(p.perRoundToPlain)})`
        : `${fmt(p.toCeiling, 2)} × row 5 (rounds ${perRound(p.perRoundToCeiling)})`,
      `${p.reserved} reserved, ${p.cancelled} cancelled`,
      '',
      // A guarded script run is one statement when its reservation lost the guard: no per-operation mean.
      p.guarded ? '' : `${fmt(p.latencyAverageMs / 2, 1)} (mean)`,
      '',
      '1',
      pct(p.conflictsPerCommitAllRounds),
    ]),
  ];
  const line = (cells: string[]) =>
    `| ${[...cells, ...Array<string>(header.length - cells.length).fill('')].join(' | ')} |`;
  const targetLine = (t: Summary['targets'][number]) =>
    `${t.name}: ${t.percent ? pct(t.value) : fmt(t.value, 2)}; target ${t.target}: ${verdict(t.met)}`;
  return [
    `TicketBoss bench: ${s.date}; node ${s.node}; PostgreSQL ${s.postgres}; ${s.machine}`,
    '',
    line(header),
    line(header.map(() => '---')),
    ...rows.map(line),
    '',
    `Medians of ${plural(rounds, 'round')} of ${churnSeconds} s; ratios are taken within a round, then their median.`,
    ...s.targets.map(targetLine),
    `  1-process churn ÷ one-row ceiling by round: ${perRound(s.churnToCeiling.perRound)}`,
    `  version conflicts per commit: ${s.churn.map((c) => `${plural(c.processes, 'process')} ${pct(c.conflictsPerCommit)}`).join(', ')}`,
    `  rebalances per second: ${s.churn.map((c) => `${c.processes}: ${fmt(c.rebalancesPerSecond, 1)}`).join(', ')}`,
    `  API processes' CPU per operation, ms: ` +
      s.churn.map((c) => `${plural(c.processes, 'process')} ${fmt(c.apiCpuMsPerOperation, 3)}`).join(', '),
    `  load generator CPU per operation (the same requests whatever serves them), ms: ` +
      s.churn.map((c) => `${plural(c.processes, 'process')} ${fmt(c.loadCpuMsPerOperation, 3)}`).join(', '),
    `errors and 503s over all churn rounds: ${sum(s.churn, (c) => c.errorsAllRounds) + s.churnWithIdempotencyKeys.errorsAllRounds + s.churnWithConsole.errorsAllRounds}` +
      ` and ${sum(s.churn, (c) => c.contendedAllRounds) + s.churnWithIdempotencyKeys.contendedAllRounds + s.churnWithConsole.contendedAllRounds}`,
    `console open ÷ closed (the mean of the closed runs just before and after it): ${fmt(s.churnWithConsole.toClosed, 2)} (rounds ${perRound(s.churnWithConsole.perRoundToClosed)}); ` +
      `its ${s.churnWithConsole.consoleRequestsAllRounds} requests answered in p50 ${fmt(s.churnWithConsole.consoleP50Ms, 1)} ms, ` +
      `p99 ${fmt(s.churnWithConsole.consoleP99Ms, 1)} ms (medians of rounds), ${s.churnWithConsole.consoleErrorsAllRounds} not 200; ` +
      `API CPU per operation ${fmt(s.churnWithConsole.apiCpuMsPerOperation, 3)} ms (closed: ${fmt(one.apiCpuMsPerOperation, 3)} ms)`,
    `with Idempotency-Key ÷ without: ${fmt(s.churnWithIdempotencyKeys.toUnkeyed, 2)} (rounds ${perRound(s.churnWithIdempotencyKeys.perRoundToUnkeyed)})`,
    `with webhook endpoints ÷ without: ${fmt(s.churnWithWebhooks.toPlain, 2)} (rounds ${perRound(s.churnWithWebhooks.perRoundToPlain)}); ` +
      `${fmt(s.churnWithWebhooks.deliveriesPerOperation, 2)} deliveries per operation, ${pct(s.churnWithWebhooks.deliveredDuringChurn)} of them during the churn, ` +
      `the rest within ${s.churnWithWebhooks.drainMs.map((ms) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : 'not drained')).join(', ')} after it; ` +
      `API CPU per operation ${fmt(s.churnWithWebhooks.apiCpuMsPerOperation, 3)} ms (without: ${fmt(one.apiCpuMsPerOperation, 3)} ms)`,
    ...s.pools
      .filter((p) => p.console)
      .map(
        (p) =>
          `the console's writes in the commit statement, ${plural(p.pools, 'pool')} ${p.guarded ? 'with' : 'without'} the guard (pgbench): ` +
          `${fmt(p.toPlain, 2)} × without them (rounds ${perRound(p.perRoundToPlain)})`,
      ),
    ...[false, true].map(
      (guarded) =>
        `seat-pool commit statement ${guarded ? 'with' : 'without'} its version guard ÷ one-row ceiling (pgbench): ` +
        s.pools
          .filter((p) => p.guarded === guarded && !p.console)
          .map((p) => `${plural(p.pools, 'pool')} ${fmt(p.toCeiling, 2)}`)
          .join(', '),
    ),
  ].join('\n');
}

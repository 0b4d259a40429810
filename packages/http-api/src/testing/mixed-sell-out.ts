/**
 * Mixed traffic run to a sell-out over real HTTP, for the scale-out test: clients reserve, hold, confirm and
 * cancel on one event, each request to the next API process in turn, and every answer is kept with the instants
 * of its send and arrival for the seat ledger (seat-ledger.ts). Cancellations return seats while the event is
 * full, then stop, and the event sells out: a client stops once a refusal sent after the last cancellation was
 * answered tells it that not even one seat is left for it.
 */
import type { EventSummary } from './api-client.js';
import type { Refusal, Taking } from './seat-ledger.js';

export type Op = 'reserve' | 'hold' | 'confirm' | 'cancel' | 'summary';

export interface Answer {
  readonly op: Op;
  readonly url: string;
  /** 0 when no answer came (a network failure or the request timeout). */
  readonly status: number;
  readonly code?: string;
  readonly sentAt: number;
  readonly answeredAt: number;
}

/** A reservation or hold answered 201, and its state as its client knows it. */
export interface Made extends Taking {
  readonly reservationId: string;
  readonly partnerId: string;
  status: 'held' | 'confirmed' | 'cancelled';
  cancelSentAt?: number;
  cancelAnsweredAt?: number;
}

export interface SummaryReading {
  readonly summary: EventSummary;
  readonly sentAt: number;
  readonly answeredAt: number;
}

export interface MixedSellOutOptions {
  readonly urls: readonly string[];
  readonly eventId: string;
  /** Client i acts as partners[i % length]. */
  readonly partners: readonly { partnerId: string; token: string }[];
  readonly clients: number;
  /**
   * Cancellations stop once the run has had this many refusals and this many cancellations sent after the first
   * refusal: counts rather than a time, so that a loaded machine makes the run longer, not emptier.
   */
  readonly churnRefusals: number;
  readonly churnCancels: number;
  /** The clients give up this long after the start, sold out or not. */
  readonly deadlineMs: number;
}

export interface MixedSellOut {
  readonly answers: readonly Answer[];
  /** Answers other than the one each operation expects (201 or 409 INSUFFICIENT_SEATS, 200, 204). */
  readonly unexpected: readonly (Answer & { readonly body: string })[];
  /** Reservations and holds that may have been made (answered 201, or not answered at all). */
  readonly takings: readonly Taking[];
  /** Those answered 201, by id. */
  readonly made: ReadonlyMap<string, Made>;
  readonly refusals: readonly Refusal[];
  /** Summaries read during the run, each with its window. */
  readonly readings: readonly SummaryReading[];
  /** When no cancellation was in flight any more, nor sent after. */
  readonly cancelsOverAt: number | undefined;
  /** From the start: the run, its first refusal, the end of cancellations. */
  readonly elapsedMs: number;
  readonly firstRefusalMs: number;
  readonly cancelsOverMs: number;
  /** Every client stopped because the event was full for it (not at the deadline). */
  readonly soldOut: boolean;
}

const HOLD_SECONDS = 600;
const REQUEST_TIMEOUT_MS = 20_000;
const MAX_SEATS = 4;

export async function runMixedSellOut(options: MixedSellOutOptions): Promise<MixedSellOut> {
  const started = performance.now();
  const answers: Answer[] = [];
  const unexpected: (Answer & { body: string })[] = [];
  const takings: Taking[] = [];
  const made = new Map<string, Made>();
  const refusals: Refusal[] = [];
  const readings: SummaryReading[] = [];
  let cancelsStopped = false;
  let cancelsInFlight = 0;
  let cancelsOverAt: number | undefined;
  let clientsRunning = options.clients;
  let firstRefusalAt = Infinity;
  let cancelsAfterFull = 0;
  let deadlineHit = false;

  const pastDeadline = () => (deadlineHit ||= performance.now() - started > options.deadlineMs);
  const churning = () => {
    if (cancelsStopped) return false;
    const over = refusals.length >= options.churnRefusals && cancelsAfterFull >= options.churnCancels;
    if (over) {
      cancelsStopped = true;
      if (cancelsInFlight === 0) cancelsOverAt = performance.now();
    }
    return !over;
  };

  const flag = (answer: Answer, text: string) => unexpected.push({ ...answer, body: text.slice(0, 500) });

  async function send(op: Op, url: string, token: string, method: string, path: string, body?: unknown) {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const sentAt = performance.now();
    let answeredAt: number | undefined;
    let status = 0;
    let text = '';
    try {
      const response = await fetch(`${url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      // The status line is the answer: the change was decided before it arrived.
      answeredAt = performance.now();
      text = await response.text();
      status = response.status;
    } catch (error) {
      text = String((error as { cause?: unknown }).cause ?? error);
    }
    answeredAt ??= performance.now();
    let parsed: { code?: string } | undefined;
    try {
      parsed = JSON.parse(text) as { code?: string };
    } catch {
      parsed = undefined;
    }
    const answer: Answer = { op, url, status, code: parsed?.code, sentAt, answeredAt };
    answers.push(answer);
    return { answer, parsed, text };
  }

  async function runClient(index: number): Promise<void> {
    const { partnerId, token } = options.partners[index % options.partners.length]!;
    const mine: Made[] = [];
    let turn = index;
    let maxSeats = MAX_SEATS;
    const next = () => options.urls[turn++ % options.urls.length]!;
    const pick = <T>(list: readonly T[]) => list[Math.floor(Math.random() * list.length)]!;
    const drop = (item: Made) => mine.splice(mine.indexOf(item), 1);

    async function reserve(hold: boolean) {
      const seats = 1 + Math.floor(Math.random() * maxSeats);
      const body = hold ? { seats, holdSeconds: HOLD_SECONDS } : { seats };
      const path = `/v1/events/${options.eventId}/reservations`;
      const { answer, parsed, text } = await send(hold ? 'hold' : 'reserve', next(), token, 'POST', path, body);
      const { status, sentAt, answeredAt } = answer;
      if (status === 409 && answer.code === 'INSUFFICIENT_SEATS') {
        refusals.push({ seats, sentAt, answeredAt });
        firstRefusalAt = Math.min(firstRefusalAt, answeredAt);
        // Nothing comes back any more: not even `seats` will fit again.
        if (cancelsOverAt !== undefined && sentAt >= cancelsOverAt) maxSeats = Math.min(maxSeats, seats - 1);
        return;
      }
      if (status !== 201) {
        flag(answer, text);
        // No answer, or a 5xx: it may have been made all the same.
        if (status === 0 || status >= 500) takings.push({ seats, sentAt });
        return;
      }
      const { reservationId, seats: answered, status: state } = parsed as { reservationId: string } & Made;
      if (answered !== seats || state !== (hold ? 'held' : 'confirmed')) flag(answer, text);
      const reservation: Made = { reservationId, partnerId, seats, sentAt, answeredAt, status: state };
      takings.push(reservation);
      made.set(reservationId, reservation);
      mine.push(reservation);
    }

    async function confirm(hold: Made) {
      const path = `/v1/reservations/${hold.reservationId}/confirm`;
      const { answer, text } = await send('confirm', next(), token, 'POST', path);
      if (answer.status === 200) hold.status = 'confirmed';
      else {
        flag(answer, text);
        drop(hold);
      }
    }

    async function cancel(reservation: Made) {
      drop(reservation);
      cancelsInFlight += 1;
      const path = `/v1/reservations/${reservation.reservationId}`;
      const { answer, text } = await send('cancel', next(), token, 'DELETE', path);
      cancelsInFlight -= 1;
      if (cancelsStopped && cancelsInFlight === 0) cancelsOverAt ??= performance.now();
      // Whatever the answer, the seats may be free from the send on; only a 204 says they are.
      reservation.cancelSentAt = answer.sentAt;
      if (answer.status === 204) {
        if (answer.sentAt > firstRefusalAt) cancelsAfterFull += 1;
        reservation.cancelAnsweredAt = answer.answeredAt;
        reservation.status = 'cancelled';
      } else flag(answer, text);
    }

    while (maxSeats > 0 && !pastDeadline()) {
      const cancelling = churning();
      const roll = Math.random();
      const holds = mine.filter((r) => r.status === 'held');
      // Few cancellations until the event is first full, so that it fills soon; then more, but fewer than
      // reservations, so that it stays about full: refusals between seats coming back and sold again.
      const cancelOdds = firstRefusalAt === Infinity ? 0.05 : 0.2;
      if (holds.length > 0 && roll < 0.2) await confirm(pick(holds));
      else if (cancelling && mine.length > 0 && (roll < 0.2 + cancelOdds || mine.length >= 6)) {
        await cancel(pick(mine));
      } else await reserve(Math.random() < 0.6);
    }
  }

  /** One summary at a time while the clients run, each from the next process. */
  async function readSummaries(): Promise<void> {
    const { token } = options.partners[0]!;
    for (let turn = 0; clientsRunning > 0; turn += 1) {
      const url = options.urls[turn % options.urls.length]!;
      const { answer, parsed, text } = await send('summary', url, token, 'GET', `/v1/events/${options.eventId}`);
      if (answer.status !== 200) flag(answer, text);
      else readings.push({ summary: parsed as EventSummary, sentAt: answer.sentAt, answeredAt: answer.answeredAt });
      // A pace, not a wait: a reading every 20 ms or so is enough, and leaves the processes to the clients.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  const reader = readSummaries();
  await Promise.all(
    Array.from({ length: options.clients }, (_, i) => runClient(i).finally(() => (clientsRunning -= 1))),
  );
  await reader;
  return {
    answers,
    unexpected,
    takings,
    made,
    refusals,
    readings,
    cancelsOverAt,
    elapsedMs: performance.now() - started,
    firstRefusalMs: firstRefusalAt - started,
    cancelsOverMs: (cancelsOverAt ?? Infinity) - started,
    soldOut: !deadlineHit,
  };
}

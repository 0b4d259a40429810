/**
 * The fault suite's load. Clients are async loops over real HTTP that reserve, hold, confirm and cancel as a
 * partner's system would: every reservation and confirmation carries an Idempotency-Key and is sent again with the
 * same key after a network error, a 503 or a 409 IDEMPOTENCY_KEY_IN_USE, until it gets an answer that decides it.
 * Every answer is recorded; at the end, checkLedger (ledger.ts) holds what the clients were told against the
 * database.
 */
import { randomUUID } from 'node:crypto';
import { waitUntil } from '@ticketboss/adapters-postgres/testing';
import { sleep, figure, type Partner } from './harness.js';

export type Op = 'reserve' | 'hold' | 'confirm' | 'cancel';

/** One answer (or network failure) a client got: every attempt is one. */
export interface Answer {
  readonly op: Op;
  readonly eventId: string;
  readonly url: string;
  /** performance.now() when the request was sent and when its answer (or failure) arrived. */
  readonly sentAt: number;
  readonly answeredAt: number;
  /** The HTTP status; 0 when the request died on the network (refused, reset, cut, timed out). */
  readonly status: number;
  readonly code?: string;
  readonly retryAfter?: string;
  readonly error?: string;
}

/** A final answer no operation of the mix should get (a 500, a 404 for a reservation we made, ...). */
export interface Unexpected {
  readonly op: Op;
  readonly eventId: string;
  readonly status: number;
  readonly body: string;
}

export interface LoadOptions {
  readonly clients: number;
  /** Client i acts as partners[i % length]... */
  readonly partners: readonly Partner[];
  /** ...on events[i % length]. */
  readonly events: readonly string[];
  /** The API processes serving now; each client sends its attempts to them in turn. */
  readonly urls: () => readonly string[];
  /**
   * `mixed`: reserve, hold, confirm holds, cancel, replay some keys. `churn`: reserve then cancel, again and
   * again (the soak).
   */
  readonly mix: 'mixed' | 'churn';
  /** Retry-After is honoured up to this (default 1000 ms), so that a scenario stays short. */
  readonly maxRetryWaitMs?: number;
  /** A request that has no answer by then counts as a network failure (default 15 s). */
  readonly requestTimeoutMs?: number;
  /** An operation still without a deciding answer this long after its first send is given up (default 30 s). */
  readonly giveUpMs?: number;
}

type Status = 'held' | 'confirmed' | 'cancelled';

/** A reservation a client was answered 201 for, and what it did to it since. */
interface Tracked {
  readonly reservationId: string;
  readonly eventId: string;
  readonly partnerId: string;
  readonly seats: number;
  /** What the client knows for sure. */
  status: Status;
  /** States a change the client gave up on (no deciding answer) may have left instead. */
  readonly maybe: Set<Status>;
}

/** One Idempotency-Key of a reservation: what was asked, and every answer its attempts got. */
interface KeyRecord {
  readonly partnerId: string;
  readonly eventId: string;
  readonly seats: number;
  readonly statuses: number[];
  /** The reservationId of every 201 (first answer and replays). */
  readonly reservationIds: Set<string>;
  /** An answer decided the request (anything but a network failure, 503 or 409 in use): it was not given up. */
  decided: boolean;
}

type Final =
  | { readonly kind: 'answered'; status: number; code?: string; text: string; replayed: boolean; uncertain: boolean }
  | { readonly kind: 'gave_up' };

export interface Load {
  readonly answers: readonly Answer[];
  readonly unexpected: readonly Unexpected[];
  readonly clients: number;
  /** Answers with a 2xx status so far. */
  successes(): number;
  /**
   * Waits until `count` more 2xx answers arrived (the system is serving); throws after `timeoutMs`, or as soon as
   * `hopeless` says why waiting is pointless (every API process exited, say).
   */
  progress(count: number, timeoutMs: number, hopeless?: () => string | undefined): Promise<void>;
  /** Raises the stop flag and waits for each client to finish the operation it is in. */
  stop(): Promise<void>;
  /** For clean-up after a failure: every client gives up at once, requests in flight are aborted. */
  abort(): Promise<void>;
  /** For checkLedger. */
  readonly tracked: ReadonlyMap<string, Tracked>;
  readonly keys: ReadonlyMap<string, KeyRecord>;
}

/** Long enough that no hold expires during a scenario: a hold's state is then the client's to decide. */
const HOLD_SECONDS = 900;
const isRetryable = (status: number, code: string | undefined) =>
  status === 503 || (status === 409 && code === 'IDEMPOTENCY_KEY_IN_USE');

export function startLoad(options: LoadOptions): Load {
  const maxRetryWaitMs = options.maxRetryWaitMs ?? 1_000;
  const requestTimeoutMs = options.requestTimeoutMs ?? 15_000;
  const giveUpMs = options.giveUpMs ?? 30_000;
  const answers: Answer[] = [];
  const unexpected: Unexpected[] = [];
  const tracked = new Map<string, Tracked>();
  const keys = new Map<string, KeyRecord>();
  let successes = 0;
  let stopping = false;
  const aborted = new AbortController();

  async function runClient(index: number): Promise<void> {
    const partner = options.partners[index % options.partners.length]!;
    const eventId = options.events[index % options.events.length]!;
    /** Its reservations still held or confirmed, to confirm or cancel later. */
    const mine: Tracked[] = [];
    let turn = index;

    /** Each attempt goes to the next process in turn: the load is spread, and a retry goes elsewhere. */
    const pickUrl = () => {
      const urls = options.urls();
      if (urls.length === 0) throw new Error('no API process is serving');
      return urls[turn++ % urls.length]!;
    };

    /** Sends one operation until an answer decides it, or gives up after giveUpMs. */
    async function send(op: Op, method: string, path: string, body?: unknown, key?: string, statuses?: number[]) {
      const giveUpAt = performance.now() + giveUpMs;
      /** Some attempt may have been applied without the client hearing of it (network failure or 503). */
      let uncertain = false;
      for (;;) {
        if (performance.now() > giveUpAt || aborted.signal.aborted) return { kind: 'gave_up' } as const satisfies Final;
        const url = pickUrl();
        const headers: Record<string, string> = { authorization: `Bearer ${partner.token}` };
        if (key) headers['idempotency-key'] = key;
        if (body !== undefined) headers['content-type'] = 'application/json';
        const sentAt = performance.now();
        let response: Response;
        let text: string;
        try {
          response = await fetch(`${url}${path}`, {
            method,
            headers,
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: AbortSignal.any([AbortSignal.timeout(requestTimeoutMs), aborted.signal]),
          });
          text = await response.text();
        } catch (error) {
          const cause = (error as { cause?: { code?: string } }).cause?.code;
          answers.push({
            op,
            eventId,
            url,
            sentAt,
            answeredAt: performance.now(),
            status: 0,
            error: cause ?? String(error),
          });
          statuses?.push(0);
          uncertain = true;
          await sleep(50);
          continue;
        }
        const answeredAt = performance.now();
        let code: string | undefined;
        try {
          code = (JSON.parse(text) as { code?: string } | null)?.code;
        } catch {
          code = undefined;
        }
        const retryAfter = response.headers.get('retry-after') ?? undefined;
        answers.push({ op, eventId, url, sentAt, answeredAt, status: response.status, code, retryAfter });
        statuses?.push(response.status);
        if (response.status >= 200 && response.status < 300) successes += 1;
        if (isRetryable(response.status, code)) {
          if (response.status === 503) uncertain = true;
          const seconds = Number(retryAfter);
          await sleep(seconds >= 0 ? Math.min(seconds * 1000, maxRetryWaitMs) : 100);
          continue;
        }
        const replayed = response.headers.get('idempotent-replayed') === 'true';
        return { kind: 'answered', status: response.status, code, text, replayed, uncertain } as const satisfies Final;
      }
    }

    const refuse = (op: Op, status: number, text: string) => unexpected.push({ op, eventId, status, body: text });

    async function reserve(hold: boolean): Promise<Tracked | undefined> {
      const op: Op = hold ? 'hold' : 'reserve';
      const key = randomUUID();
      const seats = 1 + Math.floor(Math.random() * 3);
      const record: KeyRecord = {
        partnerId: partner.partnerId,
        eventId,
        seats,
        statuses: [],
        reservationIds: new Set(),
        decided: false,
      };
      keys.set(key, record);
      const body = hold ? { seats, holdSeconds: HOLD_SECONDS } : { seats };
      const path = `/v1/events/${eventId}/reservations`;
      const final = await send(op, 'POST', path, body, key, record.statuses);
      if (final.kind === 'gave_up') return undefined;
      record.decided = true;
      if (final.status !== 201) return void refuse(op, final.status, final.text);
      const answer = JSON.parse(final.text) as { reservationId: string; seats: number; status: string };
      record.reservationIds.add(answer.reservationId);
      if (answer.seats !== seats || answer.status !== (hold ? 'held' : 'confirmed')) refuse(op, 201, final.text);
      const reservation: Tracked = {
        reservationId: answer.reservationId,
        eventId,
        partnerId: partner.partnerId,
        seats,
        status: hold ? 'held' : 'confirmed',
        maybe: new Set(),
      };
      tracked.set(reservation.reservationId, reservation);
      // Now and then the answer is "lost" and the request sent again: a replay, never a second reservation.
      if (options.mix === 'mixed' && Math.random() < 0.1) {
        const again = await send(op, 'POST', path, body, key, record.statuses);
        if (again.kind === 'answered') {
          const replay = JSON.parse(again.text) as { reservationId?: string };
          if (again.status === 201 && replay.reservationId) record.reservationIds.add(replay.reservationId);
          if (again.status !== 201 || !again.replayed) refuse(op, again.status, again.text);
        }
      }
      return reservation;
    }

    async function confirm(reservation: Tracked): Promise<void> {
      const final = await send(
        'confirm',
        'POST',
        `/v1/reservations/${reservation.reservationId}/confirm`,
        undefined,
        randomUUID(),
      );
      if (final.kind === 'gave_up') return void reservation.maybe.add('confirmed');
      if (final.status === 200) reservation.status = 'confirmed';
      else refuse('confirm', final.status, final.text);
    }

    async function cancel(reservation: Tracked): Promise<void> {
      const final = await send('cancel', 'DELETE', `/v1/reservations/${reservation.reservationId}`);
      if (final.kind === 'gave_up') return void reservation.maybe.add('cancelled');
      // After an attempt that may have been applied, "already cancelled" is that attempt's success.
      const cancelledBefore = final.uncertain && final.status === 404 && final.code === 'RESERVATION_ALREADY_CANCELLED';
      if (final.status === 204 || cancelledBefore) reservation.status = 'cancelled';
      else refuse('cancel', final.status, final.text);
    }

    const take = <T>(list: T[], item: T) => list.splice(list.indexOf(item), 1);
    const pick = <T>(list: readonly T[]) => list[Math.floor(Math.random() * list.length)]!;

    while (!stopping) {
      if (options.mix === 'churn') {
        const reservation = await reserve(false);
        if (reservation) await cancel(reservation);
        continue;
      }
      const holds = mine.filter((r) => r.status === 'held');
      const roll = Math.random();
      if (holds.length > 0 && roll < 0.3) {
        const hold = pick(holds);
        await confirm(hold);
        if (hold.status !== 'confirmed') take(mine, hold);
      } else if (mine.length >= 8 || (mine.length > 0 && roll < 0.5)) {
        const reservation = pick(mine);
        take(mine, reservation);
        await cancel(reservation);
      } else {
        const reservation = await reserve(roll < 0.75);
        if (reservation) mine.push(reservation);
      }
    }
  }

  const loops = Array.from({ length: options.clients }, (_, i) => runClient(i));
  const done = Promise.all(loops);
  // A client that throws (a bug here) must fail the scenario, not hang it.
  done.catch(() => (stopping = true));
  return {
    answers,
    unexpected,
    clients: options.clients,
    successes: () => successes,
    async progress(count, timeoutMs, hopeless) {
      const target = successes + count;
      const served = () => {
        const why = hopeless?.();
        if (why) throw new Error(`waiting for ${count} more 2xx answers is pointless: ${why}`);
        return successes >= target;
      };
      await Promise.race([
        waitUntil(served, `${count} more 2xx answers`, { timeoutMs, everyMs: 50 }),
        done.then(() => {
          throw new Error('the clients stopped');
        }),
      ]);
    },
    async stop() {
      stopping = true;
      await done;
    },
    async abort() {
      stopping = true;
      aborted.abort();
      await done.catch(() => undefined);
    },
    tracked,
    keys,
  };
}

/** "201: 12,034; 204: 3,101; 503 CONTENDED: 12; network: 3", most frequent first. */
export function statusCounts(answers: readonly Answer[]): string {
  const counts = new Map<string, number>();
  for (const a of answers) {
    const label = a.status === 0 ? 'network' : a.status >= 400 && a.code ? `${a.status} ${a.code}` : String(a.status);
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([label, n]) => `${label}: ${figure(n)}`)
    .join('; ');
}

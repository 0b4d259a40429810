import { findInvariantBreaches } from '@ticketboss/adapters-postgres';
import { createTestDatabase, type TestDatabase } from '@ticketboss/adapters-postgres/testing';
import { describe, expect, it } from 'vitest';
import { adminClient, call, stopAll, summaryOf } from './testing/api-client.js';
import { listening, startMain, type Server } from './testing/main-process.js';
import { runMixedSellOut, type Made, type MixedSellOut } from './testing/mixed-sell-out.js';
import { provenOversell, takenSeatsAllowed, unprovenRefusals } from './testing/seat-ledger.js';

const ADMIN_TOKEN = 'scale-out-admin-token-0123456789abcdef';
const admin = adminClient(ADMIN_TOKEN);
const EVENT_ID = 'scale-out';
const TOTAL_SEATS = 200;
const PROCESSES = 3;
const CLIENTS = 32;
/** Cancellations go on after the event is first full until there were this many refusals and cancellations. */
const CHURN_REFUSALS = 100;
const CHURN_CANCELS = 30;
const PARTNER_IDS = ['scale-out-a', 'scale-out-b', 'scale-out-c', 'scale-out-d'];

const sum = (reservations: readonly Made[]) => reservations.reduce((seats, r) => seats + r.seats, 0);

/** Every reservation of the event as the partners' own lists show it, by id: its status. */
async function listedStatuses(url: string, partners: readonly { token: string }[]): Promise<Map<string, string>> {
  const statuses = new Map<string, string>();
  for (const { token } of partners) {
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const response = await call(url, `/v1/events/${EVENT_ID}/reservations?limit=100${query}`, token);
      expect(response.status).toBe(200);
      const page = (await response.json()) as {
        items: { reservationId: string; status: string }[];
        nextCursor: string | null;
      };
      for (const item of page.items) statuses.set(item.reservationId, item.status);
      cursor = page.nextCursor;
    } while (cursor);
  }
  return statuses;
}

/** What the run did, for a failure's message and the log. */
function tally(run: MixedSellOut): string {
  const counts = new Map<string, number>();
  for (const a of run.answers) counts.set(`${a.op} ${a.status}`, (counts.get(`${a.op} ${a.status}`) ?? 0) + 1);
  return [...counts].map(([label, n]) => `${label}: ${n}`).join(', ');
}

/**
 * Three API processes on one event and one database, 32 clients over real HTTP spreading reserve, hold, confirm
 * and cancel over them (each request to the next process, so a reservation is often made, confirmed and
 * cancelled by three different processes), until the event sells out. Cancellations keep returning seats for a
 * while after it is first full, then stop. Only the API's answers and the invariant query are asserted on, not
 * how the seats are stored.
 */
describe('three API processes on one event, mixed traffic to a sell-out', () => {
  it('never oversells, refuses only when the seats were not there, answers every request without a 5xx', async () => {
    let database: TestDatabase | undefined;
    const servers: Server[] = [];
    try {
      database = await createTestDatabase();
      const starting = performance.now();
      for (let i = 0; i < PROCESSES; i += 1) servers.push(startMain(admin.env(database.url), {}));
      const urls = await Promise.all(servers.map((server) => listening(server)));
      const startMs = performance.now() - starting;
      const partners = [];
      for (const partnerId of PARTNER_IDS) {
        partners.push({ partnerId, token: await admin.createPartner(urls[0]!, partnerId) });
      }
      await admin.createEvent(urls[0]!, EVENT_ID, TOTAL_SEATS);
      // Warm every process (routes, pool) so that the clients meet them serving.
      for (const url of urls) await summaryOf(url, EVENT_ID, partners[0]!.token);

      const run = await runMixedSellOut({
        urls,
        eventId: EVENT_ID,
        partners,
        clients: CLIENTS,
        churnRefusals: CHURN_REFUSALS,
        churnCancels: CHURN_CANCELS,
        deadlineMs: 60_000,
      });
      const summary = tally(run);
      const ms = (n: number) => `${Math.round(n)} ms`;
      const latency = run.answers.reduce((total, a) => total + a.answeredAt - a.sentAt, 0) / run.answers.length;
      console.info(
        `scale-out: processes serving after ${ms(startMs)}; run ${ms(run.elapsedMs)} (first refusal ${ms(run.firstRefusalMs)}, cancellations over ` +
          `${ms(run.cancelsOverMs)}; mean latency ${ms(latency)}); ${summary}`,
      );

      // Every request answered, none with a 5xx, each operation the answer it expects.
      expect(run.unexpected, summary).toEqual([]);
      // Zero false denials: each refusal proven against what was committed when it was answered.
      expect(unprovenRefusals(TOTAL_SEATS, run.takings, run.refusals)).toEqual([]);
      // Zero oversell: at no instant were more seats surely taken than the event has; no summary read during the
      // run showed more, or a count the answers do not allow.
      expect(provenOversell(TOTAL_SEATS, run.takings)).toBeLessThanOrEqual(0);
      const allowed = takenSeatsAllowed(run.takings);
      const badReadings = run.readings.filter(({ summary: s, sentAt, answeredAt }) => {
        const takenSeats = s.heldSeats + s.reservedSeats;
        return (
          s.availableSeats < 0 ||
          s.availableSeats + takenSeats !== TOTAL_SEATS ||
          !allowed({ takenSeats, sentAt, answeredAt })
        );
      });
      expect(badReadings).toEqual([]);
      expect(await findInvariantBreaches(database.db)).toEqual([]);

      // The run did what it claims: every process served, summaries were read, refusals came while cancellations
      // returned seats that were sold again, holds were confirmed, and the event sold out.
      expect(run.soldOut, `sold out before the deadline (${summary})`).toBe(true);
      for (const url of urls) expect(run.answers.filter((a) => a.url === url).length).toBeGreaterThan(50);
      expect(run.readings.length).toBeGreaterThan(2);
      const firstRefusal = Math.min(...run.refusals.map((r) => r.answeredAt));
      const afterFull = (t: { sentAt: number }) => t.sentAt > firstRefusal;
      const cancelsAfterFull = run.answers.filter((a) => a.op === 'cancel' && a.status === 204 && afterFull(a));
      expect(run.refusals.length, summary).toBeGreaterThanOrEqual(CHURN_REFUSALS);
      expect(cancelsAfterFull.length, summary).toBeGreaterThanOrEqual(CHURN_CANCELS);
      expect(run.takings.filter(afterFull).length, summary).toBeGreaterThan(10);
      expect(run.answers.filter((a) => a.op === 'confirm').length, summary).toBeGreaterThan(0);

      // The end, every request answered: each process's summary is the ledger's, and the event is sold out.
      const live = [...run.made.values()].filter((r) => r.status !== 'cancelled');
      const confirmed = live.filter((r) => r.status === 'confirmed');
      expect(sum(live)).toBe(TOTAL_SEATS);
      for (const url of urls) {
        expect(await summaryOf(url, EVENT_ID, partners[0]!.token)).toMatchObject({
          availableSeats: 0,
          heldSeats: sum(live.filter((r) => r.status === 'held')),
          reservedSeats: sum(confirmed),
          reservationCount: confirmed.length,
        });
      }
      // Each reservation is listed to its partner as its client left it, and none other is there.
      const listed = await listedStatuses(urls[1]!, partners);
      expect(listed).toEqual(new Map([...run.made.values()].map((r) => [r.reservationId, r.status])));
    } finally {
      await stopAll(servers);
      await database?.drop();
    }
  });
});

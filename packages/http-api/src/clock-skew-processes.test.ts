import { fileURLToPath } from 'node:url';
import { createTestDatabase, databaseNow, waitUntil, type TestDatabase } from '@ticketboss/adapters-postgres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, call, stopAll, type ReservationAnswer } from './testing/api-client.js';
import { listening, startMain, type Server } from './testing/main-process.js';

const ADMIN_TOKEN = 'clock-skew-admin-token-0123456789abcdef';
const admin = adminClient(ADMIN_TOKEN);
const skewClock = fileURLToPath(new URL('./testing/skew-clock.ts', import.meta.url));

/** The wall clocks of the two processes, against the host's (and so the database's). */
const SKEWS_MS = [5000, -5000] as const;
/** How far a process's idea of the database's time may be off: its clock's sampling error, on a loaded machine. */
const BOUND_MS = 100;

interface Hold {
  readonly reservationId: string;
  readonly madeThrough: number;
  readonly createdAt: number;
  readonly expiresAt: number;
  /** Reads of its status through both processes, all done while the database's time was clearly before or after. */
  seenBefore: number;
  seenAfter: number;
}

/**
 * Two API processes whose wall clocks are 5 s ahead of and 5 s behind the database's (skew-clock.ts, preloaded),
 * on one database: the database's time decides a hold's createdAt and expiresAt and when it expires, so the two
 * agree on every hold, whichever made it.
 */
describe('two API processes with skewed clocks', () => {
  let database: TestDatabase;
  let servers: Server[] = [];
  let urls: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    servers = SKEWS_MS.map((skewMs) =>
      startMain(
        { ...admin.env(database.url), TICKETBOSS_TEST_CLOCK_SKEW_MS: String(skewMs) },
        {},
        { nodeArgs: ['--import', skewClock] },
      ),
    );
    urls = await Promise.all(servers.map((server) => listening(server)));
  }, 180_000);
  afterAll(async () => {
    await stopAll(servers);
    await database?.drop();
  }, 180_000);

  it('their wall clocks are skewed (pino stamps log lines with Date.now)', () => {
    SKEWS_MS.forEach((skewMs, i) => {
      const line = servers[i]!.output()
        .split('\n')
        .find((text) => text.includes('Server listening'));
      const loggedAt = (JSON.parse(line!) as { time: number }).time;
      // Logged before now, by at most the time start-up took since: within a few seconds of its skewed clock.
      expect(Math.sign(loggedAt - Date.now())).toBe(Math.sign(skewMs));
      expect(Math.abs(loggedAt - Date.now())).toBeGreaterThan(Math.abs(skewMs) / 2);
    });
  });

  it("agree, to the database's instant, on every hold's createdAt, expiresAt and status", async () => {
    const token = await admin.createPartner(urls[0]!, 'skewed-partner');
    await admin.createEvent(urls[1]!, 'skewed-event', 100);

    // Warm both processes (routes, pools, the commit path), so that the holds below are made well within their second.
    for (const url of urls) {
      const response = await call(url, '/v1/events/skewed-event/reservations', token, {
        method: 'POST',
        body: JSON.stringify({ seats: 1 }),
      });
      expect(response.status).toBe(201);
    }

    const before = (await databaseNow(database.db)).getTime();
    const made = await Promise.all(
      [1, 2].flatMap((holdSeconds) =>
        urls.map(async (url, madeThrough) => {
          const response = await call(url, '/v1/events/skewed-event/reservations', token, {
            method: 'POST',
            body: JSON.stringify({ seats: 1, holdSeconds }),
          });
          expect(response.status).toBe(201);
          return {
            holdSeconds,
            madeThrough,
            answer: (await response.json()) as ReservationAnswer & { createdAt: string },
          };
        }),
      ),
    );
    const after = (await databaseNow(database.db)).getTime();
    const holds: Hold[] = made.map(({ holdSeconds, madeThrough, answer }) => {
      const createdAt = Date.parse(answer.createdAt);
      const expiresAt = Date.parse(answer.expiresAt!);
      // Both the request's instant and its commit's (a hold runs from its commit: see coalescer.ts) are the
      // database's, between the two readings of its time around the requests.
      for (const instant of [createdAt, expiresAt - holdSeconds * 1000]) {
        expect(instant).toBeGreaterThanOrEqual(before - BOUND_MS);
        expect(instant).toBeLessThanOrEqual(after + BOUND_MS);
      }
      expect(expiresAt - createdAt).toBeGreaterThanOrEqual(holdSeconds * 1000);
      return { reservationId: answer.reservationId, madeThrough, createdAt, expiresAt, seenBefore: 0, seenAfter: 0 };
    });

    // Read every hold through both processes until the database's time is past every expiry. A read bracketed by
    // database times both before a hold's expiry (less the bound) must find it held through both; both after, expired.
    const statusThrough = async (url: string, hold: Hold) => {
      const response = await call(url, `/v1/reservations/${hold.reservationId}`, token);
      expect(response.status).toBe(200);
      return ((await response.json()) as ReservationAnswer).status;
    };
    await waitUntil(
      async () => {
        const from = (await databaseNow(database.db)).getTime();
        const seen = await Promise.all(holds.map((hold) => Promise.all(urls.map((url) => statusThrough(url, hold)))));
        const to = (await databaseNow(database.db)).getTime();
        holds.forEach((hold, i) => {
          if (to < hold.expiresAt - BOUND_MS) {
            expect({ hold: i, statuses: seen[i] }).toEqual({ hold: i, statuses: ['held', 'held'] });
            hold.seenBefore += 1;
          } else if (from > hold.expiresAt + BOUND_MS) {
            expect({ hold: i, statuses: seen[i] }).toEqual({ hold: i, statuses: ['expired', 'expired'] });
            hold.seenAfter += 1;
          }
        });
        return holds.every((hold) => hold.seenAfter > 0);
      },
      "every hold read as expired through both processes after the database's time passed its expiry",
      { timeoutMs: 20_000, everyMs: 25 },
    );
    // Each hold was also read as held through both, the process 5 s behind included, shortly before its expiry.
    for (const hold of holds) expect(hold.seenBefore).toBeGreaterThan(0);
  }, 60_000);
});

import { createTestDatabase, type TestDatabase } from '@ticketboss/adapters-postgres/testing';
import { findInvariantBreaches } from '@ticketboss/adapters-postgres';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listening, startMain, type Server } from './testing/main-process.js';
import { fetchSummary, sellOut } from './testing/sell-out.js';

/** Three API processes, each with its own pool and coalescing queues, on one database. */
describe('three API processes on one database', () => {
  let database: TestDatabase;
  let servers: Server[];
  let urls: string[];

  beforeAll(async () => {
    database = await createTestDatabase();
    servers = [0, 1, 2].map(() => startMain({ DATABASE_URL: database.url }));
    urls = await Promise.all(servers.map((server) => listening(server)));
  });
  afterAll(async () => {
    for (const server of servers) server.child.kill('SIGTERM');
    await Promise.all(servers.map((s) => s.exited));
    await database.drop();
  });

  it('sell out 500 seats through all of them at once: zero oversell, zero false denial', async () => {
    const report = await sellOut({ baseUrls: urls, requests: 1000, inFlight: 200 });
    expect(report.unexpected).toEqual([]);
    expect(report.oversold).toBe(0);
    expect(report.falseDenials).toEqual([]);
    expect(report.final).toMatchObject({
      availableSeats: 500 - report.confirmedSeats,
      reservationCount: report.confirmed,
      version: report.confirmed,
    });
    expect(report.final.availableSeats).toBeLessThan(10);
    expect(await findInvariantBreaches(database.db)).toEqual([]);
  });

  it('reserve-and-cancel churn through all of them: every answer 201 or 204, every seat back', async () => {
    const before = await fetchSummary(urls[0]!);
    const statuses = new Map<number, number>();
    const count = (status: number) => statuses.set(status, (statuses.get(status) ?? 0) + 1);
    const until = performance.now() + 1500;
    // Take back what the sell-out sold first, so the churn has seats to work with.
    await sql`UPDATE reservations SET status = 'cancelled', cancelled_at = now() WHERE status = 'confirmed'`.execute(
      database.db,
    );
    await sql`UPDATE event_seat_pools SET available_seats = 0, active_reservations = 0`.execute(database.db);
    await sql`UPDATE events SET available_seats = total_seats, active_reservations = 0, version = version + 1`.execute(
      database.db,
    );
    await Promise.all(
      Array.from({ length: 32 }, async (_, client) => {
        const url = urls[client % urls.length]!;
        while (performance.now() < until) {
          const reserved = await fetch(`${url}/reservations`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ partnerId: `churn-${client}`, seats: 1 }),
          });
          count(reserved.status);
          const { reservationId } = (await reserved.json()) as { reservationId: string };
          // Cancel through another process than the one that reserved.
          const cancelled = await fetch(`${urls[(client + 1) % urls.length]}/reservations/${reservationId}`, {
            method: 'DELETE',
          });
          count(cancelled.status);
        }
      }),
    );
    expect([...statuses.keys()].sort()).toEqual([201, 204]);
    expect(statuses.get(201)).toBe(statuses.get(204));
    const after = await fetchSummary(urls[2]!);
    expect(after.availableSeats).toBe(500);
    expect(after.reservationCount).toBe(0);
    expect(after.version).toBeGreaterThan(before.version);
    expect(await findInvariantBreaches(database.db)).toEqual([]);
  });
});

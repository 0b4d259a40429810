import { randomUUID } from 'node:crypto';
import { InvalidPagePosition, type PartnerActivityCount } from '@ticketboss/domain';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPartnerActivity, listPartnerOverviews, prunePartnerActivity } from './partner-activity-store.js';
import { createPostgresWebhookStore } from './webhooks/webhook-store.js';
import { addEndpoint, createTestDatabase, insertPartner, type TestDatabase } from './testing/index.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.drop());

const NOW = new Date('2025-11-25T12:30:40.000Z');
const minutesAgo = (minutes: number) => new Date(Date.UTC(2025, 10, 25, 12, 30 - minutes));

function count(partnerId: string, minute: Date, counts: Partial<PartnerActivityCount> = {}): PartnerActivityCount {
  return {
    partnerId,
    minute,
    requests: 1,
    reservations: 0,
    seats: 0,
    refusals: 0,
    rateLimited: 0,
    lastRequestAt: new Date(minute.getTime() + 1000),
    ...counts,
  };
}

/** A database of its own per test, so that "every partner" is only the test's partners. */
async function withDatabase(test: (db: TestDatabase['db']) => Promise<void>): Promise<void> {
  const own = await createTestDatabase();
  try {
    await test(own.db);
  } finally {
    await own.drop();
  }
}

describe('partner activity', () => {
  it('adds counts to the minute rows, keeping the latest request time', async () => {
    const partnerId = `p-${randomUUID().slice(0, 8)}`;
    await insertPartner(database.db, partnerId);
    const minute = minutesAgo(0);
    await addPartnerActivity(database.db, [
      count(partnerId, minute, { requests: 3, reservations: 2, seats: 5, lastRequestAt: new Date(NOW.getTime() - 5) }),
    ]);
    await addPartnerActivity(database.db, [
      count(partnerId, minute, { requests: 2, refusals: 1, rateLimited: 1, lastRequestAt: minute }),
      count(partnerId, minute, { requests: 1 }),
    ]);
    const rows = await database.db
      .selectFrom('partner_activity')
      .selectAll()
      .where('partner_id', '=', partnerId)
      .execute();
    expect(rows).toEqual([
      {
        partner_id: partnerId,
        minute,
        requests: 6,
        reservations: 2,
        seats: 5,
        refusals: 1,
        rate_limited: 1,
        last_request_at: new Date(NOW.getTime() - 5),
      },
    ]);
  });

  it('adds nothing for no counts', async () => {
    await expect(addPartnerActivity(database.db, [])).resolves.toBeUndefined();
  });

  it('lists every partner over the window in whole minutes, most requests first, zeros when idle', () =>
    withDatabase(async (db) => {
      for (const id of ['busy', 'idle', 'quiet', 'old']) await insertPartner(db, id);
      await addPartnerActivity(db, [
        count('busy', minutesAgo(0), { requests: 5, reservations: 2, seats: 3 }),
        // 15 minutes before 12:30:40 is 12:15:40: the window starts at 12:15.
        count('busy', minutesAgo(15), { requests: 4, refusals: 1, rateLimited: 2 }),
        count('busy', minutesAgo(16), { requests: 100 }),
        count('quiet', minutesAgo(3), { requests: 2 }),
        count('old', minutesAgo(16), { requests: 50 }),
      ]);
      const page = await listPartnerOverviews(db, NOW, { window: '15m', limit: 10 });
      expect(page.next).toBeUndefined();
      expect(page.items.map(({ failingWebhooks: _, ...line }) => line)).toEqual([
        {
          partnerId: 'busy',
          name: 'busy',
          requests: 9,
          reservations: 2,
          seats: 3,
          refusals: 1,
          rateLimited: 2,
          lastRequestAt: new Date(minutesAgo(0).getTime() + 1000),
        },
        expect.objectContaining({ partnerId: 'quiet', requests: 2 }),
        {
          partnerId: 'idle',
          name: 'idle',
          requests: 0,
          reservations: 0,
          seats: 0,
          refusals: 0,
          rateLimited: 0,
          lastRequestAt: null,
        },
        expect.objectContaining({ partnerId: 'old', requests: 0, lastRequestAt: null }),
      ]);
      const day = await listPartnerOverviews(db, NOW, { window: '1h', limit: 10 });
      expect(day.items.map((line) => [line.partnerId, line.requests])).toEqual([
        ['busy', 109],
        ['old', 50],
        ['quiet', 2],
        ['idle', 0],
      ]);
    }));

  it('pages through the partners with the position it gives, and refuses one it did not', () =>
    withDatabase(async (db) => {
      const ids = ['a', 'b', 'c', 'd', 'e'];
      for (const id of ids) await insertPartner(db, id);
      await addPartnerActivity(db, [count('c', minutesAgo(1), { requests: 7 }), count('e', minutesAgo(1))]);
      const seen: string[] = [];
      let after: string | undefined;
      do {
        const page = await listPartnerOverviews(db, NOW, { window: '15m', limit: 2, after });
        seen.push(...page.items.map((line) => line.partnerId));
        after = page.next;
      } while (after !== undefined);
      expect(seen).toEqual(['c', 'e', 'a', 'b', 'd']);
      for (const bad of ['', 'x|a', '01|a', '1|', '12345678901234567890|a']) {
        await expect(listPartnerOverviews(db, NOW, { window: '15m', limit: 2, after: bad })).rejects.toBeInstanceOf(
          InvalidPagePosition,
        );
      }
    }));

  it("shows a partner's failing and disabled endpoints with their last attempt, not the healthy ones", () =>
    withDatabase(async (db) => {
      await insertPartner(db, 'acme');
      const store = createPostgresWebhookStore(db);
      const healthy = await addEndpoint(db, 'acme', ['reservation.created']);
      const failing = await addEndpoint(db, 'acme', ['reservation.created']);
      const disabled = await addEndpoint(db, 'acme', ['reservation.created']);
      const byPartner = await addEndpoint(db, 'acme', ['reservation.created'], { enabled: false });
      const fail = async (
        webhookId: string,
        at: Date,
        outcome: { statusCode?: number; error: string },
        reason?: string,
      ) => {
        const delivery = await store.addTestDelivery('acme', webhookId, `msg_${randomUUID().replaceAll('-', '')}`);
        await store.recordAttempt(delivery!, at, {
          kind: 'failed',
          statusCode: outcome.statusCode,
          durationMs: 5,
          error: outcome.error,
          retryAt: undefined,
          disableReason: reason,
        });
      };
      await fail(failing.webhookId, minutesAgo(10), { statusCode: 500, error: 'HTTP 500' });
      await fail(failing.webhookId, minutesAgo(2), { error: 'connect ECONNREFUSED' });
      await fail(disabled.webhookId, minutesAgo(20), { statusCode: 503, error: 'HTTP 503' }, 'failing for 5 days');
      // An attempt with a status and no error text (not what the worker writes, but the column allows it).
      await db
        .updateTable('webhook_attempts')
        .set({ error: null })
        .where('webhook_id', '=', disabled.webhookId)
        .execute();

      const [acme] = (await listPartnerOverviews(db, NOW, { window: '15m', limit: 10 })).items;
      expect(acme?.failingWebhooks).toEqual([
        {
          webhookId: disabled.webhookId,
          url: disabled.url,
          enabled: false,
          failingSince: minutesAgo(20),
          disabledReason: 'failing for 5 days',
          lastError: 'HTTP 503',
          lastAttemptAt: minutesAgo(20),
        },
        {
          webhookId: failing.webhookId,
          url: failing.url,
          enabled: true,
          failingSince: minutesAgo(10),
          disabledReason: null,
          lastError: 'connect ECONNREFUSED',
          lastAttemptAt: minutesAgo(2),
        },
      ]);
      expect(acme?.failingWebhooks.map((w) => w.webhookId)).not.toContain(healthy.webhookId);
      expect(acme?.failingWebhooks.map((w) => w.webhookId)).not.toContain(byPartner.webhookId);
    }));

  it('prunes the minutes older than 24 hours, keeping the whole widest window', () =>
    withDatabase(async (db) => {
      await insertPartner(db, 'acme');
      const dayAgo = minutesAgo(24 * 60);
      await addPartnerActivity(db, [
        count('acme', new Date(dayAgo.getTime() - 60_000)),
        count('acme', dayAgo),
        count('acme', minutesAgo(0)),
      ]);
      expect(await prunePartnerActivity(db, NOW)).toBe(1);
      expect(await prunePartnerActivity(db, NOW)).toBe(0);
      const [acme] = (await listPartnerOverviews(db, NOW, { window: '24h', limit: 1 })).items;
      expect(acme?.requests).toBe(2);
    }));
});

import { createTestDatabase, type TestDatabase } from '@ticketboss/adapters-postgres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, call, stopAll, type ReservationAnswer } from './testing/api-client.js';
import { listening, startMain, type Server } from './testing/main-process.js';
import {
  ALL_EVENTS,
  registerWebhook,
  startWebhookReceiver,
  waitFor,
  type Arrival,
  type WebhookReceiver,
} from './testing/webhook-receiver.js';

const ADMIN_TOKEN = 'webhooks-delivery-admin-token-0123456789';
const admin = adminClient(ADMIN_TOKEN);
const EVENT_ID = 'webhooks-delivery';

/**
 * Webhooks end to end: API processes on one database post to a receiver on 127.0.0.1 that verifies every
 * delivery with standardwebhooks' own verifier (`rejected` stays empty). One process delivers, with private
 * addresses allowed, retries 100 ms apart and no sweeper (so a hold's expiry is the expiry job's alone); the
 * other, with the production default, refuses private addresses and delivers nothing.
 */
describe('webhook delivery', () => {
  let database: TestDatabase;
  let servers: Server[] = [];
  let api: string;
  let strictApi: string;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    database = await createTestDatabase();
    receiver = await startWebhookReceiver();
    const env = { ...admin.env(database.url), TICKETBOSS_MAX_WAIT_MS: '5000' };
    servers = [
      startMain(
        {
          ...env,
          TICKETBOSS_WEBHOOK_ALLOW_PRIVATE: 'true',
          TICKETBOSS_WEBHOOK_RETRY_BASE_MS: '100',
          TICKETBOSS_WEBHOOK_RETRY_MAX_MS: '400',
          TICKETBOSS_WEBHOOK_CONCURRENCY: '16',
          TICKETBOSS_SWEEP_INTERVAL_MS: '0',
        },
        {},
      ),
      startMain({ ...env, TICKETBOSS_WEBHOOK_WORKER: 'off', TICKETBOSS_SWEEP_INTERVAL_MS: '0' }, {}),
    ];
    [api, strictApi] = (await Promise.all(servers.map((server) => listening(server)))) as [string, string];
    await admin.createEvent(api, EVENT_ID, 5000);
  }, 180_000);
  afterAll(async () => {
    await stopAll(servers);
    await receiver?.close();
    await database?.drop();
  }, 60_000);

  /** A partner with an endpoint at `path` subscribed to every event; returns its API token. */
  async function partnerListening(partnerId: string, path: string, events: readonly string[] = ALL_EVENTS) {
    const token = await admin.createPartner(api, partnerId);
    const { secret } = await registerWebhook(api, token, receiver.url(path), events);
    receiver.setSecrets(path, [secret]);
    return token;
  }

  async function reserve(token: string, body: { seats: number; holdSeconds?: number }): Promise<ReservationAnswer> {
    const response = await call(api, `/v1/events/${EVENT_ID}/reservations`, token, {
      method: 'POST',
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(201);
    return (await response.json()) as ReservationAnswer;
  }

  const confirm = (token: string, id: string) => call(api, `/v1/reservations/${id}/confirm`, token, { method: 'POST' });
  const cancel = (token: string, id: string) => call(api, `/v1/reservations/${id}`, token, { method: 'DELETE' });
  const changes = (arrivals: readonly Arrival[]) => arrivals.map((a) => `${a.data.reservationId} ${a.type}`);
  const distinctIds = (arrivals: readonly Arrival[]) => new Set(arrivals.map((a) => a.webhookId)).size;

  it('posts each change once, signed, with the reservation as /v1 shows it', async () => {
    const token = await partnerListening('wh-once', '/once');
    const bought = await reserve(token, { seats: 2 });
    expect((await cancel(token, bought.reservationId)).status).toBe(204);
    const hold = await reserve(token, { seats: 1, holdSeconds: 600 });
    expect((await confirm(token, hold.reservationId)).status).toBe(200);

    await waitFor(
      () => receiver.at('/once').length >= 4,
      15_000,
      () => JSON.stringify(receiver.at('/once')),
    );
    const arrivals = receiver.at('/once');
    expect(changes(arrivals).sort()).toEqual(
      [
        `${bought.reservationId} reservation.created`,
        `${bought.reservationId} reservation.cancelled`,
        `${hold.reservationId} reservation.held`,
        `${hold.reservationId} reservation.confirmed`,
      ].sort(),
    );
    expect(distinctIds(arrivals)).toBe(4);
    const now = await call(api, `/v1/reservations/${hold.reservationId}`, token);
    expect(arrivals.find((a) => a.type === 'reservation.confirmed')!.data).toEqual(await now.json());
    expect(arrivals.find((a) => a.type === 'reservation.held')!.data).toEqual(hold);
    expect(receiver.rejected).toEqual([]);
  });

  it('retries a failing receiver with the same webhook-id until it answers 2xx', async () => {
    const token = await partnerListening('wh-retry', '/retry', ['reservation.created']);
    receiver.behave(({ path, earlier }) => (path === '/retry' && earlier < 3 ? 500 : 204));
    try {
      const { reservationId } = await reserve(token, { seats: 1 });
      await waitFor(
        () => receiver.at('/retry').length >= 4,
        15_000,
        () => JSON.stringify(receiver.at('/retry')),
      );
      const arrivals = receiver.at('/retry');
      expect(arrivals).toHaveLength(4);
      expect(distinctIds(arrivals)).toBe(1);
      expect(arrivals.every((a) => a.data.reservationId === reservationId)).toBe(true);
    } finally {
      receiver.behave(() => 204);
    }
    expect(receiver.rejected).toEqual([]);
  });

  it("posts a hold's reservation.expired within 2 s of its expiry, with no other request and no sweeper", async () => {
    const token = await partnerListening('wh-expiry', '/expiry', ['reservation.expired']);
    const hold = await reserve(token, { seats: 1, holdSeconds: 1 });
    const expiresAt = Date.parse(hold.expiresAt!);
    await waitFor(
      () => receiver.at('/expiry').length >= 1,
      expiresAt - Date.now() + 5000,
      () => 'no expiry',
    );
    const [arrival] = receiver.at('/expiry');
    expect(arrival).toMatchObject({ type: 'reservation.expired', data: { reservationId: hold.reservationId } });
    expect(arrival!.data.status).toBe('expired');
    expect(arrival!.at - expiresAt).toBeLessThan(2000);
  });

  it('signs with the old and the new secret after a rotation, so either verifies', async () => {
    const token = await admin.createPartner(api, 'wh-rotate');
    const { webhookId, secret } = await registerWebhook(api, token, receiver.url('/rotate'), ['reservation.created']);
    const rotated = await call(api, `/v1/webhooks/${webhookId}/rotate-secret`, token, { method: 'POST' });
    expect(rotated.status).toBe(200);
    const { secret: newSecret } = (await rotated.json()) as { secret: string };
    expect(newSecret).not.toBe(secret);
    receiver.setSecrets('/rotate', [secret, newSecret]);
    await reserve(token, { seats: 1 });
    await waitFor(
      () => receiver.at('/rotate').length >= 1,
      15_000,
      () => 'nothing delivered',
    );
    expect(receiver.at('/rotate')[0]!.verifiedWith).toEqual([0, 1]);
  });

  it.each(['127.0.0.1', 'localhost', '[::1]'])(
    'refuses a webhook to %s without TICKETBOSS_WEBHOOK_ALLOW_PRIVATE, naming url',
    async (host) => {
      const token = await admin.createPartner(api, `wh-private-${host.replace(/\W/g, '')}`);
      const response = await call(strictApi, '/v1/webhooks', token, {
        method: 'POST',
        body: JSON.stringify({ url: `http://${host}:${receiver.port}/private`, events: ['reservation.created'] }),
      });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toMatch(/\burl\b/);
    },
  );

  it("never posts one partner's reservations to another partner's endpoint", async () => {
    const [tokenA, tokenB] = [await partnerListening('wh-a', '/a'), await partnerListening('wh-b', '/b')];
    const ofA = await Promise.all([1, 2, 3].map(() => reserve(tokenA, { seats: 1 })));
    const ofB = await reserve(tokenB, { seats: 1 });
    await waitFor(
      () => receiver.at('/a').length >= 3 && receiver.at('/b').length >= 1,
      15_000,
      () => `${receiver.at('/a').length} at /a, ${receiver.at('/b').length} at /b`,
    );
    expect(receiver.at('/b').map((a) => a.data)).toEqual([expect.objectContaining({ partnerId: 'wh-b' })]);
    expect(receiver.at('/b')[0]!.data.reservationId).toBe(ofB.reservationId);
    expect(new Set(receiver.at('/a').map((a) => a.data.reservationId))).toEqual(
      new Set(ofA.map((r) => r.reservationId)),
    );
  });

  it("delivers 1,000 reservations made in a burst, each reservation's changes in order", async () => {
    const token = await partnerListening('wh-burst', '/burst', [
      'reservation.held',
      'reservation.confirmed',
      'reservation.cancelled',
    ]);
    const holds: ReservationAnswer[] = [];
    let started = 0;
    // 100 clients at once, each making its next hold as soon as the last one is answered.
    await Promise.all(
      Array.from({ length: 100 }, async () => {
        while (started < 1000) {
          started += 1;
          holds.push(await reserve(token, { seats: 1, holdSeconds: 600 }));
        }
      }),
    );
    // A subset goes on: held, then confirmed, then cancelled.
    const later = holds.slice(0, 100);
    await Promise.all(
      later.map(async ({ reservationId }) => expect((await confirm(token, reservationId)).status).toBe(200)),
    );
    await Promise.all(
      later.map(async ({ reservationId }) => expect((await cancel(token, reservationId)).status).toBe(204)),
    );
    const expected = 1000 + 2 * later.length;
    await waitFor(
      () => new Set(receiver.at('/burst').map((a) => a.webhookId)).size >= expected,
      40_000,
      () => `${distinctIds(receiver.at('/burst'))} of ${expected} delivered`,
    );
    const byReservation = new Map<string, string[]>();
    for (const arrival of receiver.at('/burst')) {
      const list = byReservation.get(arrival.data.reservationId!) ?? [];
      if (list.at(-1) !== arrival.type) list.push(arrival.type);
      byReservation.set(arrival.data.reservationId!, list);
    }
    expect(byReservation.size).toBe(1000);
    for (const { reservationId } of later) {
      expect(byReservation.get(reservationId)).toEqual([
        'reservation.held',
        'reservation.confirmed',
        'reservation.cancelled',
      ]);
    }
    expect(receiver.rejected).toEqual([]);
  }, 90_000);
});

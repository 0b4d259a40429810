import { createTestDatabase, waitUntil, type TestDatabase } from '@ticketboss/adapters-postgres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, call, stopAll } from './testing/api-client.js';
import { listening, startMain, type Server } from './testing/main-process.js';
import { startTcpProxy, type TcpProxy } from './testing/tcp-proxy.js';
import { registerWebhook, startWebhookReceiver, waitFor, type WebhookReceiver } from './testing/webhook-receiver.js';

const ADMIN_TOKEN = 'webhooks-outage-admin-token-0123456789ab';
const admin = adminClient(ADMIN_TOKEN);
const EVENT_ID = 'webhooks-outage';
const PATH = '/outage';

/** The warn line of signals.ts for a rejection nobody awaited that says the database is unreachable. */
const NOBODY_AWAITED = 'a database call nobody awaited failed: the database is unreachable';
const FATAL = 60;

/** The messages the process logged at `level` (pino's JSON lines on its output; the last one may be partial). */
function logged(server: Server, level: number): string[] {
  return server
    .output()
    .split('\n')
    .slice(0, -1)
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: number; msg: string })
    .filter((line) => line.level === level)
    .map((line) => line.msg);
}

/**
 * The database becoming unreachable while a delivery's POST is in flight: the job then fails to record the
 * attempt, and graphile-worker fails to fail the job, in a promise it does not await. The API process (on its
 * database through a TCP proxy the test cuts) must stay up, serve again once the database answers, and post the
 * delivery again (same webhook-id) once the job queue's rescue unlocks the job (lock timeout 3 s here).
 */
describe('webhook delivery while the database is unreachable', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let receiver: WebhookReceiver;
  const servers: Server[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    const direct = new URL(database.url);
    proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
    receiver = await startWebhookReceiver();
  }, 60_000);
  afterAll(async () => {
    try {
      await stopAll(servers);
      await receiver?.close();
      await proxy?.close();
    } finally {
      await database?.drop();
    }
  }, 60_000);

  it('keeps the API process up, serves again after, and posts the delivery again', async () => {
    const proxied = new URL(database.url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(proxy.port);
    const server = startMain(
      {
        ...admin.env(proxied.toString()),
        TICKETBOSS_WEBHOOK_ALLOW_PRIVATE: 'true',
        TICKETBOSS_WEBHOOK_RETRY_BASE_MS: '100',
        TICKETBOSS_WEBHOOK_TIMEOUT_MS: '2000',
        TICKETBOSS_WEBHOOK_LOCK_TIMEOUT_MS: '3000',
        TICKETBOSS_SWEEP_INTERVAL_MS: '0',
      },
      {},
    );
    servers.push(server);
    const api = await listening(server);
    await admin.createEvent(api, EVENT_ID, 100);
    const token = await admin.createPartner(api, 'outage-partner');
    const { webhookId, secret } = await registerWebhook(api, token, receiver.url(PATH), ['reservation.created']);
    receiver.setSecrets(PATH, [secret]);
    // The first POST is held until the database is cut, then answered 500; every later one 204.
    receiver.behave(({ path, earlier }) => (path === PATH && earlier === 0 ? 'hold' : 204));
    const reserve = () =>
      call(api, `/v1/events/${EVENT_ID}/reservations`, token, { method: 'POST', body: JSON.stringify({ seats: 1 }) });

    const created = await reserve();
    expect(created.status).toBe(201);
    const { reservationId } = (await created.json()) as { reservationId: string };
    await waitFor(
      () => receiver.at(PATH).length >= 1,
      10_000,
      () => `the first POST never came:\n${server.output()}`,
    );

    try {
      await proxy.cut();
      receiver.release(500);
      // The warning, or (without it) the fatal line of the shutdown an uncaught error starts.
      await waitFor(
        () => logged(server, 40).includes(NOBODY_AWAITED) || logged(server, FATAL).length > 0,
        10_000,
        () => `neither the warning nor a fatal error:\n${server.output()}`,
      );
      expect(logged(server, FATAL)).toEqual([]);
      expect(logged(server, 40)).toContain(NOBODY_AWAITED);
      expect(server.child.exitCode).toBeNull();
      expect(server.child.signalCode).toBeNull();
    } finally {
      await proxy.restore();
    }

    // Requests answer 503 until the pools connect again; then a reservation is made again.
    await waitUntil(async () => (await reserve()).status === 201, 'a reservation to answer 201 again', {
      timeoutMs: 10_000,
      everyMs: 100,
    });

    // The reservation made to see the API serve again has a delivery of its own: only the first one's count.
    const ofFirst = () => receiver.at(PATH).filter((arrival) => arrival.data.reservationId === reservationId);
    await waitFor(
      () => ofFirst().length >= 2,
      15_000,
      () => `not posted again after the outage:\n${server.output()}`,
    );
    const [first, again] = ofFirst();
    expect(again!.webhookId).toBe(first!.webhookId);
    expect(receiver.rejected).toEqual([]);
    // The answer to the POST made after the outage is recorded (the one lost with the database is not).
    await waitUntil(
      async () => {
        const response = await call(api, `/v1/webhooks/${webhookId}/deliveries`, token);
        const { items } = (await response.json()) as { items: { deliveryId: string; statusCode?: number }[] };
        return items.some((item) => item.deliveryId === first!.webhookId && item.statusCode === 204);
      },
      'the delivery to be recorded as delivered',
      { timeoutMs: 5000, everyMs: 100 },
    );
    expect(server.child.exitCode).toBeNull();
  }, 60_000);
});

import { createTestDatabase, type TestDatabase } from '@ticketboss/adapters-postgres/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, call, stopAll, type ReservationAnswer } from './testing/api-client.js';
import { listening, startMain, startWorkerMain, waitForOutput, type Server } from './testing/main-process.js';
import { registerWebhook, startWebhookReceiver, waitFor, type WebhookReceiver } from './testing/webhook-receiver.js';

const ADMIN_TOKEN = 'webhooks-restart-admin-token-0123456789ab';
const admin = adminClient(ADMIN_TOKEN);
const EVENT_ID = 'webhooks-restart';

/**
 * Deliveries survive their API process: a change committed by a process killed before any attempt is delivered
 * by the next process to start, and one whose POST was under way when its process was SIGKILLed is posted again
 * (same webhook-id) once the lock timeout (3 s here) has passed. The worker also survives the server terminating
 * every one of its connections.
 */
describe('webhook delivery across crashes', () => {
  let database: TestDatabase;
  const servers: Server[] = [];
  let receiver: WebhookReceiver;
  let env: Record<string, string>;

  const start = async (extra: Record<string, string> = {}) => {
    const server = startMain({ ...env, ...extra }, {});
    servers.push(server);
    return { server, url: await listening(server) };
  };
  const kill = async (server: Server) => {
    server.child.kill('SIGKILL');
    await server.exited;
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    receiver = await startWebhookReceiver();
    env = {
      ...admin.env(database.url),
      TICKETBOSS_WEBHOOK_ALLOW_PRIVATE: 'true',
      TICKETBOSS_WEBHOOK_RETRY_BASE_MS: '100',
      TICKETBOSS_WEBHOOK_TIMEOUT_MS: '2000',
      TICKETBOSS_WEBHOOK_LOCK_TIMEOUT_MS: '3000',
    };
  }, 60_000);
  afterAll(async () => {
    await stopAll(servers);
    await receiver?.close();
    await database?.drop();
  }, 60_000);

  async function reserve(api: string, token: string): Promise<ReservationAnswer> {
    const response = await call(api, `/v1/events/${EVENT_ID}/reservations`, token, {
      method: 'POST',
      body: JSON.stringify({ seats: 1 }),
    });
    expect(response.status).toBe(201);
    return (await response.json()) as ReservationAnswer;
  }

  async function listeningPartner(api: string, partnerId: string, path: string): Promise<string> {
    const token = await admin.createPartner(api, partnerId);
    const { secret } = await registerWebhook(api, token, receiver.url(path), ['reservation.created']);
    receiver.setSecrets(path, [secret]);
    return token;
  }

  it('delivers, after a restart, a change whose process was killed before any attempt', async () => {
    // No worker in this process: the change is committed, then nothing posts it before the kill.
    const first = await start({ TICKETBOSS_WEBHOOK_WORKER: 'off' });
    await admin.createEvent(first.url, EVENT_ID, 100);
    const token = await listeningPartner(first.url, 'restart-before', '/before');
    const { reservationId } = await reserve(first.url, token);
    await kill(first.server);
    expect(receiver.at('/before')).toEqual([]);

    await start();
    await waitFor(
      () => receiver.at('/before').length >= 1,
      20_000,
      () => 'not delivered after the restart',
    );
    expect(receiver.at('/before')[0]!.data.reservationId).toBe(reservationId);
    expect(receiver.rejected).toEqual([]);
  }, 120_000);

  it('posts again, with the same webhook-id, a delivery whose process was SIGKILLed mid-POST', async () => {
    const running = servers.find((s) => s.child.exitCode === null && s.child.signalCode === null)!;
    const api = await listening(running);
    const token = await listeningPartner(api, 'restart-during', '/during');
    // The first POST is held open; the process making it is killed while it waits for the answer.
    receiver.behave(({ path, earlier }) => (path === '/during' && earlier === 0 ? 'hold' : 204));
    const { reservationId } = await reserve(api, token);
    await waitFor(
      () => receiver.at('/during').length >= 1,
      15_000,
      () => 'the first POST never came',
    );
    await kill(running);

    await start();
    await waitFor(
      () => receiver.at('/during').length >= 2,
      20_000,
      () => 'not posted again after the kill',
    );
    const [first, again] = receiver.at('/during');
    expect(again!.webhookId).toBe(first!.webhookId);
    expect(again!.data.reservationId).toBe(reservationId);
    expect(receiver.rejected).toEqual([]);
  }, 120_000);

  it('keeps delivering after the server terminates every connection of the process', async () => {
    const running = servers.find((s) => s.child.exitCode === null && s.child.signalCode === null)!;
    const api = await listening(running);
    const token = await listeningPartner(api, 'restart-terminated', '/terminated');
    const { rows } = await sql<{ terminated: number }>`
      SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::integer AS terminated
        FROM pg_stat_activity
       WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()`.execute(
      database.db,
    );
    expect(rows[0]!.terminated).toBeGreaterThan(0);

    // A request caught on a terminated connection answers 503; the pools then replace what they lost.
    let reservation: ReservationAnswer | undefined;
    const deadline = Date.now() + 15_000;
    while (!reservation && Date.now() < deadline) {
      const response = await call(api, `/v1/events/${EVENT_ID}/reservations`, token, {
        method: 'POST',
        body: JSON.stringify({ seats: 1 }),
      });
      if (response.status === 201) reservation = (await response.json()) as ReservationAnswer;
      else await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(reservation).toBeDefined();
    await waitFor(
      () => receiver.at('/terminated').length >= 1,
      20_000,
      () => 'not delivered after the terminations',
    );
    expect(receiver.at('/terminated')[0]!.data.reservationId).toBe(reservation!.reservationId);
    expect(running.child.exitCode).toBeNull();
    expect(receiver.rejected).toEqual([]);
  }, 60_000);

  it('delivers through `pnpm worker` for API processes that run no worker, and the worker stops on SIGTERM', async () => {
    // No other process may deliver: the API processes still running from the tests above are stopped first.
    for (const server of servers)
      if (server.child.exitCode === null && server.child.signalCode === null) await kill(server);
    const api = await start({ TICKETBOSS_WEBHOOK_WORKER: 'off' });
    const token = await listeningPartner(api.url, 'worker-alone', '/worker');
    const { reservationId } = await reserve(api.url, token);
    const worker = startWorkerMain({ ...env, LOG_LEVEL: 'info' });
    servers.push(worker);
    try {
      await waitForOutput(worker, /worker started/);
      await waitFor(
        () => receiver.at('/worker').length >= 1,
        20_000,
        () => `pnpm worker did not deliver:\n${worker.output().slice(-2000)}`,
      );
      expect(receiver.at('/worker')[0]!.data.reservationId).toBe(reservationId);
      expect(receiver.rejected).toEqual([]);
    } finally {
      worker.child.kill('SIGTERM');
    }
    expect(await worker.exited).toBe(0);
    expect(worker.output()).toContain('worker stopped');
    await kill(api.server);
  }, 120_000);
});

import { WEBHOOK_EVENT_TYPES } from '@ticketboss/domain';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { call } from './api-client.js';

/** One POST that reached the receiver, verified with every secret its path knows. */
export interface Arrival {
  readonly path: string;
  readonly webhookId: string;
  readonly type: string;
  readonly timestamp: string;
  readonly data: { readonly reservationId?: string; readonly partnerId?: string; readonly status?: string };
  /** When it arrived (this machine's clock). */
  readonly at: number;
  /** The secrets of the path that verified it, by position. */
  readonly verifiedWith: readonly number[];
}

/**
 * What the receiver does with a POST: answer `status`, or `hold` (no answer until `release`; for a process killed,
 * or its database cut, mid-request).
 * Decided before the delivery is verified, with the number of earlier POSTs of the same webhook-id.
 */
export type Behaviour = (request: { path: string; webhookId: string; earlier: number }) => number | 'hold';

/**
 * A partner's receiver on 127.0.0.1: each path is one endpoint with its secrets. EVERY POST is verified with
 * standardwebhooks' own verifier against each of its path's secrets; one that no secret verifies (or that names
 * no known path) is recorded in `rejected`, which the tests expect empty.
 */
export async function startWebhookReceiver() {
  const secrets = new Map<string, string[]>();
  const arrivals: Arrival[] = [];
  const rejected: string[] = [];
  const seen = new Map<string, number>();
  const held: ServerResponse[] = [];
  let behaviour: Behaviour = () => 204;

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const path = request.url ?? '';
      const headers = Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name, String(value)]));
      const webhookId = headers['webhook-id'] ?? '';
      const known = secrets.get(path);
      const verifiedWith = (known ?? []).flatMap((secret, index) => {
        try {
          new Webhook(secret).verify(body, headers);
          return [index];
        } catch {
          return [];
        }
      });
      if (verifiedWith.length === 0) {
        rejected.push(`${path} ${webhookId}: ${known ? 'no secret verifies it' : 'unknown path'}`);
        response.writeHead(400).end();
        return;
      }
      const earlier = seen.get(webhookId) ?? 0;
      seen.set(webhookId, earlier + 1);
      const answer = behaviour({ path, webhookId, earlier });
      const payload = JSON.parse(body) as Pick<Arrival, 'type' | 'timestamp' | 'data'>;
      arrivals.push({ path, webhookId, ...payload, at: Date.now(), verifiedWith });
      if (answer === 'hold') held.push(response);
      else response.writeHead(answer).end();
    });
  });
  server.keepAliveTimeout = 10_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;

  return {
    port,
    arrivals,
    rejected,
    url: (path: string) => `${base}${path}`,
    /** The path's secrets, each of which must verify every delivery to it (all of them: `verifiedWith`). */
    setSecrets(path: string, list: string[]) {
      secrets.set(path, list);
    },
    behave(next: Behaviour) {
      behaviour = next;
    },
    at: (path: string) => arrivals.filter((arrival) => arrival.path === path),
    /** Answers every POST held so far with `status`. */
    release(status: number) {
      for (const response of held.splice(0)) response.writeHead(status).end();
    },
    async close() {
      for (const response of held) response.destroy();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

export type WebhookReceiver = Awaited<ReturnType<typeof startWebhookReceiver>>;

/** Registers an endpoint with `POST /v1/webhooks`; returns its id and secret. */
export async function registerWebhook(
  api: string,
  token: string,
  url: string,
  events: readonly string[],
): Promise<{ webhookId: string; secret: string }> {
  const response = await call(api, '/v1/webhooks', token, { method: 'POST', body: JSON.stringify({ url, events }) });
  const text = await response.text();
  if (response.status !== 201) throw new Error(`registering ${url}: ${response.status} ${text}`);
  return JSON.parse(text) as { webhookId: string; secret: string };
}

/** Waits for `condition`, polling, until `timeoutMs`; then fails with `describe()`. */
export async function waitFor(condition: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export const ALL_EVENTS = WEBHOOK_EVENT_TYPES;

/**
 * The bench's webhook receiver: an HTTP server on 127.0.0.1 that answers 204 to every delivery and counts them,
 * and the endpoints that point TicketBoss at it (one per partner, subscribed to every reservation event).
 */
import { WEBHOOK_EVENT_TYPES } from '@ticketboss/domain';
import { createServer, type Server } from 'node:http';

export interface Receiver {
  readonly url: string;
  /** Deliveries received so far (every POST, retries included). */
  received(): number;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  let count = 0;
  const server: Server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      count++;
      response.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('receiver: no address');
  return {
    url: `http://127.0.0.1:${address.port}/hooks`,
    received: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Registers one endpoint per partner token, through the API as a partner does. */
export async function registerEndpoints(apiUrl: string, tokens: readonly string[], receiverUrl: string) {
  await Promise.all(
    tokens.map(async (token) => {
      const response = await fetch(`${apiUrl}/v1/webhooks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ url: receiverUrl, events: WEBHOOK_EVENT_TYPES, description: 'bench receiver' }),
      });
      if (response.status !== 201) {
        throw new Error(`registering a webhook endpoint: ${response.status} ${await response.text()}`);
      }
    }),
  );
}

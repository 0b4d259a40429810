import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createOutbound, publicLookup, type Outbound } from './outbound.js';

type Handler = (request: IncomingMessage, body: string, response: ServerResponse) => void;

/** A receiver on 127.0.0.1 that counts the connections made to it and answers with the current handler. */
async function startReceiver() {
  let handler: Handler = (_request, _body, response) => response.writeHead(204).end();
  let connections = 0;
  const received: { headers: IncomingMessage['headers']; body: string }[] = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push({ headers: request.headers, body });
      handler(request, body, response);
    });
  });
  server.on('connection', () => (connections += 1));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    connections: () => connections,
    answer(next: Handler) {
      handler = next;
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

describe('outbound POST', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const outbounds: Outbound[] = [];
  const outbound = (options: { timeoutMs?: number; allowPrivate: boolean }) => {
    const made = createOutbound({ timeoutMs: 10_000, ...options });
    outbounds.push(made);
    return made;
  };
  const request = (url = receiver.url) => ({
    url,
    headers: { 'content-type': 'application/json', 'webhook-id': 'msg_1' },
    body: '{"type":"webhook.test"}',
  });

  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterEach(() => {
    for (const made of outbounds.splice(0)) made.close();
    receiver.answer((_request, _body, response) => response.writeHead(204).end());
  });
  afterAll(async () => {
    await receiver?.close();
  });

  it("posts the body with its headers and answers the receiver's 2xx status", async () => {
    const result = await outbound({ allowPrivate: true }).post(request());
    expect(result).toEqual({ statusCode: 204, durationMs: expect.any(Number) });
    const last = receiver.received.at(-1)!;
    expect(last.body).toBe('{"type":"webhook.test"}');
    expect(last.headers).toMatchObject({ 'webhook-id': 'msg_1', 'content-type': 'application/json' });
  });

  it('answers a 500 as the status code, for the caller to count as a failure', async () => {
    receiver.answer((_request, _body, response) => response.writeHead(500).end('broken'));
    expect(await outbound({ allowPrivate: true }).post(request())).toMatchObject({ statusCode: 500 });
  });

  it('gives up after the timeout, saying so', async () => {
    receiver.answer(() => undefined); // never answers
    const result = await outbound({ allowPrivate: true, timeoutMs: 300 }).post(request());
    expect(result).toMatchObject({ error: 'timed out after 300 ms' });
    expect(result.durationMs).toBeGreaterThanOrEqual(250);
    expect(result.durationMs).toBeLessThan(5000);
  });

  it('does not follow a redirect: the 3xx is the answer', async () => {
    receiver.answer((request, _body, response) => {
      if (request.url === '/hooks') response.writeHead(307, { location: '/elsewhere' }).end();
      else response.writeHead(204).end();
    });
    const before = receiver.received.length;
    expect(await outbound({ allowPrivate: true }).post(request())).toMatchObject({ statusCode: 307 });
    expect(receiver.received.length - before).toBe(1);
  });

  it('says when nothing listens', async () => {
    const closed = await startReceiver();
    await closed.close();
    expect(await outbound({ allowPrivate: true }).post(request(closed.url))).toMatchObject({
      error: `connection refused by 127.0.0.1:${closed.port}`,
    });
  });

  it.each([
    ['127.0.0.1', 'refused: 127.0.0.1 is a loopback address'],
    ['localhost', /^refused: (127\.0\.0\.1|::1) is a loopback address$/],
  ])('without allowPrivate, refuses %s before connecting', async (host, error) => {
    const before = receiver.connections();
    const result = await outbound({ allowPrivate: false }).post(request(`http://${host}:${receiver.port}/hooks`));
    expect(result).toMatchObject({ error: expect.stringMatching(error) });
    expect(receiver.connections()).toBe(before);
  });

  it.each(['[::1]', '[::ffff:127.0.0.1]', '169.254.169.254', '10.1.2.3'])(
    'without allowPrivate, refuses the literal address %s',
    async (host) => {
      const result = await outbound({ allowPrivate: false }).post(request(`http://${host}:${receiver.port}/`));
      expect(result).toMatchObject({ error: expect.stringMatching(/^refused: .+ is an? .+ address$/) });
    },
  );

  it('the lookup answers both shapes Node asks for, keeping only public addresses', async () => {
    const lookup = (hostname: string, options: { all?: boolean }) =>
      new Promise<unknown>((resolve) =>
        publicLookup(hostname, { ...options }, (error: Error | null, address: unknown, family?: number) =>
          resolve(error ? error.message : options.all ? address : [address, family]),
        ),
      );
    expect(await lookup('localhost', { all: true })).toMatch(/^refused: .+ is a loopback address$/);
    expect(await lookup('localhost', {})).toMatch(/^refused: .+ is a loopback address$/);
    // A numeric name resolves without DNS: the shapes of a public answer.
    expect(await lookup('192.0.2.1', { all: true })).toMatch(/^refused/);
    expect(await lookup('8.8.8.8', { all: true })).toEqual([{ address: '8.8.8.8', family: 4 }]);
    expect(await lookup('8.8.8.8', {})).toEqual(['8.8.8.8', 4]);
  });
});

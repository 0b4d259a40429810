import http from 'node:http';
import net from 'node:net';
import { bodyText } from './fuzz-bodies.js';
import type { Framing, FuzzRequest } from './fuzz-requests.js';

/**
 * How fault scenario 5 sends its generated requests (fuzz-requests.ts): over node:http when Node accepts them,
 * else as raw bytes on a socket; and what came back.
 */

/** What came back: an answer, or nothing (the connection closed, or no answer in time). */
export type Outcome =
  | {
      readonly kind: 'answer';
      readonly status: number;
      readonly headers: Readonly<Record<string, string | string[] | undefined>>;
      readonly body: string;
      /** Sent over node:http (a request Node itself would send) rather than as raw bytes. */
      readonly wellFormed: boolean;
    }
  | { readonly kind: 'no answer'; readonly reason: string };

export interface Destination {
  readonly host: string;
  readonly port: number;
  readonly agent: http.Agent;
  readonly timeoutMs: number;
}

export async function send(to: Destination, request: FuzzRequest): Promise<Outcome> {
  const body = request.body === undefined ? undefined : Buffer.from(bodyText(request.body));
  // Node's server refuses methods it does not know as malformed HTTP: those go out raw, like other malformed ones.
  if (request.host && !request.framing && http.METHODS.includes(request.method)) {
    const sent = viaHttp(to, request, body);
    if (sent) return sent;
  }
  return viaSocket(to, request, body);
}

/** Over node:http, keep-alive; undefined when Node refuses the request as malformed (then it goes raw). */
function viaHttp(to: Destination, request: FuzzRequest, body: Buffer | undefined): Promise<Outcome> | undefined {
  const headers: string[] = ['Host', `${to.host}:${to.port}`, ...request.headers.flat()];
  if (body) headers.push('Content-Length', String(body.length));
  let req: http.ClientRequest;
  try {
    req = http.request({
      host: to.host,
      port: to.port,
      agent: to.agent,
      method: request.method,
      path: request.target,
      headers,
    });
  } catch {
    return undefined;
  }
  return new Promise<Outcome>((resolve) => {
    let answered = false;
    req.setTimeout(to.timeoutMs, () => {
      resolve({ kind: 'no answer', reason: `no answer in ${to.timeoutMs} ms` });
      req.destroy();
    });
    req.on('response', (response) => {
      answered = true;
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({
          kind: 'answer',
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          wellFormed: true,
        }),
      );
      response.on('error', (error) => resolve({ kind: 'no answer', reason: `answer cut: ${error.message}` }));
    });
    // An answer that came before the whole body was written (413) may be followed by a write error: not news.
    req.on('error', (error) => {
      if (!answered) resolve({ kind: 'no answer', reason: error.message });
    });
    req.end(body);
  });
}

const framingHeaders: Record<Framing, (length: number) => string> = {
  'content-length-and-chunked': (length) => `Content-Length: ${length}\r\nTransfer-Encoding: chunked\r\n`,
  'content-length-not-a-number': () => 'Content-Length: 12abc\r\n',
  'two-content-lengths': (length) => `Content-Length: ${length}\r\nContent-Length: ${length + 1}\r\n`,
};

/** Raw bytes on a fresh connection (Connection: close), the answer read to the end of the stream. */
function viaSocket(to: Destination, request: FuzzRequest, body: Buffer | undefined): Promise<Outcome> {
  const length = body?.length ?? 0;
  const head =
    `${request.method} ${request.target} HTTP/1.1\r\n` +
    (request.host ? `Host: ${to.host}:${to.port}\r\n` : '') +
    request.headers.map(([name, value]) => `${name}: ${value}\r\n`).join('') +
    (request.framing ? framingHeaders[request.framing](length) : body ? `Content-Length: ${length}\r\n` : '') +
    'Connection: close\r\n\r\n';
  return new Promise<Outcome>((resolve) => {
    const socket = net.connect({ host: to.host, port: to.port });
    const chunks: Buffer[] = [];
    socket.setTimeout(to.timeoutMs, () => {
      resolve({ kind: 'no answer', reason: `no answer in ${to.timeoutMs} ms` });
      socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // The server may close (or reset) as soon as it has answered a malformed request: what came is the answer.
    const done = (error?: Error) => resolve(parseAnswer(Buffer.concat(chunks), request.method, error));
    socket.on('end', () => done());
    socket.on('error', (error) => done(error));
    // write, not end: Node's server aborts the requests of a connection whose client has half-closed it. With
    // Connection: close it closes the connection itself once it has answered.
    socket.on('connect', () => socket.write(body ? Buffer.concat([Buffer.from(head), body]) : Buffer.from(head)));
  });
}

function parseAnswer(bytes: Buffer, method: string, error: Error | undefined): Outcome {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return { kind: 'no answer', reason: error?.message ?? `connection closed (${bytes.length} bytes)` };
  const [statusLine = '', ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let rest = bytes.subarray(end + 4);
  if (method === 'HEAD') rest = Buffer.alloc(0);
  else if (headers['transfer-encoding'] === 'chunked') rest = unchunk(rest);
  else if (headers['content-length'] !== undefined) rest = rest.subarray(0, Number(headers['content-length']));
  return { kind: 'answer', status, headers, body: rest.toString('utf8'), wellFormed: false };
}

function unchunk(bytes: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', at);
    if (lineEnd < 0) break;
    const size = parseInt(bytes.subarray(at, lineEnd).toString('latin1'), 16);
    if (!(size > 0)) break;
    parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** A request and what came back. */
export interface Result {
  readonly request: FuzzRequest;
  readonly outcome: Outcome;
}

export async function sendAll(url: string, requests: readonly FuzzRequest[], concurrency: number): Promise<Result[]> {
  const { hostname, port } = new URL(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const to = { host: hostname, port: Number(port), agent, timeoutMs: 30_000 };
  const results: Result[] = [];
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < requests.length) {
          const request = requests[next++]!;
          results.push({ request, outcome: await send(to, request) });
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  return results;
}

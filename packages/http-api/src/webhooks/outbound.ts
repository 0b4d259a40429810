/**
 * The one way TicketBoss reaches partners' servers: a POST with a deadline for the whole exchange, no redirects
 * followed, and, unless private addresses are allowed, a check of the address actually connected to. A hostname
 * is checked as it resolves at connect time (a custom `lookup`), so a name that resolves to a public address when
 * registered and to an internal one later (DNS rebinding) still cannot reach our network.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { isPublicAddress, refusedAddressReason } from './addresses.js';

export interface OutboundOptions {
  /** The whole exchange: connecting, sending, and the answer's headers and body. */
  readonly timeoutMs: number;
  /** Loopback, private, link-local... addresses too (tests and local use). */
  readonly allowPrivate: boolean;
}

export interface OutboundPost {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** The endpoint's status code, or why there was none, in a sentence. */
export type OutboundResult =
  | { readonly statusCode: number; readonly durationMs: number }
  | { readonly error: string; readonly durationMs: number };

export interface Outbound {
  post(request: OutboundPost): Promise<OutboundResult>;
  /** Closes the connections kept alive between deliveries. */
  close(): void;
}

/** A refusal, told apart from the network's errors by its code. */
class AddressRefused extends Error {
  readonly code = 'ERR_WEBHOOK_ADDRESS_REFUSED';
}

const refusal = (address: string) => new AddressRefused(`refused: ${refusedAddressReason(address) ?? address}`);

/**
 * `dns.lookup`, keeping only public addresses. Node calls a connection's lookup with `{ all: true }` when it may
 * try several addresses (autoSelectFamily, on by default in Node 20), else for one address: both shapes are answered.
 */
export const publicLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
    if (error) return callback(error, '', 0);
    const allowed = addresses.filter((entry) => isPublicAddress(entry.address));
    if (allowed.length === 0) {
      const refused = addresses[0]?.address ?? hostname;
      return callback(refusal(refused), '', 0);
    }
    if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
    return callback(null, allowed[0]!.address, allowed[0]!.family);
  });
};

export function createOutbound(options: OutboundOptions): Outbound {
  // Keep-alive: a burst of deliveries to one endpoint reuses its connections. Idle ones close before a typical
  // server's keep-alive timeout (Node's is 5 s), so a request is rarely sent on a connection being closed.
  const agents = {
    'http:': new http.Agent({ keepAlive: true, timeout: 4000 }),
    'https:': new https.Agent({ keepAlive: true, timeout: 4000 }),
  };
  return {
    post: (request) => post(request, options, agents),
    close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}

function post(
  { url, headers, body }: OutboundPost,
  { timeoutMs, allowPrivate }: OutboundOptions,
  agents: { 'http:': http.Agent; 'https:': https.Agent },
): Promise<OutboundResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const failed = (error: string) => Promise.resolve({ error, durationMs: elapsed() });
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return failed('refused: not a URL');
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') return failed('refused: not an http(s) URL');
  const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!allowPrivate && isIP(host) && !isPublicAddress(host)) return failed(refusal(host).message);

  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: { statusCode: number } | { error: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...result, durationMs: elapsed() });
    };
    const client = target.protocol === 'https:' ? https : http;
    const request = client.request(target, {
      method: 'POST',
      agent: agents[target.protocol as 'http:' | 'https:'],
      headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      ...(allowPrivate ? {} : { lookup: publicLookup }),
    });
    const timer = setTimeout(() => {
      finish({ error: `timed out after ${formatSeconds(timeoutMs)}` });
      request.destroy();
    }, timeoutMs);
    request.on('error', (error) => finish({ error: describeError(error, target) }));
    request.on('response', (response) => {
      // The body is read (and dropped) so the exchange is whole and the connection can be reused.
      response.resume();
      response.on('end', () => finish({ statusCode: response.statusCode ?? 0 }));
      response.on('error', (error) => finish({ error: describeError(error, target) }));
    });
    request.end(body);
  });
}

const formatSeconds = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`);

/** A network error in a sentence that names no internals beyond what the partner can check on its side. */
function describeError(error: Error, target: URL): string {
  const failures = error instanceof AggregateError ? (error.errors as Error[]) : [error];
  const refused = failures.find((e) => e instanceof AddressRefused);
  if (refused) return refused.message;
  const first: NodeJS.ErrnoException | undefined = failures[0];
  const code = first?.code ?? '';
  switch (code) {
    case 'ECONNREFUSED':
      return `connection refused by ${target.host}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${target.hostname} did not resolve`;
    case 'ECONNRESET':
      return `connection reset by ${target.host}`;
    case 'ETIMEDOUT':
      return `connection to ${target.host} timed out`;
    case '':
      return `connection to ${target.host} failed`;
    default:
      return `connection to ${target.host} failed (${code})`;
  }
}

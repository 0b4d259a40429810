import fc from 'fast-check';
import { bodyArbitrary, bodyText, type BodySpec } from './fuzz-bodies.js';
import { headerText, headersArbitrary } from './fuzz-headers.js';
import type { Operation } from './routes-setup.js';

/**
 * The requests of fault scenario 5, generated from openapi.json (so a new route is fuzzed without a change here):
 * their bodies are made in fuzz-bodies.ts and their headers in fuzz-headers.ts; fuzz-send.ts sends them (over
 * node:http when it accepts them, else as raw bytes on a socket).
 */

/** What the generator may aim at: real ids and tokens, so that requests get past the first check sometimes. */
export interface FuzzTargets {
  readonly operations: readonly Operation[];
  /** Known values per path parameter name (eventId, reservationId, partnerId, keyId). */
  readonly ids: Readonly<Record<string, readonly string[]>>;
  /** Tokens that are or were real: the admin's, partners' keys, a revoked key. */
  readonly tokens: readonly string[];
}

/** Ways to break HTTP/1.1 framing that node:http will not send. */
export type Framing = 'content-length-and-chunked' | 'content-length-not-a-number' | 'two-content-lengths';

export interface FuzzRequest {
  /** `METHOD /path/{param}` of openapi.json (HEAD for a GET route's HEAD), or `unknown`. */
  readonly route: string;
  readonly method: string;
  readonly target: string;
  /** The values of the route's path parameters as sent (percent-encoded), in order. */
  readonly params: readonly string[];
  /** Every header but Host and Content-Length, in order, duplicates kept. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly host: boolean;
  readonly body?: BodySpec;
  readonly framing?: Framing;
}

/** A path segment: percent-encoded as a client would, unless the point is that it is not. */
const encoded = (text: string) => {
  try {
    return encodeURIComponent(text);
  } catch {
    return '%ED%A0%80'; // a lone surrogate has no UTF-8: its CESU-8 bytes, invalid UTF-8
  }
};

const oddSegment = fc.constantFrom(
  '%ZZ',
  '%',
  '%E0%A4%A',
  '%00',
  '%C0%AF',
  '%FF',
  '%u0041',
  '..',
  '.',
  '%2F',
  '%2e%2e',
  'a%20b',
  '',
  '-1',
  '0',
  '1e3',
  '9'.repeat(400),
  'x'.repeat(10_000),
  // Past Node's 16 KiB header limit: a 431 before any route is chosen.
  'x'.repeat(20_000),
);

function segment(known: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: known.length > 0 ? 5 : 0, arbitrary: fc.constantFrom(...(known.length > 0 ? known : ['x'])) },
    { weight: 2, arbitrary: fc.uuid() },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }).map(encoded) },
    // Raw, unencoded: latin-1 and beyond, spaces; Node's client refuses most, so they go out as raw bytes.
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
    { weight: 2, arbitrary: oddSegment },
  );
}

const queryValue = fc.oneof(
  fc.constantFrom('', '-1', '0', '1', '100', '101', '1e3', '9007199254740993', 'abc', '%ZZ', '%', 'null', 'true'),
  fc.constantFrom('held', 'confirmed', 'cancelled', 'expired', 'HELD', 'all'),
  fc.base64String({ maxLength: 60 }).map(encoded),
  fc.uuid(),
  fc.string({ unit: 'binary', maxLength: 20 }).map(encoded),
);

function queryArbitrary(operation: Operation): fc.Arbitrary<string> {
  const names = (operation.spec.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
  const pair = fc.tuple(fc.constantFrom(...names, 'x', 'limit', 'cursor'), queryValue).map(([n, v]) => `${n}=${v}`);
  return fc.oneof(
    { weight: names.length > 0 ? 2 : 6, arbitrary: fc.constant('') },
    {
      weight: names.length > 0 ? 4 : 1,
      arbitrary: fc.array(pair, { minLength: 1, maxLength: 4 }).map((p) => `?${p.join('&')}`),
    },
    // Raw: spaces, unicode, # and NUL in the query; mostly refused by Node's client, so sent as raw bytes.
    { weight: names.length > 0 ? 1 : 0, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }).map((q) => `?${q}`) },
    { weight: 1, arbitrary: headerText(30).map((q) => `?${q}`) },
  );
}

const UNUSUAL_METHODS = ['GET', 'PUT', 'PATCH', 'DELETE', 'POST', 'OPTIONS', 'TRACE', 'PROPFIND', 'get', 'FOO'];

const unknownTargets = fc.oneof(
  fc.constantFrom(
    '/',
    '/v1',
    '/v1/',
    '/v2/events',
    '/docs',
    '/docs/',
    '/docs/json',
    '/openapi.json',
    '//health',
    '/health/',
    '/HEALTH',
    '/v1//events',
    '/reservations/',
    '/reservations/a/b',
    '/v1/events/x/y/z',
    '/%ZZ',
    '/v1/%ZZ',
    '/.env',
    '/../../etc/passwd',
    '*',
    'http://127.0.0.1/health',
    '/health?%ZZ',
  ),
  fc.webPath(),
  fc.array(segment([]), { minLength: 1, maxLength: 4 }).map((segments) => `/${segments.join('/')}`),
);

function declaredArbitrary(operation: Operation, targets: FuzzTargets): fc.Arbitrary<FuzzRequest> {
  const names = [...operation.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
  const params = fc.tuple(...names.map((name) => segment(targets.ids[name] ?? [])));
  const method = fc.oneof(
    { weight: 12, arbitrary: fc.constant(operation.method) },
    { weight: operation.method === 'GET' ? 2 : 0, arbitrary: fc.constant('HEAD') },
    { weight: 1, arbitrary: fc.constantFrom(...UNUSUAL_METHODS) },
  );
  return fc
    .record({
      method,
      params,
      query: queryArbitrary(operation),
      headers: headersArbitrary(targets),
      host: fc.oneof({ weight: 40, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      body: bodyArbitrary(operation),
      framing: fc.oneof(
        { weight: 40, arbitrary: fc.constant(undefined) },
        {
          weight: 1,
          arbitrary: fc.constantFrom<Framing>(
            'content-length-and-chunked',
            'content-length-not-a-number',
            'two-content-lengths',
          ),
        },
      ),
    })
    .map(({ method, params, query, headers, host, body, framing }) => {
      let i = 0;
      const path = operation.path.replace(/\{\w+\}/g, () => params[i++]!);
      const declared = method === operation.method || (method === 'HEAD' && operation.method === 'GET');
      // An unusual method on this path may be another declared route (POST on GET /reservations' path).
      const sibling = targets.operations.some((o) => o.path === operation.path && o.method === method);
      return {
        route: declared || sibling ? `${method} ${operation.path}` : 'unknown',
        method,
        target: `${path}${query}`,
        params,
        headers: headers(body !== undefined),
        host,
        ...(body ? { body } : {}),
        ...(framing ? { framing } : {}),
      };
    });
}

/** Every declared route (and HEAD of the GET ones), unusual methods on them, and routes that do not exist. */
export function requestArbitrary(targets: FuzzTargets): fc.Arbitrary<FuzzRequest> {
  const unknown = fc
    .record({
      method: fc.constantFrom(...UNUSUAL_METHODS, 'HEAD'),
      target: unknownTargets,
      headers: headersArbitrary(targets),
      body: bodyArbitrary(targets.operations[0]!),
    })
    .map(({ method, target, headers, body }) => ({
      route: 'unknown',
      method,
      target,
      params: [],
      headers: headers(body !== undefined),
      host: true,
      ...(body ? { body } : {}),
    }));
  return fc.oneof(
    ...targets.operations.map((operation) => ({ weight: 4, arbitrary: declaredArbitrary(operation, targets) })),
    { weight: 10, arbitrary: unknown },
  );
}

/** A request as a line for a failure message: long values cut. */
export function describeRequest(request: FuzzRequest): string {
  const cut = (text: string, max = 120) =>
    text.length > max ? `${text.slice(0, max)}... (${text.length} chars)` : text;
  const body = request.body === undefined ? '' : ` body=${cut(JSON.stringify(bodyText(request.body)), 200)}`;
  const headers = request.headers.map(([n, v]) => `${n}: ${cut(JSON.stringify(v), 60)}`).join('; ');
  const extras = `${request.host ? '' : ' (no Host)'}${request.framing ? ` (${request.framing})` : ''}`;
  return `${request.method} ${cut(JSON.stringify(request.target))}${extras} [${headers}]${body}`;
}

import http from 'node:http';
import net from 'node:net';
import fc from 'fast-check';
import type { Operation } from './routes-setup.js';

/**
 * The requests of fault scenario 5, generated from openapi.json (so a new route is fuzzed without a change here),
 * and how they are sent: over node:http when it accepts them, else as raw bytes on a socket.
 */

/** What the generator may aim at: real ids and tokens, so that requests get past the first check sometimes. */
export interface FuzzTargets {
  readonly operations: readonly Operation[];
  /** Known values per path parameter name (eventId, reservationId, partnerId, keyId). */
  readonly ids: Readonly<Record<string, readonly string[]>>;
  /** Tokens that are or were real: the admin's, partners' keys, a revoked key. */
  readonly tokens: readonly string[];
}

/** A body, as a recipe: the bytes (up to 90 KB) are made when the request is sent. */
export type BodySpec =
  /** A JSON object written field by field: raw JSON values, so numbers past 2^53 and duplicate keys survive. */
  | { readonly kind: 'fields'; readonly fields: Fields }
  | { readonly kind: 'text'; readonly text: string }
  /** `depth` nested arrays or objects, in a field next to `fields` (or bare). */
  | { readonly kind: 'deep'; readonly fields: Fields | undefined; readonly depth: number; readonly array: boolean }
  /** A string field of about `bytes` bytes of `char`, next to `fields`. */
  | { readonly kind: 'big'; readonly fields: Fields; readonly bytes: number; readonly char: string };

type Fields = ReadonlyArray<readonly [string, string]>;

/** Ways to break HTTP/1.1 framing that node:http will not send. */
type Framing = 'content-length-and-chunked' | 'content-length-not-a-number' | 'two-content-lengths';

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

const field = (name: string, rawJson: string) => `${JSON.stringify(name)}:${rawJson}`;

export function bodyText(spec: BodySpec): string {
  switch (spec.kind) {
    case 'fields':
      return `{${spec.fields.map(([name, value]) => field(name, value)).join(',')}}`;
    case 'text':
      return spec.text;
    case 'deep': {
      const [open, close] = spec.array ? ['[', ']'] : ['{"a":', '}'];
      const nested = `${open.repeat(spec.depth)}0${close.repeat(spec.depth)}`;
      if (!spec.fields) return nested;
      return `{${[...spec.fields.map(([name, value]) => field(name, value)), field('nested', nested)].join(',')}}`;
    }
    case 'big': {
      const text = spec.char.repeat(Math.ceil(spec.bytes / Buffer.byteLength(JSON.stringify(spec.char).slice(1, -1))));
      return `{${[...spec.fields.map(([name, value]) => field(name, value)), field('name', JSON.stringify(text))].join(',')}}`;
    }
  }
}

/** Values that are wrong in type or size for almost any field, written as raw JSON. */
const oddJson = fc.constantFrom(
  '9007199254740993',
  '-9007199254740993',
  '123456789012345678901234567890',
  '1e400',
  '-1e400',
  '1e-400',
  '-0',
  '0',
  '0.5',
  '3.0',
  '1E1',
  '-1',
  '2147483648',
  'null',
  'true',
  'false',
  '[]',
  '[3]',
  '{}',
  '{"seats":3}',
  '""',
  '" "',
  '"3"',
  '"\\u0000"',
  '"a\\u0000b"',
  '"\\ud800"',
  '"\\uffff"',
  '"\u202e\u0000\ud83d\ude00"',
);

const rawJsonValue = fc.oneof(
  { weight: 4, arbitrary: oddJson },
  { weight: 3, arbitrary: fc.integer({ min: -20, max: 2000 }).map(String) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map((s) => JSON.stringify(s)) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.double().map((d) => JSON.stringify(d)) },
);

const notJson = fc.oneof(
  fc.constantFrom(
    '',
    '{',
    '{"seats":',
    'nul',
    '[1,]',
    '{"seats":3,}',
    '{"seats":3}}',
    "{'seats':3}",
    '{"seats":3}\u0000',
    '\u0000',
    '\ufeff{"seats":3}',
    '{"seats":3} {"seats":4}',
    'seats=3&partnerId=a',
    '{"__proto__":{"admin":true},"seats":3}',
    '{"constructor":{"prototype":{"admin":true}},"seats":3}',
  ),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null'),
);

/** The fields of a route's body example (its first), as raw JSON; a route without a body borrows the classic POST's. */
function exampleFields(operation: Operation): Fields {
  const media = operation.spec.requestBody?.content?.['application/json'];
  const example = media?.example ?? Object.values(media?.examples ?? {})[0]?.value ?? { seats: 3 };
  return Object.entries(example as Record<string, unknown>).map(([k, v]) => [k, JSON.stringify(v)] as const);
}

function bodyArbitrary(operation: Operation): fc.Arbitrary<BodySpec | undefined> {
  const example = exampleFields(operation);
  const media = operation.spec.requestBody?.content?.['application/json'];
  const names = [...Object.keys(media?.schema?.properties ?? {}), 'seats', 'partnerId'];
  const fieldName = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...names) },
    { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', '', 'SEATS', 'seats ', 'se\u0000ats') },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  );
  const mutated = fc
    .tuple(fc.nat(), fieldName, rawJsonValue, fc.boolean())
    .map(([at, name, value, replace]): Fields => {
      const fields = [...example];
      if (replace && fields.length > 0) fields[at % fields.length] = [fields[at % fields.length]![0], value];
      else fields.splice(at % (fields.length + 1), 0, [name, value]);
      return fields;
    });
  const withExample = fc.oneof(fc.constant(example), fc.constant(undefined));
  const depth = fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1000, max: 6000 }));
  const spec: fc.Arbitrary<BodySpec> = fc.oneof(
    { weight: 2, arbitrary: fc.constant({ kind: 'fields', fields: example } as const) },
    { weight: 5, arbitrary: mutated.map((fields) => ({ kind: 'fields', fields }) as const) },
    {
      weight: 2,
      arbitrary: fc
        .array(fc.tuple(fieldName, rawJsonValue), { maxLength: 6 })
        .map((fields) => ({ kind: 'fields', fields }) as const),
    },
    {
      weight: 3,
      arbitrary: fc
        .record({ fields: withExample, depth, array: fc.boolean() })
        .map((deep) => ({ kind: 'deep', ...deep }) as const),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({
          fields: fc.constant(example),
          // Just under the 64 KiB limit, or over it.
          bytes: fc.oneof(fc.integer({ min: 60_000, max: 65_000 }), fc.integer({ min: 65_537, max: 90_000 })),
          char: fc.constantFrom('x', '\u00e9', '\ud83d\ude00', '\u0000', '\\'),
        })
        .map((big) => ({ kind: 'big', ...big }) as const),
    },
    { weight: 2, arbitrary: notJson.map((text) => ({ kind: 'text', text }) as const) },
  );
  // Routes without a body get one now and then (a GET with a body, a DELETE with one).
  const takesBody = operation.spec.requestBody !== undefined;
  return fc.oneof(
    { weight: takesBody ? 1 : 6, arbitrary: fc.constant(undefined) },
    { weight: takesBody ? 9 : 1, arbitrary: spec },
  );
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

/**
 * Text for header values: mostly what HTTP allows (visible ASCII, latin-1 bytes), sometimes what it does not
 * (control characters, NUL, characters past latin-1), which goes out as raw bytes.
 */
const headerText = (maxLength: number) =>
  fc.oneof(
    {
      weight: 5,
      arbitrary: fc.string({
        unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
        maxLength,
      }),
    },
    {
      weight: 2,
      arbitrary: fc.string({
        unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)),
        maxLength,
      }),
    },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength }) },
  );

function headersArbitrary(targets: FuzzTargets): fc.Arbitrary<(hasBody: boolean) => Array<readonly [string, string]>> {
  const token = fc.constantFrom(...targets.tokens);
  const authorization = fc.oneof(
    { weight: 8, arbitrary: token.map((t) => `Bearer ${t}`) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom('bearer ', 'BEARER ', 'Bearer  ', 'Bearer', 'Basic ', '', 'Token ', 'Bearer "'), token)
        .map(([scheme, t]) => `${scheme}${t}`),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(token, fc.constantFrom(' extra', '\t', '"', '\u00e9', '\u0000'))
        .map(([t, s]) => `Bearer ${t}${s}`),
    },
    { weight: 1, arbitrary: token.map((t) => `Bearer ${t.slice(0, -1)}`) },
    { weight: 2, arbitrary: headerText(60).map((s) => `Bearer ${s}`) },
    {
      weight: 1,
      arbitrary: fc.stringMatching(/^tb_[a-z0-9]{16}_[A-Za-z0-9_-]{43}$/).map((t) => `Bearer ${t}`),
    },
    { weight: 1, arbitrary: fc.constant(`Bearer ${'A'.repeat(8000)}`) },
  );
  const contentType = fc.oneof(
    { weight: 8, arbitrary: fc.constant('application/json') },
    {
      weight: 4,
      arbitrary: fc.constantFrom(
        'application/json; charset=utf-8',
        'APPLICATION/JSON',
        'application/json;charset=UTF-16',
        'application/json; charset=latin1',
        'application/json, text/plain',
        'application/merge-patch+json',
        'application/vnd.api+json',
        'text/plain',
        'text/json',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        '*/*',
        '',
        'json',
        'application/js\u00f6n',
        'application/json\u0000',
      ),
    },
  );
  const idempotencyKey = fc.oneof(
    fc.uuid(),
    fc.uuid().map((u) => `"${u}"`),
    fc.constantFrom(
      '',
      '""',
      '"',
      '"a',
      'a'.repeat(255),
      'a'.repeat(256),
      `"${'a'.repeat(255)}"`,
      'cl\u00e9',
      '\t',
      'a\u0000b',
      'a\u0001b',
    ),
    headerText(40),
  );
  const other = fc.oneof(
    { weight: 3, arbitrary: fc.tuple(fc.constant('x-request-id'), fc.oneof(fc.uuid(), headerText(200))) },
    {
      weight: 2,
      arbitrary: fc.tuple(
        fc.constant('if-match'),
        fc.constantFrom('"1"', '*', 'W/"1"', '"99999999999999999999"', '', '"1", "2"'),
      ),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(
        fc.constant('accept'),
        fc.constantFrom('text/html', 'application/xml', '*/*', '', 'application/json;q=0'),
      ),
    },
    { weight: 2, arbitrary: fc.tuple(fc.constant('content-encoding'), fc.constantFrom('gzip', 'br', 'identity', 'x')) },
    {
      weight: 2,
      arbitrary: fc.tuple(fc.constant('x-forwarded-for'), fc.constantFrom('1.2.3.4', '::1', 'garbage', '')),
    },
    { weight: 3, arbitrary: fc.tuple(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/), headerText(40)) },
    // Header names Node's client refuses: they go out as raw bytes.
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('Bad Name', 'x\u00e9', 'x:y'), fc.constant('v')) },
  );
  const upTo = <T>(arbitrary: fc.Arbitrary<T>, max: number, none: number) =>
    fc.oneof(
      { weight: none, arbitrary: fc.constant([] as T[]) },
      { weight: 3, arbitrary: fc.array(arbitrary, { minLength: 1, maxLength: max }) },
    );
  const named = (name: fc.Arbitrary<string>, values: fc.Arbitrary<string[]>) =>
    fc.tuple(name, values).map(([n, vs]) => vs.map((v) => [n, v] as const));
  // A Content-Type with no body is an error of its own (400 for an empty JSON body): only now and then.
  const typeWithoutBody = fc.oneof(
    { weight: 1, arbitrary: fc.constant(true) },
    { weight: 3, arbitrary: fc.constant(false) },
  );
  return fc
    .tuple(
      named(fc.constantFrom('Authorization', 'authorization'), upTo(authorization, 2, 1)),
      named(fc.constantFrom('Content-Type', 'content-type'), upTo(contentType, 2, 0)),
      named(fc.constantFrom('Idempotency-Key', 'idempotency-key'), upTo(idempotencyKey, 2, 5)),
      upTo(other, 3, 3),
      typeWithoutBody,
    )
    .map(([auth, type, key, rest, typeAnyway]) => (hasBody: boolean) => [
      ...auth,
      ...(hasBody || typeAnyway ? type : []),
      ...key,
      ...rest,
    ]);
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
      return {
        route: declared ? `${method} ${operation.path}` : 'unknown',
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

/** A request as a line for a failure message: long values cut. */
export function describeRequest(request: FuzzRequest): string {
  const cut = (text: string, max = 120) =>
    text.length > max ? `${text.slice(0, max)}... (${text.length} chars)` : text;
  const body = request.body === undefined ? '' : ` body=${cut(JSON.stringify(bodyText(request.body)), 200)}`;
  const headers = request.headers.map(([n, v]) => `${n}: ${cut(JSON.stringify(v), 60)}`).join('; ');
  const extras = `${request.host ? '' : ' (no Host)'}${request.framing ? ` (${request.framing})` : ''}`;
  return `${request.method} ${cut(JSON.stringify(request.target))}${extras} [${headers}]${body}`;
}

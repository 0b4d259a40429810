import fc from 'fast-check';
import type { FuzzTargets } from './fuzz-requests.js';

/** The headers of fault scenario 5's requests (fuzz-requests.ts). */

/**
 * Text for header values: mostly what HTTP allows (visible ASCII, latin-1 bytes), sometimes what it does not
 * (control characters, NUL, characters past latin-1), which goes out as raw bytes.
 */
export const headerText = (maxLength: number) =>
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

export function headersArbitrary(
  targets: FuzzTargets,
): fc.Arbitrary<(hasBody: boolean) => Array<readonly [string, string]>> {
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

import fc from 'fast-check';
import type { Operation } from './routes-setup.js';

/** The bodies of fault scenario 5's requests (fuzz-requests.ts): recipes, and the bytes they make. */

/** A body, as a recipe: the bytes (up to 90 KB) are made when the request is sent. */
export type BodySpec =
  /** A JSON object written field by field: raw JSON values, so numbers past 2^53 and duplicate keys survive. */
  | { readonly kind: 'fields'; readonly fields: Fields }
  | { readonly kind: 'text'; readonly text: string }
  /** `depth` nested arrays or objects, in a field next to `fields` (or bare). */
  | { readonly kind: 'deep'; readonly fields: Fields | undefined; readonly depth: number; readonly array: boolean }
  /** A string field of about `bytes` bytes of `char`, next to `fields`. */
  | { readonly kind: 'big'; readonly fields: Fields; readonly bytes: number; readonly char: string };

export type Fields = ReadonlyArray<readonly [string, string]>;

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

export function bodyArbitrary(operation: Operation): fc.Arbitrary<BodySpec | undefined> {
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

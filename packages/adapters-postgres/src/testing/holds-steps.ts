import fc from 'fast-check';

/**
 * The steps of the holds property (holds.property.test.ts): the operations two "processes" run, alone or at once,
 * with the clock moved between them, and their fast-check generators.
 */

export type By = 0 | 1;
export type Op =
  | { readonly op: 'reserve'; readonly by: By; readonly seats: number }
  | { readonly op: 'hold'; readonly by: By; readonly seats: number; readonly holdSeconds: number }
  | { readonly op: 'confirm'; readonly by: By; readonly index: number }
  | { readonly op: 'cancel'; readonly by: By; readonly index: number }
  | { readonly op: 'sweep'; readonly by: By };
export type Step =
  | { readonly step: 'one'; readonly op: Op }
  | { readonly step: 'advance'; readonly ms: number }
  /** Two or three operations at once. */
  | { readonly step: 'together'; readonly ops: readonly Op[] }
  /**
   * The clock moved to a hold's expiry (or 1 ms before it), then a confirm or cancel of it, alone or at once with
   * a sweep.
   */
  | {
      readonly step: 'atExpiry';
      readonly index: number;
      readonly offset: 0 | -1;
      readonly action: 'confirm' | 'cancel';
      readonly by: By;
      readonly sweepBy?: By;
    }
  /**
   * Two or three cancels and confirms of one hold at once; `lead` reservations go first in the process of the
   * first of them, so that what follows arrives during a commit and is batched.
   */
  | {
      readonly step: 'sameHold';
      readonly index: number;
      readonly lead: readonly Extract<Op, { op: 'reserve' | 'hold' }>[];
      readonly actions: readonly { readonly op: 'cancel' | 'confirm'; readonly by: By }[];
    };

const by = fc.constantFrom<By>(0, 1);
const seats = fc.integer({ min: 1, max: 4 });
const index = fc.nat({ max: 60 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ op: fc.constant('reserve' as const), by, seats }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('hold' as const),
      by,
      seats,
      holdSeconds: fc.integer({ min: 1, max: 5 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('confirm' as const), by, index }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('cancel' as const), by, index }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('sweep' as const), by }) },
);
const leadArb = fc.oneof(
  fc.record({ op: fc.constant('reserve' as const), by, seats }),
  fc.record({ op: fc.constant('hold' as const), by, seats, holdSeconds: fc.integer({ min: 1, max: 5 }) }),
);
export const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ step: fc.constant('one' as const), op: opArb }) },
  { weight: 4, arbitrary: fc.record({ step: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 3000 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      step: fc.constant('together' as const),
      ops: fc.array(opArb, { minLength: 2, maxLength: 3 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      step: fc.constant('together' as const),
      ops: fc.tuple(by, by).map(([a, b]): Op[] => [
        { op: 'sweep', by: a },
        { op: 'sweep', by: b },
      ]),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record(
      {
        step: fc.constant('atExpiry' as const),
        index,
        offset: fc.constantFrom<0 | -1>(0, -1),
        action: fc.constantFrom('confirm' as const, 'cancel' as const),
        by,
        sweepBy: by,
      },
      { requiredKeys: ['step', 'index', 'offset', 'action', 'by'] },
    ),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      step: fc.constant('sameHold' as const),
      index,
      lead: fc.array(leadArb, { maxLength: 2 }),
      actions: fc.array(fc.record({ op: fc.constantFrom('cancel' as const, 'confirm' as const), by }), {
        minLength: 2,
        maxLength: 3,
      }),
    }),
  },
);

/** An operation as a line of the failure log: `0:hold(2, 3s)`. */
export function label(op: Op): string {
  switch (op.op) {
    case 'reserve':
      return `${op.by}:reserve(${op.seats})`;
    case 'hold':
      return `${op.by}:hold(${op.seats}, ${op.holdSeconds}s)`;
    case 'confirm':
    case 'cancel':
      return `${op.by}:${op.op}`;
    case 'sweep':
      return `${op.by}:sweep`;
  }
}

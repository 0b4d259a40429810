/**
 * Test-only preload (`node --import tsx --import <this file>`): the process's wall clock runs
 * TICKETBOSS_TEST_CLOCK_SKEW_MS ahead of the host's (behind, when negative), as on a host whose clock is off.
 * `Date.now()` and `new Date()` are shifted; a Date made from a given time is not, and neither is the monotonic
 * clock (`performance.now()`), as on such a host.
 */
const skewMs = Number(process.env.TICKETBOSS_TEST_CLOCK_SKEW_MS ?? '0');
if (!Number.isFinite(skewMs)) throw new Error(`TICKETBOSS_TEST_CLOCK_SKEW_MS is not a number of ms: ${skewMs}`);

const HostDate = Date;
const skewedNow = () => HostDate.now() + skewMs;

globalThis.Date = new Proxy(HostDate, {
  construct: (target, args: unknown[], newTarget: NewableFunction) =>
    Reflect.construct(target, args.length === 0 ? [skewedNow()] : args, newTarget) as object,
  // Date() called without new gives the current time as a string.
  apply: () => new HostDate(skewedNow()).toString(),
  get: (target, property, receiver): unknown =>
    property === 'now' ? skewedNow : Reflect.get(target, property, receiver),
});

export {};

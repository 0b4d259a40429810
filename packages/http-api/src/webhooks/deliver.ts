/**
 * One attempt of one delivery, as the `ticketboss_webhook_deliver` job makes it: load it, keep the order per
 * reservation, sign, POST, and record the outcome (with the next attempt, the delivery's failure or the endpoint's
 * disabling) in one transaction of the store.
 */
import {
  afterFailure,
  signingSecrets,
  type AttemptOutcome,
  type Clock,
  type RetryPolicy,
  type WebhookDelivery,
  type WebhookStore,
} from '@ticketboss/domain';
import type { Outbound } from './outbound.js';
import { deliveryPayload, signedHeaders } from './sign.js';

/** How long a delivery waits for an earlier one of the same reservation to the same endpoint, at least. */
export const ORDER_WAIT_MS = 500;

/** What became of one run of the job. */
export type DeliverResult =
  'gone' | 'endpoint_disabled' | 'not_pending' | 'waiting_for_earlier' | 'delivered' | 'failed' | 'given_up';

/** Told of every attempt: for metrics. */
export interface DeliveryObserver {
  attempted(outcome: 'delivered' | 'failed' | 'given_up', seconds: number): void;
}

export interface DeliverDeps {
  readonly store: WebhookStore;
  readonly outbound: Outbound;
  readonly policy: RetryPolicy;
  /** Whose time stamps attempts and decides retries: the database's. */
  readonly clock: Clock;
  readonly random?: () => number;
  readonly observer?: DeliveryObserver;
}

export async function deliver(deps: DeliverDeps, deliveryId: string): Promise<DeliverResult> {
  const { store, outbound, clock } = deps;
  const loaded = await store.loadForAttempt(deliveryId);
  if (!loaded) return 'gone';
  const { delivery, endpoint } = loaded;
  // Disabled: the delivery stays pending, and enabling the endpoint queues it again.
  if (!endpoint.enabled) return 'endpoint_disabled';
  // Delivered or given up already (a job run twice, e.g. after a crash); a redelivery makes it pending again.
  if (delivery.state !== 'pending') return 'not_pending';
  // Order matters per reservation; a test message has none.
  const earlier = delivery.reservationId ? await store.findEarlierPending(delivery) : undefined;
  if (earlier) {
    await store.postpone(delivery, waitFor(earlier, clock.now()));
    return 'waiting_for_earlier';
  }

  const attemptedAt = clock.now();
  const payload = deliveryPayload(delivery);
  const headers = signedHeaders(delivery.deliveryId, attemptedAt, payload, signingSecrets(endpoint, attemptedAt));
  const result = await outbound.post({ url: endpoint.url, headers, body: payload });
  const outcome = outcomeOf(deps, delivery, endpoint.failingSince, attemptedAt, result);
  await store.recordAttempt(delivery, attemptedAt, outcome);
  const kind = outcome.kind === 'delivered' ? 'delivered' : outcome.retryAt ? 'failed' : 'given_up';
  deps.observer?.attempted(kind, result.durationMs / 1000);
  return kind;
}

/** After the earlier delivery's next attempt if it is waiting for one, so a failing endpoint is not polled. */
function waitFor(earlier: WebhookDelivery, now: Date): Date {
  const soonest = now.getTime() + ORDER_WAIT_MS;
  const next = earlier.nextAttemptAt ? earlier.nextAttemptAt.getTime() + ORDER_WAIT_MS : 0;
  return new Date(Math.max(soonest, next));
}

function outcomeOf(
  { policy, random = Math.random }: DeliverDeps,
  delivery: WebhookDelivery,
  failingSince: Date | undefined,
  attemptedAt: Date,
  result: Awaited<ReturnType<Outbound['post']>>,
): AttemptOutcome {
  const { durationMs } = result;
  if ('statusCode' in result && result.statusCode >= 200 && result.statusCode < 300) {
    return { kind: 'delivered', statusCode: result.statusCode, durationMs };
  }
  const statusCode = 'statusCode' in result ? result.statusCode : undefined;
  const error = 'statusCode' in result ? `HTTP ${result.statusCode}` : result.error;
  const next = afterFailure(policy, {
    attempt: delivery.attempts + 1,
    firstAttemptAt: delivery.firstAttemptAt ?? attemptedAt,
    now: attemptedAt,
    random: random(),
  });
  const since = failingSince ?? attemptedAt;
  const disable = attemptedAt.getTime() - since.getTime() >= policy.disableAfterMs;
  return {
    kind: 'failed',
    statusCode,
    durationMs,
    error,
    retryAt: next.kind === 'retry' ? next.at : undefined,
    disableReason: disable
      ? `every attempt failed for ${formatDuration(attemptedAt.getTime() - since.getTime())} (since ${since.toISOString()})`
      : undefined,
  };
}

function formatDuration(ms: number): string {
  const count = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;
  const hours = ms / 3_600_000;
  if (hours >= 48) return count(Math.floor(hours / 24), 'day');
  if (hours >= 1) return count(Math.floor(hours), 'hour');
  return count(Math.max(1, Math.floor(ms / 60_000)), 'minute');
}

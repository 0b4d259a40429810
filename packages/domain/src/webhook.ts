import type { Reservation } from './reservation.js';

/**
 * Webhooks: a partner registers endpoints, and every change to one of its reservations is recorded, by the same
 * statement that commits the change, as a delivery to each of its enabled endpoints subscribed to that change's
 * type. A job queue then posts each delivery (Standard Webhooks), retrying until it succeeds or its retry window
 * ends. The rules here are pure; `WebhookStore` is the port the Postgres adapter implements.
 */

/** The changes a partner can subscribe to, one per change of a reservation's status. */
export const WEBHOOK_EVENT_TYPES = [
  'reservation.created',
  'reservation.held',
  'reservation.confirmed',
  'reservation.cancelled',
  'reservation.expired',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
/** Sent only by `POST /v1/webhooks/:webhookId/test`; not subscribable. */
export const WEBHOOK_TEST_EVENT = 'webhook.test';
export type WebhookMessageType = WebhookEventType | typeof WEBHOOK_TEST_EVENT;

export const MAX_WEBHOOK_URL_LENGTH = 2048;
export const MAX_WEBHOOK_DESCRIPTION_LENGTH = 200;
/** Endpoints per partner. */
export const MAX_WEBHOOKS_PER_PARTNER = 20;
/** How long a rotated-out secret keeps signing alongside the new one. */
export const SECRET_OVERLAP_MS = 24 * 60 * 60 * 1000;

export function isWebhookEventType(type: string): type is WebhookEventType {
  return (WEBHOOK_EVENT_TYPES as readonly string[]).includes(type);
}

/** A registered endpoint. Its secrets are only ever shown when made (registration, rotation). */
export interface WebhookEndpoint {
  readonly webhookId: string;
  readonly partnerId: string;
  readonly url: string;
  readonly description: string | undefined;
  /** Distinct, in WEBHOOK_EVENT_TYPES order. */
  readonly events: readonly WebhookEventType[];
  readonly enabled: boolean;
  /** `whsec_` + base64 of 32 random bytes. */
  readonly secret: string;
  /** The secret before the last rotation, which keeps signing until `previousSecretUntil`. */
  readonly previousSecret: string | undefined;
  readonly previousSecretUntil: Date | undefined;
  /** Since when every attempt has failed (cleared by a success). */
  readonly failingSince: Date | undefined;
  /** Why the endpoint was disabled by TicketBoss (5 days of only failures); undefined if enabled or disabled by the partner. */
  readonly disabledReason: string | undefined;
  readonly createdAt: Date;
}

/** The secrets that sign a delivery made at `now`: the current one, and the previous one during its overlap. */
export function signingSecrets(endpoint: WebhookEndpoint, now: Date): string[] {
  const { secret, previousSecret, previousSecretUntil } = endpoint;
  return previousSecret && previousSecretUntil && previousSecretUntil > now ? [secret, previousSecret] : [secret];
}

export type DeliveryState = 'pending' | 'delivered' | 'failed';

/**
 * One notification to one endpoint: the `webhook-id` partners see (`msg_...`), the same on every attempt and on a
 * redelivery. `data` is what the change left: the reservation as `/v1` shows it, or the test event's body.
 */
export interface WebhookDelivery {
  readonly deliveryId: string;
  readonly webhookId: string;
  readonly type: WebhookMessageType;
  readonly reservationId: string | undefined;
  /** When the change committed (the payload's `timestamp`). */
  readonly occurredAt: Date;
  /** The reservation as the change left it (for reservation.* types). */
  readonly reservation: Reservation | undefined;
  readonly state: DeliveryState;
  /** Attempts in the current retry window (a redelivery starts a new one). */
  readonly attempts: number;
  readonly firstAttemptAt: Date | undefined;
  readonly nextAttemptAt: Date | undefined;
  readonly deliveredAt: Date | undefined;
}

/** One POST of a delivery, as the deliveries log shows it. */
export interface DeliveryAttempt {
  readonly attemptId: string;
  readonly deliveryId: string;
  readonly webhookId: string;
  readonly type: WebhookMessageType;
  readonly reservationId: string | undefined;
  /** 1 for the first attempt of the delivery, or of its redelivery. */
  readonly attempt: number;
  readonly attemptedAt: Date;
  /** The endpoint's HTTP status; undefined when there was no answer (refused address, timeout, connection error). */
  readonly statusCode: number | undefined;
  readonly durationMs: number;
  /** Why it failed, in a sentence ("timed out after 10 s", "refused: 127.0.0.1 is a loopback address", "HTTP 500"). */
  readonly error: string | undefined;
  /** When the next attempt is due, if this one failed and the retry window is not over. */
  readonly nextAttemptAt: Date | undefined;
}

/** How deliveries are retried (every duration in milliseconds). */
export interface RetryPolicy {
  /** The delay before the second attempt, doubled for each attempt after it (before jitter). */
  readonly baseDelayMs: number;
  /** The longest delay between two attempts. */
  readonly maxDelayMs: number;
  /** After this long since its first attempt, a delivery still failing is marked `failed`. */
  readonly retryForMs: number;
  /** An endpoint whose every attempt failed for this long is disabled. */
  readonly disableAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  baseDelayMs: 5_000,
  maxDelayMs: 60 * 60 * 1000,
  retryForMs: 24 * 60 * 60 * 1000,
  disableAfterMs: 5 * 24 * 60 * 60 * 1000,
};

/**
 * The delay after failed attempt number `attempt` (1-based): exponential, capped, with "equal jitter" (half fixed,
 * half random) so that endpoints failing together are not retried together. `random` is in [0, 1).
 */
export function retryDelayMs(policy: RetryPolicy, attempt: number, random: number): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(exponential / 2 + (exponential / 2) * random);
}

/** What to do after a failed attempt at `now` of a delivery first attempted at `firstAttemptAt`. */
export function afterFailure(
  policy: RetryPolicy,
  { attempt, firstAttemptAt, now, random }: { attempt: number; firstAttemptAt: Date; now: Date; random: number },
): { readonly kind: 'retry'; readonly at: Date } | { readonly kind: 'give_up' } {
  const at = new Date(now.getTime() + retryDelayMs(policy, attempt, random));
  return at.getTime() - firstAttemptAt.getTime() > policy.retryForMs ? { kind: 'give_up' } : { kind: 'retry', at };
}

export interface NewWebhookEndpoint {
  readonly webhookId: string;
  readonly partnerId: string;
  readonly url: string;
  readonly description: string | undefined;
  readonly events: readonly WebhookEventType[];
  readonly secret: string;
  readonly createdAt: Date;
}

export interface WebhookEndpointChanges {
  readonly url?: string;
  readonly events?: readonly WebhookEventType[];
  readonly description?: string | null;
  /** Enabling clears `failingSince` and `disabledReason`. */
  readonly enabled?: boolean;
}

/** A page of a list, newest first; `next` is the cursor of the following page, if any. */
export interface WebhookPage<T> {
  readonly items: readonly T[];
  readonly next: string | undefined;
}

/** The outcome of one attempt, as the worker reports it to the store. */
export type AttemptOutcome =
  | { readonly kind: 'delivered'; readonly statusCode: number; readonly durationMs: number }
  | {
      readonly kind: 'failed';
      readonly statusCode: number | undefined;
      readonly durationMs: number;
      readonly error: string;
      /** When to try again; undefined: give up (the delivery becomes `failed`). */
      readonly retryAt: Date | undefined;
      /** Disable the endpoint with this reason (its attempts failed for `disableAfterMs`). */
      readonly disableReason: string | undefined;
    };

/**
 * Where endpoints and deliveries live. Every method scoped by partner answers `undefined`/`false` for an endpoint
 * of another partner, exactly as for one that does not exist. Deliveries are recorded by the database itself (see
 * migrations/0006_webhooks.sql), never by this port: it only reads them, schedules attempts and records outcomes.
 */
export interface WebhookStore {
  createEndpoint(endpoint: NewWebhookEndpoint): Promise<WebhookEndpoint>;
  /** The partner's endpoints, oldest first (a partner has at most MAX_WEBHOOKS_PER_PARTNER). */
  listEndpoints(partnerId: string): Promise<WebhookEndpoint[]>;
  countEndpoints(partnerId: string): Promise<number>;
  findEndpoint(partnerId: string, webhookId: string): Promise<WebhookEndpoint | undefined>;
  updateEndpoint(
    partnerId: string,
    webhookId: string,
    changes: WebhookEndpointChanges,
  ): Promise<WebhookEndpoint | undefined>;
  /** Deletes the endpoint and its deliveries; their queued attempts then find nothing to do. */
  deleteEndpoint(partnerId: string, webhookId: string): Promise<boolean>;
  /** Makes `secret` current; the current one becomes the previous one until `previousUntil`. */
  rotateSecret(
    partnerId: string,
    webhookId: string,
    secret: string,
    previousUntil: Date,
  ): Promise<WebhookEndpoint | undefined>;
  /** Records a `webhook.test` delivery to the endpoint and queues it now. */
  addTestDelivery(partnerId: string, webhookId: string, deliveryId: string): Promise<WebhookDelivery | undefined>;
  /** The endpoint's attempts, newest first; `failedOnly` keeps those that failed. */
  listAttempts(
    partnerId: string,
    webhookId: string,
    page: { limit: number; cursor: string | undefined; failedOnly?: boolean },
  ): Promise<WebhookPage<DeliveryAttempt> | undefined>;
  /** Queues another attempt of the delivery now (same `webhook-id`), whatever its state. */
  redeliver(partnerId: string, webhookId: string, deliveryId: string): Promise<WebhookDelivery | undefined>;

  // For the worker:
  /** The delivery and its endpoint; undefined if either was deleted. */
  loadForAttempt(
    deliveryId: string,
  ): Promise<{ readonly delivery: WebhookDelivery; readonly endpoint: WebhookEndpoint } | undefined>;
  /** An earlier delivery of the same reservation to the same endpoint still pending, if any (order per reservation). */
  findEarlierPending(delivery: WebhookDelivery): Promise<WebhookDelivery | undefined>;
  /** Records the attempt and its consequences (delivery state, next attempt queued, endpoint failing/disabled) at once. */
  recordAttempt(delivery: WebhookDelivery, attemptedAt: Date, outcome: AttemptOutcome): Promise<DeliveryAttempt>;
  /** Queues the delivery's next attempt at `at` without recording an attempt (waiting for an earlier one). */
  postpone(delivery: WebhookDelivery, at: Date): Promise<void>;
}

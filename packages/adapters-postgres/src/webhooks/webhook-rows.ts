import {
  isWebhookEventType,
  WEBHOOK_EVENT_TYPES,
  type DeliveryAttempt,
  type Reservation,
  type WebhookDelivery,
  type WebhookEndpoint,
  type WebhookEventType,
  type WebhookMessageType,
} from '@ticketboss/domain';
import type { Selectable } from 'kysely';
import type {
  ReservationsTable,
  WebhookAttemptsTable,
  WebhookDeliveriesTable,
  WebhookEndpointsTable,
} from '../database.js';
import { toReservation } from '../event-rows.js';

// The webhook rows and how they map to the domain's types: the one place that knows both shapes.

export type EndpointRow = Selectable<WebhookEndpointsTable>;
export type DeliveryRow = Selectable<WebhookDeliveriesTable>;
/** An attempt with its delivery's type and reservation, as the endpoint's log shows it. */
export type AttemptRow = Selectable<WebhookAttemptsTable> & Pick<DeliveryRow, 'type' | 'reservation_id'>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are uuids in the database: anything else names no endpoint (and must not reach a uuid cast). */
export const isWebhookId = (id: string): boolean => UUID.test(id);

/** The event types in WEBHOOK_EVENT_TYPES order, without duplicates. */
export function orderedEventTypes(types: readonly string[]): WebhookEventType[] {
  return WEBHOOK_EVENT_TYPES.filter((type) => types.includes(type));
}

export function toEndpoint(row: EndpointRow): WebhookEndpoint {
  return {
    webhookId: row.webhook_id,
    partnerId: row.partner_id,
    url: row.url,
    description: row.description ?? undefined,
    events: orderedEventTypes(row.event_types.filter(isWebhookEventType)),
    enabled: row.enabled,
    secret: row.secret,
    previousSecret: row.previous_secret ?? undefined,
    previousSecretUntil: row.previous_secret_until ?? undefined,
    failingSince: row.failing_since ?? undefined,
    disabledReason: row.disabled_reason ?? undefined,
    createdAt: row.created_at,
  };
}

/** The reservation as the change left it, from the row's to_jsonb. */
function toChangedReservation(json: Record<string, unknown>, occurredAt: Date): Reservation {
  const row = json as unknown as Selectable<ReservationsTable>;
  return toReservation(
    {
      ...row,
      created_at: new Date(row.created_at),
      expires_at: row.expires_at === null ? null : new Date(row.expires_at),
    },
    occurredAt,
  );
}

export function toDelivery(row: DeliveryRow): WebhookDelivery {
  return {
    deliveryId: row.delivery_id,
    webhookId: row.webhook_id,
    type: row.type as WebhookMessageType,
    reservationId: row.reservation_id ?? undefined,
    occurredAt: row.occurred_at,
    reservation: row.reservation ? toChangedReservation(row.reservation, row.occurred_at) : undefined,
    state: row.state,
    attempts: row.attempts,
    firstAttemptAt: row.first_attempt_at ?? undefined,
    nextAttemptAt: row.next_attempt_at ?? undefined,
    deliveredAt: row.delivered_at ?? undefined,
  };
}

export function toAttempt(row: AttemptRow): DeliveryAttempt {
  return {
    attemptId: row.attempt_id,
    deliveryId: row.delivery_id,
    webhookId: row.webhook_id,
    type: row.type as WebhookMessageType,
    reservationId: row.reservation_id ?? undefined,
    attempt: row.attempt,
    attemptedAt: row.attempted_at,
    statusCode: row.status_code ?? undefined,
    durationMs: row.duration_ms,
    error: row.error ?? undefined,
    nextAttemptAt: row.next_attempt_at ?? undefined,
  };
}

/**
 * What a delivery sends, as Standard Webhooks defines it: the payload `{"type", "timestamp", "data"}` and the
 * `webhook-id`, `webhook-timestamp` and `webhook-signature` headers, signed by the `standardwebhooks` package (the
 * specification's own library), so that partners' verifiers accept exactly what is sent.
 */
import type { WebhookDelivery } from '@ticketboss/domain';
import { Webhook } from 'standardwebhooks';
import { reservationBody } from '../routes/schemas.js';

export const USER_AGENT = 'TicketBoss-Webhooks/1';
export const TEST_MESSAGE = 'A test event from TicketBoss: this endpoint receives its webhooks.';

/** The payload of a delivery: the reservation as `/v1` shows it, or the test event's body. */
export function deliveryPayload(delivery: WebhookDelivery): string {
  const data = delivery.reservation
    ? reservationBody(delivery.reservation)
    : { webhookId: delivery.webhookId, message: TEST_MESSAGE };
  return JSON.stringify({ type: delivery.type, timestamp: delivery.occurredAt.toISOString(), data });
}

/**
 * The headers of one attempt made at `attemptedAt`: one signature per secret (the current one, and the previous one
 * during its overlap), separated by a space as the specification allows, so that either verifies.
 */
export function signedHeaders(
  deliveryId: string,
  attemptedAt: Date,
  payload: string,
  secrets: readonly string[],
): Record<string, string> {
  if (secrets.length === 0) throw new Error('a delivery needs at least one secret to be signed');
  return {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    'webhook-id': deliveryId,
    'webhook-timestamp': String(Math.floor(attemptedAt.getTime() / 1000)),
    'webhook-signature': secrets.map((secret) => new Webhook(secret).sign(deliveryId, attemptedAt, payload)).join(' '),
  };
}

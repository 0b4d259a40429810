import { randomBytes } from 'node:crypto';
import type { WebhookDelivery } from '@ticketboss/domain';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { deliveryPayload, signedHeaders, TEST_MESSAGE, USER_AGENT } from './sign.js';

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

const delivery: WebhookDelivery = {
  deliveryId: `msg_${randomBytes(16).toString('hex')}`,
  webhookId: '5b0c6a57-6f7e-4c1f-9d1e-3a0c1f6b2a10',
  type: 'reservation.held',
  reservationId: '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9',
  occurredAt: new Date('2025-11-25T11:38:19.016Z'),
  reservation: {
    reservationId: '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9',
    eventId: 'node-meetup-2025',
    partnerId: 'acme',
    seats: 2,
    status: 'held',
    createdAt: new Date('2025-11-25T11:38:19.000Z'),
    expiresAt: new Date('2025-11-25T11:48:19.000Z'),
  },
  state: 'pending',
  attempts: 0,
  firstAttemptAt: undefined,
  nextAttemptAt: undefined,
  deliveredAt: undefined,
};

describe('signed deliveries', () => {
  it('sends the type, the time of the change and the reservation as /v1 shows it', () => {
    expect(JSON.parse(deliveryPayload(delivery))).toEqual({
      type: 'reservation.held',
      timestamp: '2025-11-25T11:38:19.016Z',
      data: {
        reservationId: '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9',
        eventId: 'node-meetup-2025',
        partnerId: 'acme',
        seats: 2,
        status: 'held',
        createdAt: '2025-11-25T11:38:19.000Z',
        expiresAt: '2025-11-25T11:48:19.000Z',
      },
    });
  });

  it("sends the test event's body for webhook.test", () => {
    const test = { ...delivery, type: 'webhook.test' as const, reservationId: undefined, reservation: undefined };
    expect(JSON.parse(deliveryPayload(test))).toMatchObject({
      type: 'webhook.test',
      data: { webhookId: delivery.webhookId, message: TEST_MESSAGE },
    });
  });

  it("signs so that standardwebhooks' verifier accepts it, with the webhook-id and the attempt's time", () => {
    const secret = newSecret();
    const attemptedAt = new Date();
    const payload = deliveryPayload(delivery);
    const headers = signedHeaders(delivery.deliveryId, attemptedAt, payload, [secret]);
    expect(headers).toMatchObject({
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'webhook-id': delivery.deliveryId,
      'webhook-timestamp': String(Math.floor(attemptedAt.getTime() / 1000)),
    });
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(payload, headers)).toEqual(JSON.parse(payload));
  });

  it('with two secrets, carries two signatures separated by a space, and either secret verifies it', () => {
    const [current, previous] = [newSecret(), newSecret()];
    const payload = deliveryPayload(delivery);
    const headers = signedHeaders(delivery.deliveryId, new Date(), payload, [current, previous]);
    expect(headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(() => new Webhook(current).verify(payload, headers)).not.toThrow();
    expect(() => new Webhook(previous).verify(payload, headers)).not.toThrow();
    expect(() => new Webhook(newSecret()).verify(payload, headers)).toThrow('No matching signature found');
    expect(() => new Webhook(current).verify(`${payload} `, headers)).toThrow('No matching signature found');
  });
});

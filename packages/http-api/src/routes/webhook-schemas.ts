/** The bodies of the webhook routes, their examples, and how endpoints and attempts are shown. */
import { Type, type TSchema } from '@sinclair/typebox';
import {
  MAX_WEBHOOK_DESCRIPTION_LENGTH,
  MAX_WEBHOOK_URL_LENGTH,
  WEBHOOK_EVENT_TYPES,
  WEBHOOK_TEST_EVENT,
  type DeliveryAttempt,
  type WebhookEndpoint,
} from '@ticketboss/domain';

const webhookIdExample = '7d5f0c1e-3b2a-4e8f-9c6d-1a2b3c4d5e6f';
const deliveryIdExample = 'msg_4f9a2c7e1b3d5f60718293a4b5c6d7e8';
const secretExample = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw7uT9zXVsK6A=';

const EventType = Type.Union(
  WEBHOOK_EVENT_TYPES.map((type) => Type.Literal(type)),
  { description: 'A change of a reservation' },
);
const Events = Type.Array(EventType, {
  minItems: 1,
  maxItems: 20,
  description: `One or more of ${WEBHOOK_EVENT_TYPES.map((type) => `\`${type}\``).join(', ')}; duplicates are dropped`,
});
const Url = Type.String({
  minLength: 1,
  maxLength: MAX_WEBHOOK_URL_LENGTH,
  description:
    'Absolute `https://` (or `http://`) URL without user name or password, reaching a public address: a private, ' +
    'loopback or link-local address, or a hostname resolving only to such addresses, is refused',
});
const Description = Type.String({ maxLength: MAX_WEBHOOK_DESCRIPTION_LENGTH, description: 'For your own reference' });

export const RegisterWebhook = Type.Object(
  { url: Url, events: Events, description: Type.Optional(Description) },
  {
    additionalProperties: false,
    examples: [
      {
        url: 'https://hooks.acme.example/ticketboss',
        events: ['reservation.created', 'reservation.cancelled'],
        description: 'Production',
      },
    ],
  },
);

export const UpdateWebhook = Type.Object(
  {
    url: Type.Optional(Url),
    events: Type.Optional(Events),
    description: Type.Optional(Type.Union([Description, Type.Null()], { description: 'null or "" clears it' })),
    enabled: Type.Optional(
      Type.Boolean({
        description:
          'false: nothing is sent (changes are still recorded). true: re-enables, also an endpoint TicketBoss ' +
          'disabled, and sends what waited meanwhile',
      }),
    ),
  },
  { additionalProperties: false, examples: [{ enabled: false }, { events: ['reservation.created'] }] },
);

const webhookExample = {
  webhookId: webhookIdExample,
  url: 'https://hooks.acme.example/ticketboss',
  description: 'Production',
  events: ['reservation.created', 'reservation.cancelled'],
  enabled: true,
  createdAt: '2025-11-25T11:38:19.016Z',
};

const webhookProperties = {
  webhookId: Type.String({ format: 'uuid' }),
  url: Type.String(),
  description: Type.Optional(Type.String()),
  events: Type.Array(EventType, { description: `Distinct, in the order ${WEBHOOK_EVENT_TYPES.join(', ')}` }),
  enabled: Type.Boolean(),
  failingSince: Type.Optional(
    Type.String({ format: 'date-time', description: 'Since when every attempt has failed; absent when not failing' }),
  ),
  disabledReason: Type.Optional(
    Type.String({
      description: 'Why TicketBoss disabled the endpoint (5 days of only failures); re-enable it to resume',
    }),
  ),
  createdAt: Type.String({ format: 'date-time' }),
};

export const WebhookBody = Type.Object(webhookProperties, { examples: [webhookExample] });

export const WebhookWithSecretBody = Type.Object(
  {
    ...webhookProperties,
    secret: Type.String({
      description:
        'Verifies the `webhook-signature` header (Standard Webhooks). Shown only in this answer: keep it safe',
    }),
  },
  { examples: [{ ...webhookExample, secret: secretExample }] },
);

export function webhookBody(endpoint: WebhookEndpoint) {
  return {
    webhookId: endpoint.webhookId,
    url: endpoint.url,
    ...(endpoint.description === undefined ? {} : { description: endpoint.description }),
    events: [...endpoint.events],
    enabled: endpoint.enabled,
    ...(endpoint.failingSince === undefined ? {} : { failingSince: endpoint.failingSince.toISOString() }),
    ...(endpoint.disabledReason === undefined ? {} : { disabledReason: endpoint.disabledReason }),
    createdAt: endpoint.createdAt.toISOString(),
  };
}

export const webhookWithSecretBody = (endpoint: WebhookEndpoint) => ({
  ...webhookBody(endpoint),
  secret: endpoint.secret,
});

export const AttemptBody = Type.Object(
  {
    attemptId: Type.String(),
    deliveryId: Type.String({ description: 'The `webhook-id` header: the same on every attempt of a delivery' }),
    type: Type.Union([...WEBHOOK_EVENT_TYPES, WEBHOOK_TEST_EVENT].map((type) => Type.Literal(type))),
    reservationId: Type.Optional(Type.String({ format: 'uuid' })),
    attempt: Type.Integer({ description: '1 for the first attempt of the delivery' }),
    attemptedAt: Type.String({ format: 'date-time' }),
    statusCode: Type.Optional(Type.Integer({ description: "Your endpoint's status; absent when it did not answer" })),
    durationMs: Type.Integer(),
    error: Type.Optional(Type.String({ description: 'Why the attempt failed; absent when it succeeded' })),
    nextAttemptAt: Type.Optional(
      Type.String({ format: 'date-time', description: 'When the delivery is tried again, if it will be' }),
    ),
  },
  {
    examples: [
      {
        attemptId: '42',
        deliveryId: deliveryIdExample,
        type: 'reservation.created',
        reservationId: '3f2c9a4e-8b1d-4c6e-9f0a-2d7b5e1c8a36',
        attempt: 2,
        attemptedAt: '2025-11-25T11:38:29.511Z',
        statusCode: 500,
        durationMs: 87,
        error: 'HTTP 500',
        nextAttemptAt: '2025-11-25T11:38:45.102Z',
      },
    ],
  },
);

export function attemptBody(attempt: DeliveryAttempt) {
  const optional = <K extends string, V>(key: K, value: V | undefined) =>
    value === undefined ? {} : ({ [key]: value } as Record<K, V>);
  return {
    attemptId: attempt.attemptId,
    deliveryId: attempt.deliveryId,
    type: attempt.type,
    ...optional('reservationId', attempt.reservationId),
    attempt: attempt.attempt,
    attemptedAt: attempt.attemptedAt.toISOString(),
    ...optional('statusCode', attempt.statusCode),
    durationMs: attempt.durationMs,
    ...optional('error', attempt.error),
    ...optional('nextAttemptAt', attempt.nextAttemptAt?.toISOString()),
  };
}

export const QueuedBody = Type.Object(
  { deliveryId: Type.String({ description: 'The `webhook-id` the request will carry' }) },
  { examples: [{ deliveryId: deliveryIdExample }] },
);

export const WebhookParams = Type.Object({ webhookId: Type.String({ examples: [webhookIdExample] }) });
export const DeliveryParams = Type.Object({
  webhookId: Type.String({ examples: [webhookIdExample] }),
  deliveryId: Type.String({ examples: [deliveryIdExample] }),
});

/** An answer that carries a secret: no cache (a browser's included) may keep it. */
export function carriesSecret<T extends TSchema>(schema: T): T {
  const headers = {
    'Cache-Control': {
      type: 'string',
      enum: ['no-store'],
      description: 'Always `no-store`: the answer holds a secret',
    },
  };
  return { ...schema, headers };
}

import { randomUUID } from 'node:crypto';
import type { AttemptOutcome, WebhookDelivery, WebhookEndpoint, WebhookStore } from '@ticketboss/domain';
import { describe, expect, it } from 'vitest';
import { deliver, ORDER_WAIT_MS, type DeliverDeps } from './deliver.js';
import type { OutboundPost, OutboundResult } from './outbound.js';

const NOW = new Date('2025-11-25T12:00:00.000Z');
const POLICY = { baseDelayMs: 1000, maxDelayMs: 8000, retryForMs: 60_000, disableAfterMs: 3_600_000 };

const endpoint: WebhookEndpoint = {
  webhookId: '5b0c6a57-6f7e-4c1f-9d1e-3a0c1f6b2a10',
  partnerId: 'acme',
  url: 'https://hooks.example.com/tb',
  description: undefined,
  events: ['reservation.created'],
  enabled: true,
  secret: `whsec_${Buffer.alloc(32, 1).toString('base64')}`,
  previousSecret: undefined,
  previousSecretUntil: undefined,
  failingSince: undefined,
  disabledReason: undefined,
  createdAt: NOW,
};

const delivery: WebhookDelivery = {
  deliveryId: `msg_${'a'.repeat(32)}`,
  webhookId: endpoint.webhookId,
  type: 'webhook.test',
  reservationId: undefined,
  occurredAt: NOW,
  reservation: undefined,
  state: 'pending',
  attempts: 0,
  firstAttemptAt: undefined,
  nextAttemptAt: undefined,
  deliveredAt: undefined,
};

/** The worker's side of the store, recording what it is told; the endpoint side is never called here. */
function setup(options: {
  delivery?: Partial<WebhookDelivery>;
  endpoint?: Partial<WebhookEndpoint>;
  earlier?: Partial<WebhookDelivery>;
  answer?: OutboundResult;
}) {
  const recorded: AttemptOutcome[] = [];
  const postponed: Date[] = [];
  const posts: OutboundPost[] = [];
  const store = {
    loadForAttempt: async () => ({
      delivery: { ...delivery, ...options.delivery },
      endpoint: { ...endpoint, ...options.endpoint },
    }),
    findEarlierPending: async () => (options.earlier ? { ...delivery, ...options.earlier } : undefined),
    recordAttempt: async (_d: WebhookDelivery, _at: Date, outcome: AttemptOutcome) => {
      recorded.push(outcome);
      return {} as never;
    },
    postpone: async (_d: WebhookDelivery, at: Date) => {
      postponed.push(at);
    },
  } as Partial<WebhookStore> as WebhookStore;
  const deps: DeliverDeps = {
    store,
    outbound: {
      post: async (request) => {
        posts.push(request);
        return options.answer ?? { statusCode: 204, durationMs: 12 };
      },
      close: () => undefined,
    },
    policy: POLICY,
    clock: { now: () => NOW },
    random: () => 0.5,
  };
  return { deps, recorded, postponed, posts };
}

describe('one delivery attempt', () => {
  it('posts the signed payload to the endpoint and records a 2xx as delivered', async () => {
    const { deps, recorded, posts } = setup({});
    expect(await deliver(deps, delivery.deliveryId)).toBe('delivered');
    expect(posts[0]).toMatchObject({ url: endpoint.url, headers: { 'webhook-id': delivery.deliveryId } });
    expect(recorded).toEqual([{ kind: 'delivered', statusCode: 204, durationMs: 12 }]);
  });

  it('records a 3xx or 5xx as a failure, with the next attempt from the retry policy', async () => {
    const { deps, recorded } = setup({ answer: { statusCode: 307, durationMs: 5 } });
    expect(await deliver(deps, delivery.deliveryId)).toBe('failed');
    // First attempt failed: 1000 ms, half fixed and half jittered (random 0.5) = 750 ms.
    expect(recorded).toEqual([
      {
        kind: 'failed',
        statusCode: 307,
        durationMs: 5,
        error: 'HTTP 307',
        retryAt: new Date(NOW.getTime() + 750),
        disableReason: undefined,
      },
    ]);
  });

  it('gives up once the next attempt would fall after the retry window', async () => {
    const firstAttemptAt = new Date(NOW.getTime() - 59_500);
    const { deps, recorded } = setup({
      delivery: { attempts: 6, firstAttemptAt },
      answer: { error: 'timed out after 10 s', durationMs: 10_000 },
    });
    expect(await deliver(deps, delivery.deliveryId)).toBe('given_up');
    expect(recorded[0]).toMatchObject({ kind: 'failed', error: 'timed out after 10 s', retryAt: undefined });
  });

  it('disables the endpoint once its attempts have all failed for disableAfterMs', async () => {
    const failingSince = new Date(NOW.getTime() - POLICY.disableAfterMs);
    const { deps, recorded } = setup({ endpoint: { failingSince }, answer: { statusCode: 500, durationMs: 1 } });
    await deliver(deps, delivery.deliveryId);
    expect(recorded[0]).toMatchObject({
      kind: 'failed',
      disableReason: `every attempt failed for 1 hour (since ${failingSince.toISOString()})`,
    });
  });

  it('waits for an earlier pending delivery of the same reservation, until its next attempt', async () => {
    // A test message has no reservation, so no order to keep: no lookup, posted at once.
    const test = setup({ earlier: {} });
    expect(await deliver(test.deps, delivery.deliveryId)).toBe('delivered');
    const soon = setup({ earlier: {}, delivery: { type: 'reservation.confirmed', reservationId: randomUUID() } });
    expect(await deliver(soon.deps, delivery.deliveryId)).toBe('waiting_for_earlier');
    expect(soon.postponed).toEqual([new Date(NOW.getTime() + ORDER_WAIT_MS)]);
    expect(soon.posts).toEqual([]);
    const retrying = setup({
      earlier: { nextAttemptAt: new Date(NOW.getTime() + 30_000) },
      delivery: { type: 'reservation.confirmed', reservationId: randomUUID() },
    });
    await deliver(retrying.deps, delivery.deliveryId);
    expect(retrying.postponed).toEqual([new Date(NOW.getTime() + 30_000 + ORDER_WAIT_MS)]);
  });

  it('posts nothing for a disabled endpoint, or a delivery no longer pending', async () => {
    const disabled = setup({ endpoint: { enabled: false } });
    expect(await deliver(disabled.deps, delivery.deliveryId)).toBe('endpoint_disabled');
    const done = setup({ delivery: { state: 'delivered' } });
    expect(await deliver(done.deps, delivery.deliveryId)).toBe('not_pending');
    expect([...disabled.posts, ...done.posts, ...disabled.recorded, ...done.recorded]).toEqual([]);
  });
});

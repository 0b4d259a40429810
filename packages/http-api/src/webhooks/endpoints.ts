/**
 * A partner's webhook endpoints: the rules of registering and changing one (its URL, events and description, the
 * limit per partner, its secret), over the WebhookStore port. The routes map these outcomes to HTTP; the store
 * answers an endpoint of another partner exactly as one that does not exist.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  InvalidPagePosition,
  MAX_WEBHOOK_DESCRIPTION_LENGTH,
  MAX_WEBHOOK_URL_LENGTH,
  MAX_WEBHOOKS_PER_PARTNER,
  SECRET_OVERLAP_MS,
  WEBHOOK_EVENT_TYPES,
  isWebhookEventType,
  type Clock,
  type DeliveryAttempt,
  type WebhookDelivery,
  type WebhookEndpoint,
  type WebhookEndpointChanges,
  type WebhookEventType,
  type WebhookPage,
  type WebhookStore,
} from '@ticketboss/domain';
import { checkWebhookUrl, type ResolveHost } from './urls.js';

export type WebhookField = 'url' | 'events' | 'description';

export const webhookFieldMessages: Readonly<Record<WebhookField | 'enabled', string>> = {
  url: `url must be an absolute http:// or https:// URL of at most ${MAX_WEBHOOK_URL_LENGTH} characters, without a user name or password`,
  events: `events must be a non-empty list of ${WEBHOOK_EVENT_TYPES.join(', ')}`,
  description: `description must be a string of at most ${MAX_WEBHOOK_DESCRIPTION_LENGTH} characters, without control characters`,
  enabled: 'enabled must be true or false',
};

export interface InvalidWebhook {
  readonly kind: 'invalid';
  readonly field: WebhookField;
  /** Names the field first ("url must ..."). */
  readonly message: string;
}

export type RegisterOutcome =
  | { readonly kind: 'created'; readonly endpoint: WebhookEndpoint }
  | { readonly kind: 'limit_reached' }
  | InvalidWebhook;

export type UpdateOutcome =
  { readonly kind: 'updated'; readonly endpoint: WebhookEndpoint } | { readonly kind: 'not_found' } | InvalidWebhook;

export type RedeliverOutcome =
  | { readonly kind: 'queued'; readonly delivery: WebhookDelivery }
  | { readonly kind: 'webhook_not_found' }
  | { readonly kind: 'delivery_not_found' };

export interface NewWebhook {
  readonly url: string;
  readonly events: readonly string[];
  readonly description?: string | undefined;
}

export interface WebhookUpdate {
  readonly url?: string;
  readonly events?: readonly string[];
  readonly description?: string | null;
  readonly enabled?: boolean;
}

export interface WebhookEndpointsDeps {
  readonly store: WebhookStore;
  /** Whose time stamps endpoints and ends a rotated-out secret's overlap: the database's. */
  readonly clock: Clock;
  /** TICKETBOSS_WEBHOOK_ALLOW_PRIVATE: let URLs reach loopback and private addresses (development, tests). */
  readonly allowPrivate: boolean;
  /** The addresses a hostname resolves to; the system's resolver by default. */
  readonly resolveHost?: ResolveHost;
}

export type WebhookEndpoints = ReturnType<typeof createWebhookEndpoints>;

/** `whsec_` + base64 of 32 random bytes: the form Standard Webhooks libraries take. */
export const newWebhookSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`;

/** A delivery's `webhook-id`. */
export const newDeliveryId = (): string => `msg_${randomBytes(16).toString('hex')}`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DELIVERY_ID = /^msg_[0-9a-f]{32}$/;

/** The requested events, distinct and in WEBHOOK_EVENT_TYPES order; undefined when empty or one is unknown. */
export function eventTypesOf(events: readonly string[]): WebhookEventType[] | undefined {
  if (events.length === 0 || !events.every(isWebhookEventType)) return undefined;
  return WEBHOOK_EVENT_TYPES.filter((type) => events.includes(type));
}

const invalid = (field: WebhookField, message = webhookFieldMessages[field]): InvalidWebhook => ({
  kind: 'invalid',
  field,
  message,
});

function checkDescription(description: string | null | undefined): InvalidWebhook | undefined {
  if (description === undefined || description === null) return undefined;
  // Control characters (NUL above all, which PostgreSQL's text refuses) have no place in a label.
  // eslint-disable-next-line no-control-regex
  const control = /[\u0000-\u001f\u007f]/.test(description);
  return description.length > MAX_WEBHOOK_DESCRIPTION_LENGTH || control ? invalid('description') : undefined;
}

/** Endpoints in the order the store lists them (oldest first); the page position is the last one's `createdAt|id`. */
function pageOfEndpoints(
  all: readonly WebhookEndpoint[],
  { limit, after }: { limit: number; after: string | undefined },
): WebhookPage<WebhookEndpoint> {
  const key = (endpoint: WebhookEndpoint) => `${endpoint.createdAt.toISOString()}|${endpoint.webhookId}`;
  if (after !== undefined && !/^\d{4}-\d\d-\d\dT[\d:.]+Z\|[0-9a-f-]{36}$/.test(after)) {
    throw new InvalidPagePosition('not a webhook position');
  }
  const rest = after === undefined ? all : all.filter((endpoint) => key(endpoint) > after);
  const items = rest.slice(0, limit);
  return { items, next: rest.length > limit ? key(items[items.length - 1]!) : undefined };
}

export function createWebhookEndpoints({ store, clock, allowPrivate, resolveHost }: WebhookEndpointsDeps) {
  /** The URL as it is stored, or why it is refused. */
  const checkUrl = async (raw: string): Promise<string | InvalidWebhook> => {
    const check = await checkWebhookUrl(raw, { allowPrivate, resolveHost });
    if (check.ok) return check.url;
    if (check.problem === 'malformed') return invalid('url');
    return invalid('url', `url must reach a public address: ${check.reason}`);
  };
  /** Ids that cannot name an endpoint or delivery are answered "not found" without asking the database. */
  const known = (webhookId: string) => UUID.test(webhookId);

  return {
    async register(partnerId: string, request: NewWebhook): Promise<RegisterOutcome> {
      const events = eventTypesOf(request.events);
      if (!events) return invalid('events');
      const badDescription = checkDescription(request.description);
      if (badDescription) return badDescription;
      const url = await checkUrl(request.url);
      if (typeof url !== 'string') return url;
      // Counted then created: two registrations racing at the limit may both get in (the limit is a guard against
      // runaway scripts, not an invariant the delivery relies on).
      if ((await store.countEndpoints(partnerId)) >= MAX_WEBHOOKS_PER_PARTNER) return { kind: 'limit_reached' };
      const endpoint = await store.createEndpoint({
        webhookId: randomUUID(),
        partnerId,
        url,
        description: request.description || undefined,
        events,
        secret: newWebhookSecret(),
        createdAt: clock.now(),
      });
      return { kind: 'created', endpoint };
    },

    async list(partnerId: string, page: { limit: number; after: string | undefined }) {
      return pageOfEndpoints(await store.listEndpoints(partnerId), page);
    },

    find(partnerId: string, webhookId: string): Promise<WebhookEndpoint | undefined> {
      return known(webhookId) ? store.findEndpoint(partnerId, webhookId) : Promise.resolve(undefined);
    },

    async update(partnerId: string, webhookId: string, update: WebhookUpdate): Promise<UpdateOutcome> {
      let events: WebhookEventType[] | undefined;
      if (update.events !== undefined) {
        events = eventTypesOf(update.events);
        if (!events) return invalid('events');
      }
      const badDescription = checkDescription(update.description);
      if (badDescription) return badDescription;
      const url = update.url === undefined ? undefined : await checkUrl(update.url);
      if (typeof url === 'object') return url;
      if (!known(webhookId)) return { kind: 'not_found' };
      const changes: WebhookEndpointChanges = {
        ...(url === undefined ? {} : { url }),
        ...(events === undefined ? {} : { events }),
        // An empty description clears it, as null does.
        ...(update.description === undefined ? {} : { description: update.description || null }),
        ...(update.enabled === undefined ? {} : { enabled: update.enabled }),
      };
      const endpoint = await store.updateEndpoint(partnerId, webhookId, changes);
      return endpoint ? { kind: 'updated', endpoint } : { kind: 'not_found' };
    },

    async remove(partnerId: string, webhookId: string): Promise<boolean> {
      return known(webhookId) && (await store.deleteEndpoint(partnerId, webhookId));
    },

    /** A new secret, current at once; the old one keeps signing alongside it for SECRET_OVERLAP_MS. */
    async rotateSecret(partnerId: string, webhookId: string): Promise<WebhookEndpoint | undefined> {
      if (!known(webhookId)) return undefined;
      const previousUntil = new Date(clock.now().getTime() + SECRET_OVERLAP_MS);
      return store.rotateSecret(partnerId, webhookId, newWebhookSecret(), previousUntil);
    },

    async sendTest(partnerId: string, webhookId: string): Promise<WebhookDelivery | undefined> {
      return known(webhookId) ? store.addTestDelivery(partnerId, webhookId, newDeliveryId()) : undefined;
    },

    async listAttempts(
      partnerId: string,
      webhookId: string,
      page: { limit: number; cursor: string | undefined; failedOnly: boolean },
    ): Promise<WebhookPage<DeliveryAttempt> | undefined> {
      return known(webhookId) ? store.listAttempts(partnerId, webhookId, page) : undefined;
    },

    async redeliver(partnerId: string, webhookId: string, deliveryId: string): Promise<RedeliverOutcome> {
      if (!known(webhookId) || !(await store.findEndpoint(partnerId, webhookId))) return { kind: 'webhook_not_found' };
      const delivery = DELIVERY_ID.test(deliveryId)
        ? await store.redeliver(partnerId, webhookId, deliveryId)
        : undefined;
      return delivery ? { kind: 'queued', delivery } : { kind: 'delivery_not_found' };
    },
  };
}

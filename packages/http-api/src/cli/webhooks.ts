/** `webhooks list` and `webhooks failing`: a partner's endpoints, and why one of them is failing. */
import type { DeliveryAttempt, PartnerService, WebhookEndpoint, WebhookStore } from '@ticketboss/domain';
import { attemptBody, webhookBody } from '../routes/webhook-schemas.js';
import { done, Failure, table, type Answer } from './output.js';

/** How many of an endpoint's failed attempts `webhooks failing` shows, newest first. */
export const FAILING_SHOWN = 100;

const stateOf = (endpoint: WebhookEndpoint): string => {
  if (endpoint.disabledReason !== undefined) return 'disabled by TicketBoss';
  if (!endpoint.enabled) return 'disabled';
  return endpoint.failingSince === undefined ? 'enabled' : 'failing';
};

async function requirePartner(partners: PartnerService, partnerId: string): Promise<void> {
  if (!(await partners.listKeys(partnerId))) throw new Failure('PARTNER_NOT_FOUND', `partner ${partnerId} not found`);
}

export async function listWebhooks(
  webhooks: WebhookStore,
  partners: PartnerService,
  partnerId: string,
): Promise<Answer> {
  await requirePartner(partners, partnerId);
  const endpoints = await webhooks.listEndpoints(partnerId);
  const text = endpoints.length
    ? table(
        ['WEBHOOK ID', 'STATE', 'FAILING SINCE', 'EVENTS', 'URL'],
        endpoints.map((endpoint) => [
          endpoint.webhookId,
          stateOf(endpoint),
          endpoint.failingSince?.toISOString() ?? '-',
          endpoint.events.map((type) => type.replace(/^reservation\./, '')).join(','),
          endpoint.url,
        ]),
      )
    : `partner ${partnerId} has no webhooks\n`;
  return done(text, { items: endpoints.map(webhookBody) });
}

export async function failingWebhook(
  webhooks: WebhookStore,
  partners: PartnerService,
  { partnerId, webhookId }: { partnerId: string; webhookId: string },
): Promise<Answer> {
  await requirePartner(partners, partnerId);
  const endpoint = await webhooks.findEndpoint(partnerId, webhookId);
  const page = endpoint && (await webhooks.listAttempts(partnerId, webhookId, failedOnly()));
  if (!endpoint || !page) throw new Failure('WEBHOOK_NOT_FOUND', `partner ${partnerId} has no webhook ${webhookId}`);
  const more = page.next !== undefined;
  const lines = [
    `webhook ${webhookId} of partner ${partnerId}: ${endpoint.url}`,
    `state: ${stateOf(endpoint)}${endpoint.disabledReason === undefined ? '' : ` (${endpoint.disabledReason})`}`,
    `failing since: ${endpoint.failingSince?.toISOString() ?? '- (its last attempt succeeded, or none failed)'}`,
    '',
  ];
  const attempts = page.items.length
    ? table(['ATTEMPTED AT', 'DELIVERY', 'TYPE', 'ATTEMPT', 'STATUS', 'NEXT ATTEMPT', 'ERROR'], page.items.map(row))
    : 'no failed attempts\n';
  const note = more ? `(the newest ${FAILING_SHOWN} failed attempts; there are more)\n` : '';
  return done(lines.join('\n') + attempts + note, {
    webhook: webhookBody(endpoint),
    items: page.items.map(attemptBody),
    more,
  });
}

const failedOnly = () => ({ limit: FAILING_SHOWN, cursor: undefined, failedOnly: true });

const row = (attempt: DeliveryAttempt): string[] => [
  attempt.attemptedAt.toISOString(),
  attempt.deliveryId,
  attempt.type,
  String(attempt.attempt),
  attempt.statusCode === undefined ? '-' : String(attempt.statusCode),
  attempt.nextAttemptAt?.toISOString() ?? '-',
  attempt.error ?? '',
];

import { expect } from 'vitest';
import type { v1Calls } from './v1-api.js';
import { bearer } from './v1-api.js';

/** A URL whose literal address is public, so registering it needs no DNS (tests reach no one through it). */
export const PUBLIC_URL = 'https://93.184.215.14/ticketboss';

export interface WebhookAnswer {
  readonly webhookId: string;
  readonly url: string;
  readonly description?: string;
  readonly events: string[];
  readonly enabled: boolean;
  readonly createdAt: string;
  readonly secret: string;
}

/** Registers an endpoint for the partner of `token` through the API and answers the 201's body. */
export function registerWebhook(call: ReturnType<typeof v1Calls>['call']) {
  return async (
    token: string,
    body: { url?: string; events?: string[]; description?: string } = {},
  ): Promise<WebhookAnswer> => {
    const response = await call('POST', '/v1/webhooks', bearer(token), {
      url: PUBLIC_URL,
      events: ['reservation.created', 'reservation.held', 'reservation.cancelled'],
      ...body,
    });
    expect(response.statusCode).toBe(201);
    return response.json<WebhookAnswer>();
  };
}

import { randomUUID } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '@ticketboss/adapters-postgres/testing';
import type { WebhookEventType } from '@ticketboss/domain';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ticketboss, type Run } from '../testing/cli-process.js';
import { createServices, type Services } from '../server/services.js';
import { newDeliveryId, newWebhookSecret } from '../webhooks/endpoints.js';

let database: TestDatabase;
let services: Services;
beforeAll(async () => {
  database = await createTestDatabase();
  services = await createServices(database.db, { maxWaitMs: 2000 });
  for (const partnerId of ['acme', 'globex']) {
    const outcome = await services.partners.createPartner({ partnerId, name: partnerId });
    if (outcome.kind !== 'created') throw new Error(outcome.kind);
  }
});
afterAll(async () => {
  await services?.close();
  await database?.drop();
});

const cli = (...args: string[]) => ticketboss({ DATABASE_URL: database.url }, ...args);
const parse = (run: Run): unknown => JSON.parse(run.stdout);

async function endpoint(partnerId: string, url: string, events: WebhookEventType[]) {
  return services.webhooks.createEndpoint({
    webhookId: randomUUID(),
    partnerId,
    url,
    description: undefined,
    events,
    secret: newWebhookSecret(),
    createdAt: services.clock.now(),
  });
}

/** A test message to the endpoint, and a failed attempt of it as the worker records one. */
async function failedAttempt(partnerId: string, webhookId: string, error: string, statusCode?: number) {
  const delivery = await services.webhooks.addTestDelivery(partnerId, webhookId, newDeliveryId());
  if (!delivery) throw new Error('no delivery');
  const retryAt = new Date(services.clock.now().getTime() + 5000);
  await services.webhooks.recordAttempt(delivery, services.clock.now(), {
    kind: 'failed',
    statusCode,
    durationMs: 30,
    error,
    retryAt,
    disableReason: undefined,
  });
  return delivery.deliveryId;
}

describe('webhooks list', () => {
  it("lists the partner's endpoints with their state, never their secrets; another partner's are not shown", async () => {
    const first = await endpoint('acme', 'https://93.184.215.14/a', ['reservation.created', 'reservation.cancelled']);
    const second = await endpoint('acme', 'https://93.184.215.14/b', ['reservation.held']);
    await services.webhooks.updateEndpoint('acme', second.webhookId, { enabled: false });
    const foreign = await endpoint('globex', 'https://93.184.215.14/g', ['reservation.held']);

    const [text, json, none, unknown] = await Promise.all([
      cli('webhooks', 'list', 'acme'),
      cli('webhooks', 'list', 'acme', '--json'),
      cli('webhooks', 'list', 'initech-none'),
      cli('webhooks', 'list', 'initech-none', '--json'),
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^WEBHOOK ID\s+STATE\s+FAILING SINCE\s+EVENTS\s+URL$/m);
    expect(text.stdout).toMatch(
      new RegExp(`^${first.webhookId}\\s+enabled\\s+-\\s+created,cancelled\\s+https://93.184.215.14/a$`, 'm'),
    );
    expect(text.stdout).toMatch(new RegExp(`^${second.webhookId}\\s+disabled\\s+-\\s+held\\s+`, 'm'));
    expect(text.stdout).not.toContain(foreign.webhookId);
    for (const output of [text.stdout, json.stdout]) {
      expect(output).not.toContain(first.secret);
      expect(output).not.toContain('whsec_');
    }
    expect(parse(json)).toEqual({
      items: [
        expect.objectContaining({ webhookId: first.webhookId, enabled: true }),
        expect.objectContaining({ webhookId: second.webhookId, enabled: false }),
      ],
    });
    expect(none).toMatchObject({ code: 1, stderr: 'ticketboss: partner initech-none not found\n' });
    expect(parse(unknown)).toEqual({ error: 'partner initech-none not found', code: 'PARTNER_NOT_FOUND' });
  });
});

describe('webhooks failing', () => {
  it("shows the endpoint's failed attempts newest first and since when it fails", async () => {
    const { webhookId } = await endpoint('globex', 'https://93.184.215.14/failing', ['reservation.created']);
    const older = await failedAttempt('globex', webhookId, 'HTTP 500', 500);
    const newer = await failedAttempt('globex', webhookId, 'timed out after 10 s');

    const [text, json] = await Promise.all([
      cli('webhooks', 'failing', 'globex', webhookId),
      cli('webhooks', 'failing', 'globex', webhookId, '--json'),
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`webhook ${webhookId} of partner globex: https://93.184.215.14/failing\n`);
    expect(text.stdout).toMatch(/^state: failing$/m);
    expect(text.stdout).toMatch(/^failing since: \d{4}-\d\d-\d\dT/m);
    const rows = text.stdout.split('\n').filter((line) => line.includes('msg_'));
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(new RegExp(`${newer}\\s+webhook\\.test\\s+1\\s+-\\s+\\S+\\s+timed out after 10 s$`));
    expect(rows[1]).toMatch(new RegExp(`${older}\\s+webhook\\.test\\s+1\\s+500\\s+\\S+\\s+HTTP 500$`));
    expect(parse(json)).toEqual({
      webhook: expect.objectContaining({ webhookId, failingSince: expect.any(String) }),
      items: [
        expect.objectContaining({ deliveryId: newer, error: 'timed out after 10 s' }),
        expect.objectContaining({ deliveryId: older, statusCode: 500, error: 'HTTP 500' }),
      ],
      more: false,
    });
  });

  it("says so when nothing failed, and exits 1 for an unknown or another partner's webhook", async () => {
    const { webhookId } = await endpoint('acme', 'https://93.184.215.14/fine', ['reservation.held']);
    const [fine, foreign, unknown, malformed, usage] = await Promise.all([
      cli('webhooks', 'failing', 'acme', webhookId),
      cli('webhooks', 'failing', 'globex', webhookId, '--json'),
      cli('webhooks', 'failing', 'acme', randomUUID()),
      cli('webhooks', 'failing', 'acme', 'not-a-uuid'),
      cli('webhooks', 'failing', 'acme'),
    ]);
    expect(fine.code).toBe(0);
    expect(fine.stdout).toMatch(/^state: enabled$/m);
    expect(fine.stdout).toContain('no failed attempts\n');
    expect(foreign.code).toBe(1);
    expect(parse(foreign)).toEqual({
      error: `partner globex has no webhook ${webhookId}`,
      code: 'WEBHOOK_NOT_FOUND',
    });
    expect(unknown).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^ticketboss: partner acme has no webhook /),
    });
    expect(malformed).toMatchObject({ code: 1, stderr: 'ticketboss: partner acme has no webhook not-a-uuid\n' });
    expect(usage).toMatchObject({ code: 64, stderr: 'ticketboss: webhooks failing needs <partnerId> <webhookId>\n' });
  });
});

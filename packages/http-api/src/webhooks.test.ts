import { describe, expect, it } from 'vitest';
import { createAppWithDatabase } from './testing/app-with-database.js';
import { admin, bearer, expectError, UUID, uniqueId, useApiKeyApp, v1Calls } from './testing/v1-api.js';
import { registerWebhook, PUBLIC_URL, type WebhookAnswer } from './testing/webhooks.js';

const t = useApiKeyApp();
const { call } = v1Calls(t);
const register = registerWebhook(call);

const SECRET = /^whsec_[A-Za-z0-9+/]{43}=$/;
const OTHER_ID = '00000000-0000-4000-8000-000000000000';

describe('POST /v1/webhooks', () => {
  it('registers an endpoint and shows its secret once, with Cache-Control: no-store', async () => {
    const token = await t.createPartner(uniqueId('wh'));
    const response = await call('POST', '/v1/webhooks', bearer(token), {
      url: 'HTTPS://93.184.215.14/hooks?x=1',
      events: ['reservation.cancelled', 'reservation.created', 'reservation.cancelled'],
      description: 'Production',
    });
    expect(response.statusCode).toBe(201);
    expect(response.headers['cache-control']).toBe('no-store');
    const body = response.json<WebhookAnswer>();
    expect(body).toEqual({
      webhookId: expect.stringMatching(UUID),
      url: 'https://93.184.215.14/hooks?x=1',
      description: 'Production',
      events: ['reservation.created', 'reservation.cancelled'],
      enabled: true,
      createdAt: expect.any(String),
      secret: expect.stringMatching(SECRET),
    });

    const shown = await call('GET', `/v1/webhooks/${body.webhookId}`, bearer(token));
    expect(shown.statusCode).toBe(200);
    const { secret, ...withoutSecret } = body;
    expect(shown.json()).toEqual(withoutSecret);
    expect(shown.body).not.toContain(secret);
    const listed = await call('GET', '/v1/webhooks', bearer(token));
    expect(listed.json()).toEqual({ items: [withoutSecret], nextCursor: null });
    expect(listed.body).not.toContain(secret);
  });

  it('gives every endpoint a secret of its own', async () => {
    const token = await t.createPartner(uniqueId('wh'));
    const a = await register(token);
    const b = await register(token);
    expect(a.secret).not.toBe(b.secret);
  });

  it.each([
    [{ events: ['reservation.created'] }, 'url is required'],
    [{ url: 'not a url', events: ['reservation.created'] }, /^url must be an absolute http/],
    [{ url: 'ftp://93.184.215.14/x', events: ['reservation.created'] }, /^url must be an absolute http/],
    [{ url: 'https://u:p@93.184.215.14/x', events: ['reservation.created'] }, /^url must be an absolute http/],
    [{ url: `https://93.184.215.14/${'a'.repeat(2030)}`, events: ['reservation.created'] }, /^url must be/],
    [{ url: 42, events: ['reservation.created'] }, /^url must be an absolute http/],
    [
      { url: 'http://127.0.0.1:3000/hook', events: ['reservation.created'] },
      'url must reach a public address: 127.0.0.1 is a loopback address',
    ],
    [
      { url: 'http://169.254.169.254/latest/meta-data/', events: ['reservation.created'] },
      'url must reach a public address: 169.254.169.254 is a link-local address',
    ],
    [
      { url: 'http://[::ffff:10.0.0.1]/', events: ['reservation.created'] },
      'url must reach a public address: [::ffff:a00:1] is a private address',
    ],
    [
      { url: 'http://localhost:8080/hook', events: ['reservation.created'] },
      /^url must reach a public address: localhost resolves only to addresses webhooks may not reach/,
    ],
    [{ url: PUBLIC_URL }, 'events is required'],
    [{ url: PUBLIC_URL, events: [] }, /^events must be a non-empty list of reservation\.created, /],
    [{ url: PUBLIC_URL, events: ['reservation.updated'] }, /^events must be/],
    [{ url: PUBLIC_URL, events: ['webhook.test'] }, /^events must be/],
    [{ url: PUBLIC_URL, events: 'reservation.created' }, /^events must be/],
    [{ url: PUBLIC_URL, events: ['reservation.created'], description: 'x'.repeat(201) }, /^description must be/],
    [{ url: PUBLIC_URL, events: ['reservation.created'], secret: 'mine' }, 'secret cannot be set here'],
  ])('refuses %j with 400 naming the field', async (payload, message) => {
    const token = await t.createPartner(uniqueId('bad'));
    const response = await call('POST', '/v1/webhooks', bearer(token), payload);
    expectError(response, 400, 'VALIDATION_ERROR', message);
    expect((await call('GET', '/v1/webhooks', bearer(token))).json()).toEqual({ items: [], nextCursor: null });
  });

  it('accepts loopback and private URLs when TICKETBOSS_WEBHOOK_ALLOW_PRIVATE is true', async () => {
    const other = await createAppWithDatabase({
      database: t.database,
      seedAuth: 'api-key',
      webhookUrls: { allowPrivate: true },
    });
    try {
      const token = await other.createPartner(uniqueId('dev'));
      const url = 'http://127.0.0.1:3000/hook';
      const response = await call(
        'POST',
        '/v1/webhooks',
        bearer(token),
        { url, events: ['reservation.held'] },
        other.app,
      );
      expect(response.statusCode).toBe(201);
      expect(response.json<WebhookAnswer>().url).toBe(url);
    } finally {
      await other.close();
    }
  });

  it('refuses the 21st endpoint of a partner with 409, and takes one again once another is deleted', async () => {
    const token = await t.createPartner(uniqueId('many'));
    const ids = [];
    for (let i = 0; i < 20; i++) ids.push((await register(token, { description: `#${i}` })).webhookId);
    const refused = await call('POST', '/v1/webhooks', bearer(token), {
      url: PUBLIC_URL,
      events: ['reservation.held'],
    });
    expectError(refused, 409, 'WEBHOOK_LIMIT_REACHED', /at most 20 webhooks/);
    // Another partner is not affected.
    await register(await t.createPartner(uniqueId('few')));
    expect((await call('DELETE', `/v1/webhooks/${ids[0]}`, bearer(token))).statusCode).toBe(204);
    await register(token);
  });
});

describe('GET /v1/webhooks', () => {
  it('pages through the partner’s own endpoints, oldest first, and none of another partner’s', async () => {
    const token = await t.createPartner(uniqueId('page'));
    await register(await t.createPartner(uniqueId('else')));
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await register(token, { description: `#${i}` })).webhookId);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? '?limit=2' : `?limit=2&cursor=${cursor}`;
      const page = (await call('GET', `/v1/webhooks${query}`, bearer(token))).json<{
        items: WebhookAnswer[];
        nextCursor: string | null;
      }>();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((item) => item.webhookId));
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(seen).toEqual(ids);
  });

  it.each([['?limit=0'], ['?limit=101'], ['?limit=x'], ['?cursor=garbage']])('refuses %s with 400', async (query) => {
    const token = await t.createPartner(uniqueId('q'));
    expectError(await call('GET', `/v1/webhooks${query}`, bearer(token)), 400, 'VALIDATION_ERROR', /^(limit|cursor)/);
  });
});

describe('PATCH and DELETE /v1/webhooks/:webhookId', () => {
  it('changes only the fields sent; null or "" clears the description', async () => {
    const token = await t.createPartner(uniqueId('patch'));
    const created = await register(token, { description: 'Before' });
    const path = `/v1/webhooks/${created.webhookId}`;
    const changed = await call('PATCH', path, bearer(token), {
      url: 'https://93.184.215.15/new',
      events: ['reservation.expired', 'reservation.held'],
    });
    expect(changed.statusCode).toBe(200);
    expect(changed.json()).toMatchObject({
      url: 'https://93.184.215.15/new',
      events: ['reservation.held', 'reservation.expired'],
      description: 'Before',
      enabled: true,
    });
    expect(changed.body).not.toContain(created.secret);
    expect((await call('PATCH', path, bearer(token), { description: null })).json()).not.toHaveProperty('description');
    await call('PATCH', path, bearer(token), { description: 'Again' });
    expect((await call('PATCH', path, bearer(token), { description: '' })).json()).not.toHaveProperty('description');
  });

  it('disables with enabled=false and re-enables with enabled=true', async () => {
    const token = await t.createPartner(uniqueId('onoff'));
    const { webhookId } = await register(token);
    const path = `/v1/webhooks/${webhookId}`;
    expect((await call('PATCH', path, bearer(token), { enabled: false })).json()).toMatchObject({ enabled: false });
    expect((await call('GET', path, bearer(token))).json()).toMatchObject({ enabled: false });
    expect((await call('PATCH', path, bearer(token), { enabled: true })).json()).toMatchObject({ enabled: true });
    expect((await call('GET', path, bearer(token))).json()).toMatchObject({ enabled: true });
  });

  it('shows failingSince and disabledReason when set, and re-enabling clears them', async () => {
    const token = await t.createPartner(uniqueId('dis'));
    const { webhookId } = await register(token);
    const since = new Date('2025-11-20T10:00:00.000Z');
    await t.database.db
      .updateTable('webhook_endpoints')
      .set({ enabled: false, failing_since: since, disabled_reason: 'every attempt failed for 5 days' })
      .where('webhook_id', '=', webhookId)
      .execute();
    const path = `/v1/webhooks/${webhookId}`;
    expect((await call('GET', path, bearer(token))).json()).toMatchObject({
      enabled: false,
      failingSince: since.toISOString(),
      disabledReason: 'every attempt failed for 5 days',
    });
    const enabled = (await call('PATCH', path, bearer(token), { enabled: true })).json<Record<string, unknown>>();
    expect(enabled).toMatchObject({ enabled: true });
    expect(enabled).not.toHaveProperty('failingSince');
    expect(enabled).not.toHaveProperty('disabledReason');
  });

  it.each([
    [{}, 'body must set url, events, description or enabled'],
    [{ url: 'http://10.0.0.1/' }, 'url must reach a public address: 10.0.0.1 is a private address'],
    [{ url: 'mailto:ops@acme.example' }, /^url must be an absolute http/],
    [{ events: [] }, /^events must be/],
    [{ enabled: 'yes' }, 'enabled must be true or false'],
    [{ description: 'x'.repeat(201) }, /^description must be/],
    [{ secret: 'whsec_mine' }, 'secret cannot be set here'],
  ])('refuses %j with 400 naming the field, and changes nothing', async (payload, message) => {
    const token = await t.createPartner(uniqueId('badpatch'));
    const created = await register(token);
    const path = `/v1/webhooks/${created.webhookId}`;
    expectError(await call('PATCH', path, bearer(token), payload), 400, 'VALIDATION_ERROR', message);
    const { secret: _secret, ...unchanged } = created;
    expect((await call('GET', path, bearer(token))).json()).toEqual(unchanged);
  });

  it('deletes with 204; the endpoint is then gone', async () => {
    const token = await t.createPartner(uniqueId('del'));
    const { webhookId } = await register(token);
    const deleted = await call('DELETE', `/v1/webhooks/${webhookId}`, bearer(token));
    expect(deleted.statusCode).toBe(204);
    expect(deleted.body).toBe('');
    expectError(await call('GET', `/v1/webhooks/${webhookId}`, bearer(token)), 404, 'WEBHOOK_NOT_FOUND');
    expectError(await call('DELETE', `/v1/webhooks/${webhookId}`, bearer(token)), 404, 'WEBHOOK_NOT_FOUND');
  });
});

describe('POST /v1/webhooks/:webhookId/rotate-secret', () => {
  it('answers a new secret with no-store; the old one keeps signing for 24 hours', async () => {
    const token = await t.createPartner(uniqueId('rot'));
    const created = await register(token);
    const rotated = await call('POST', `/v1/webhooks/${created.webhookId}/rotate-secret`, bearer(token));
    expect(rotated.statusCode).toBe(200);
    expect(rotated.headers['cache-control']).toBe('no-store');
    const { secret, ...rest } = rotated.json<WebhookAnswer>();
    expect(secret).toMatch(SECRET);
    expect(secret).not.toBe(created.secret);
    const { secret: _old, ...before } = created;
    expect(rest).toEqual(before);
    const row = await t.database.db
      .selectFrom('webhook_endpoints')
      .select(['secret', 'previous_secret', 'previous_secret_until'])
      .where('webhook_id', '=', created.webhookId)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ secret, previous_secret: created.secret });
    const overlap = row.previous_secret_until!.getTime() - t.services.clock.now().getTime();
    expect(overlap).toBeGreaterThan(24 * 3600_000 - 60_000);
    expect(overlap).toBeLessThanOrEqual(24 * 3600_000);
  });
});

describe('who may call the webhook routes', () => {
  const routes = (id: string) =>
    [
      ['POST', '/v1/webhooks', { url: PUBLIC_URL, events: ['reservation.created'] }],
      ['GET', '/v1/webhooks', undefined],
      ['GET', `/v1/webhooks/${id}`, undefined],
      ['PATCH', `/v1/webhooks/${id}`, { enabled: false }],
      ['DELETE', `/v1/webhooks/${id}`, undefined],
      ['POST', `/v1/webhooks/${id}/rotate-secret`, undefined],
      ['POST', `/v1/webhooks/${id}/test`, undefined],
      ['GET', `/v1/webhooks/${id}/deliveries`, undefined],
      ['POST', `/v1/webhooks/${id}/deliveries/msg_${'0'.repeat(32)}/redeliver`, undefined],
    ] as const;

  it('refuses every route without a token (401) and with the admin token (403)', async () => {
    const token = await t.createPartner(uniqueId('acc'));
    const { webhookId } = await register(token);
    for (const [method, url, payload] of routes(webhookId)) {
      expectError(await call(method, url, {}, payload), 401, 'UNAUTHORIZED');
      expectError(await call(method, url, admin, payload), 403, 'FORBIDDEN', "This route needs a partner's API key");
    }
    expect((await call('GET', `/v1/webhooks/${webhookId}`, bearer(token))).json()).toMatchObject({ enabled: true });
  });

  it("answers 404 WEBHOOK_NOT_FOUND for another partner's webhook, an unknown one and a malformed id", async () => {
    const owner = await t.createPartner(uniqueId('own'));
    const created = await register(owner);
    const intruder = await t.createPartner(uniqueId('other'));
    for (const id of [created.webhookId, OTHER_ID, 'not-a-uuid']) {
      for (const [method, url, payload] of routes(id).slice(2)) {
        expectError(await call(method, url, bearer(intruder), payload), 404, 'WEBHOOK_NOT_FOUND');
      }
    }
    // Untouched by all that: still enabled, same secret, nothing queued.
    const { secret: _secret, ...unchanged } = created;
    expect((await call('GET', `/v1/webhooks/${created.webhookId}`, bearer(owner))).json()).toEqual(unchanged);
    const deliveries = await t.database.db
      .selectFrom('webhook_deliveries')
      .select('delivery_id')
      .where('webhook_id', '=', created.webhookId)
      .execute();
    expect(deliveries).toEqual([]);
  });
});

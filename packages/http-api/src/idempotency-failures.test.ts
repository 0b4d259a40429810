import { Writable } from 'node:stream';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppWithDatabase, TEST_ADMIN_TOKEN, type AppWithDatabase } from './testing/app-with-database.js';

/**
 * An Idempotency-Key whose answer cannot be recorded, or whose claim cannot be given back, stays claimed until
 * its lease ends: every retry meanwhile is 409. The database refuses those writes here (a trigger on keys named
 * `fail-...`), and the log must say so.
 */
const logLines: Record<string, unknown>[] = [];
let t: AppWithDatabase;
let token: string;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  t = await createAppWithDatabase({ seedAuth: 'api-key', logger: pino({ level: 'warn' }, sink) });
  token = await t.createPartner('acme');
  await sql`
    CREATE FUNCTION test_only_refuse_key() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'test-only: % of key % refused', TG_OP, OLD.idem_key; END $$
  `.execute(t.database.db);
  // Completing writes the answer (status_code); releasing deletes the row.
  await sql`
    CREATE TRIGGER test_only_refuse_complete BEFORE UPDATE ON idempotency_keys FOR EACH ROW
    WHEN (NEW.status_code IS NOT NULL AND OLD.idem_key LIKE 'fail-%') EXECUTE FUNCTION test_only_refuse_key()
  `.execute(t.database.db);
  await sql`
    CREATE TRIGGER test_only_refuse_release BEFORE DELETE ON idempotency_keys FOR EACH ROW
    WHEN (OLD.idem_key LIKE 'fail-%') EXECUTE FUNCTION test_only_refuse_key()
  `.execute(t.database.db);
  const created = await t.app.inject({
    method: 'POST',
    url: '/v1/events',
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    payload: { eventId: 'tiny', name: 'Tiny', totalSeats: 2 },
  });
  expect(created.statusCode).toBe(201);
});
afterAll(() => t?.close());

const reserve = (eventId: string, key: string) =>
  t.app.inject({
    method: 'POST',
    url: `/v1/events/${eventId}/reservations`,
    headers: { authorization: `Bearer ${token}`, 'idempotency-key': key },
    payload: { seats: 3 },
  });

function warningsFor(key: string) {
  return logLines.filter((line) => line.level === 40 && line.idempotencyKey === key);
}

describe('an Idempotency-Key the database would not complete or give back', () => {
  it('logs the failed complete at warn, with the error, the route, the partner and the key', async () => {
    const first = await reserve('tiny', 'fail-complete');
    expect(first.json()).toMatchObject({ code: 'INSUFFICIENT_SEATS' }); // the answer itself stands
    const [line, ...more] = warningsFor('fail-complete');
    expect(more).toEqual([]);
    expect(line).toMatchObject({
      msg: expect.stringContaining('Idempotency-Key answer not recorded') as unknown,
      partnerId: 'acme',
      route: 'POST /v1/events/:eventId/reservations',
      err: { message: expect.stringContaining('UPDATE of key fail-complete refused') as unknown },
    });
    expect((line!.err as { stack: string }).stack).toContain('test-only');
    // What the line warns of: the key stays claimed, so a retry is 409 until the lease ends.
    expect((await reserve('tiny', 'fail-complete')).json()).toMatchObject({ code: 'IDEMPOTENCY_KEY_IN_USE' });
  });

  it('logs the failed release at warn, with the error, the route, the partner and the key', async () => {
    const first = await reserve('no-such-event', 'fail-release');
    expect(first.statusCode).toBe(404);
    const [line, ...more] = warningsFor('fail-release');
    expect(more).toEqual([]);
    expect(line).toMatchObject({
      msg: expect.stringContaining('Idempotency-Key not given back') as unknown,
      partnerId: 'acme',
      route: 'POST /v1/events/:eventId/reservations',
      err: { message: expect.stringContaining('DELETE of key fail-release refused') as unknown },
    });
    expect((await reserve('no-such-event', 'fail-release')).json()).toMatchObject({ code: 'IDEMPOTENCY_KEY_IN_USE' });
  });
});

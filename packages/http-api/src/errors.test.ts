import { Writable } from 'node:stream';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppWithDatabase, type AppWithDatabase } from './testing/app-with-database.js';

const logLines: string[] = [];
let t: AppWithDatabase;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  t = await createAppWithDatabase({ logger: pino({ level: 'info' }, sink) });
});
afterAll(() => t.close());

describe('when the database fails inside a reservation', () => {
  it('answers a bare 500, keeps seats and version unchanged, and logs the cause', async () => {
    await sql`ALTER TABLE reservations ADD CONSTRAINT test_only_reject CHECK (partner_id <> 'explode')`.execute(
      t.database.db,
    );
    const before = (await t.app.inject({ method: 'GET', url: '/reservations' })).json<unknown>();

    const response = await t.app.inject({
      method: 'POST',
      url: '/reservations',
      headers: { 'content-type': 'application/json', 'x-request-id': 'explode-1' },
      payload: { partnerId: 'explode', seats: 5 },
    });

    expect(response.statusCode).toBe(500);
    expect(response.json()).toEqual({ error: 'Internal server error', code: 'INTERNAL_ERROR' });
    expect(response.body).not.toMatch(/constraint|reservations|sql|stack|at /i);
    expect((await t.app.inject({ method: 'GET', url: '/reservations' })).json()).toEqual(before);
    expect(await t.invariantBreaches()).toEqual([]);
    const logged = logLines.map(
      (line) => JSON.parse(line) as { reqId?: string; level: number; err?: { message: string } },
    );
    expect(logged).toContainEqual(
      expect.objectContaining({
        reqId: 'explode-1',
        level: 50,
        err: expect.objectContaining({ message: expect.stringContaining('test_only_reject') }),
      }),
    );

    await sql`ALTER TABLE reservations DROP CONSTRAINT test_only_reject`.execute(t.database.db);
    const retried = await t.app.inject({
      method: 'POST',
      url: '/reservations',
      headers: { 'content-type': 'application/json' },
      payload: { partnerId: 'explode', seats: 5 },
    });
    expect(retried.statusCode).toBe(201);
  });
});

import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { createTestDatabase, waitUntil, type TestDatabase } from '@ticketboss/adapters-postgres/testing';
import { sql } from 'kysely';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { start } from './start.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Whether something accepts a TCP connection at the URL's port. */
function accepts(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** This test's server's connections to its database, told apart by application_name. */
const APPLICATION = 'ticketboss-start-test';
const connections = async (database: TestDatabase) =>
  (
    await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = ${APPLICATION}`.execute(database.db)
  ).rows[0]!.n;

describe('start()', () => {
  it('serves over HTTP in-process, and close() frees the port and closes the pools', async () => {
    const database = await createTestDatabase({ migrated: false });
    cleanups.push(() => database.drop());
    const url = new URL(database.url);
    url.searchParams.set('application_name', APPLICATION);
    const config = loadConfig({
      DATABASE_URL: url.toString(),
      PORT: '0',
      HOST: '127.0.0.1',
      TICKETBOSS_ADMIN_TOKEN: 'start-test-admin-token-0000000000',
    });
    const lines: string[] = [];
    const logger = pino(
      { level: 'info' },
      new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString()), done()) }),
    );

    const server = await start(config, logger);
    let closed = false;
    cleanups.push(async () => {
      if (!closed) await server.close();
    });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const answer = await fetch(`${server.url}/reservations`);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ eventId: 'node-meetup-2025', availableSeats: 500 });
    const events = await fetch(`${server.url}/v1/events`, {
      headers: { authorization: 'Bearer start-test-admin-token-0000000000' },
    });
    expect(events.status).toBe(200);
    expect(await connections(database)).toBeGreaterThan(0);

    await server.close();
    closed = true;
    expect(await accepts(server.url)).toBe(false);
    // The backends may take a moment to leave pg_stat_activity once their client hung up.
    await waitUntil(async () => (await connections(database)) === 0, "the server's connections to close");
    expect(lines.join('')).toContain('"msg":"stopped"');
  });

  it('passes TICKETBOSS_TRUST_PROXY to the HTTP server: the forwarded client is the one logged', async () => {
    const database = await createTestDatabase({ migrated: false });
    cleanups.push(() => database.drop());
    const lines: string[] = [];
    const logger = pino(
      { level: 'info' },
      new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString()), done()) }),
    );
    const config = loadConfig({
      DATABASE_URL: database.url,
      PORT: '0',
      HOST: '127.0.0.1',
      TICKETBOSS_ADMIN_TOKEN: 'start-test-admin-token-0000000000',
      TICKETBOSS_TRUST_PROXY: '127.0.0.1',
    });
    const server = await start(config, logger);
    cleanups.push(() => server.close());
    const answer = await fetch(`${server.url}/health`, {
      headers: { 'x-forwarded-for': '203.0.113.7', 'x-request-id': 'forwarded-1' },
    });
    expect(answer.status).toBe(200);
    const logged = () =>
      lines
        .map((line) => JSON.parse(line) as { reqId?: string; req?: { remoteAddress?: string } })
        .find((line) => line.reqId === 'forwarded-1');
    await waitUntil(() => logged() !== undefined, 'the log line of the forwarded request');
    expect(logged()!.req!.remoteAddress).toBe('203.0.113.7');
  });
});

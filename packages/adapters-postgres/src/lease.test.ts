import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPostgresLease } from './lease.js';
import { createTestDatabase, setDatabaseClockOffset, type TestDatabase } from './testing/index.js';

let database: TestDatabase;
let name = '';
let leases = 0;

beforeAll(async () => {
  database = await createTestDatabase();
});
// Each test on a lease of its own name.
beforeEach(() => {
  leases += 1;
  name = `lease-${leases}`;
});
afterEach(() => setDatabaseClockOffset(database.db, 0));
afterAll(() => database.drop());

const TTL_MS = 60_000;
const lease = (holder: string, ttlMs = TTL_MS) => createPostgresLease(database.db, { name, holder, ttlMs });

describe('a lease in ticketboss_leases', () => {
  it('is taken by one holder, renewed by it, refused to others until released', async () => {
    const [a, b] = [lease('a'), lease('b')];
    expect(await a.acquire()).toBe(true);
    expect(await b.acquire()).toBe(false);
    expect(await a.acquire()).toBe(true);
    expect(await b.acquire()).toBe(false);
    await b.release(); // not b's: changes nothing
    expect(await b.acquire()).toBe(false);
    await a.release();
    expect(await b.acquire()).toBe(true);
    expect(await a.acquire()).toBe(false);
  });

  it('goes to exactly one of many holders asking at once', async () => {
    const holders = Array.from({ length: 10 }, (_, i) => lease(`holder-${i}`));
    const taken = await Promise.all(holders.map((holder) => holder.acquire()));
    expect(taken.filter(Boolean)).toHaveLength(1);
  });

  it("is taken over once it has run out on the database's time, and not before", async () => {
    const [a, b] = [lease('a'), lease('b')];
    expect(await a.acquire()).toBe(true);
    await setDatabaseClockOffset(database.db, TTL_MS - 1000);
    expect(await b.acquire()).toBe(false);
    await setDatabaseClockOffset(database.db, TTL_MS + 1000);
    expect(await b.acquire()).toBe(true);
    // The former holder, back, finds it taken.
    expect(await a.acquire()).toBe(false);
  });
});

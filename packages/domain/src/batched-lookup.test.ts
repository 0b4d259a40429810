import { describe, expect, it } from 'vitest';
import { createBatchedLookup } from './batched-lookup.js';

describe('createBatchedLookup', () => {
  it('shares one fetch among the calls that waited, and never lets a call join a fetch already in flight', async () => {
    const store = new Map([['k', 'v1']]);
    const fetches: string[][] = [];
    let release: (() => void) | undefined;
    const lookup = createBatchedLookup<string, string>(async (keys) => {
      fetches.push([...keys]);
      // Read the store only once released, as a query's snapshot would be taken when it runs.
      await new Promise<void>((resolve) => (release = resolve));
      return new Map(keys.flatMap((key) => (store.has(key) ? [[key, store.get(key)!] as const] : [])));
    });

    const first = lookup('k');
    store.set('k', 'v2'); // a change answered after `first` was asked, before its fetch has read anything
    const second = lookup('k');
    const third = lookup('other');
    release!();
    await Promise.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    release!();
    expect(await first).toBe('v2');
    expect(await second).toBe('v2');
    expect(await third).toBeUndefined();
    // The second and third calls arrived during the first fetch: they shared the next one, each key once.
    expect(fetches).toEqual([['k'], ['k', 'other']]);
  });

  it('fails the calls of a failed fetch and goes on with the next', async () => {
    let fail = true;
    const lookup = createBatchedLookup<string, number>(async (keys) => {
      if (fail) {
        fail = false;
        throw new Error('down');
      }
      return new Map(keys.map((key) => [key, key.length]));
    });
    await expect(lookup('abc')).rejects.toThrow('down');
    expect(await lookup('abcd')).toBe(4);
  });
});

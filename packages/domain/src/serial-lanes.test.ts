import { describe, expect, it } from 'vitest';
import { createSerialLanes } from './serial-lanes.js';

const later = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('serial lanes', () => {
  it('runs tasks for one key one at a time, in arrival order', async () => {
    const lanes = createSerialLanes();
    const log: string[] = [];
    let running = 0;
    const task = (name: string, ms: number) => async () => {
      running += 1;
      expect(running).toBe(1);
      log.push(`start ${name}`);
      await later(ms);
      log.push(`end ${name}`);
      running -= 1;
      return name;
    };
    const results = await Promise.all([
      lanes.run('e', task('a', 20)),
      lanes.run('e', task('b', 1)),
      lanes.run('e', task('c', 5)),
    ]);
    expect(results).toEqual(['a', 'b', 'c']);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  it('runs different keys independently', async () => {
    const lanes = createSerialLanes();
    const log: string[] = [];
    await Promise.all([
      lanes.run('slow', async () => {
        await later(30);
        log.push('slow');
      }),
      lanes.run('fast', async () => {
        log.push('fast');
      }),
    ]);
    expect(log).toEqual(['fast', 'slow']);
  });

  it('goes on after a task fails, and forgets idle keys', async () => {
    const lanes = createSerialLanes();
    await expect(lanes.run('e', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(lanes.run('e', () => Promise.resolve(42))).resolves.toBe(42);
    await later(0);
    expect(lanes.activeKeys).toBe(0);
  });
});

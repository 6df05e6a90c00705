/**
 * KeyedSerialQueue: order per key, independence across keys, and no task lost whenever it is
 * queued (inside a running task, in the microtasks after one settled, after a failure).
 */
import { describe, expect, it } from 'vitest';
import { KeyedSerialQueue } from '../../src/registry/keyed-serial-queue.js';
import { outcomeWithin } from '../support/eventually.js';

/** A promise settled from outside, to hold a task open as long as the test needs. */
function deferred(): { promise: Promise<void>; resolve(): void; reject(error: unknown): void } {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('KeyedSerialQueue', () => {
  it('runs the tasks of one key one at a time, in order, and starts the first at once', async () => {
    const queue = new KeyedSerialQueue<string>();
    const log: string[] = [];
    const gates = [deferred(), deferred(), deferred()];
    const results = gates.map((gate, i) =>
      queue.run('a', async () => {
        log.push(`start ${i}`);
        await gate.promise;
        log.push(`end ${i}`);
        return i;
      }),
    );
    expect(log).toEqual(['start 0']);
    gates[2]!.resolve();
    gates[1]!.resolve();
    await Promise.resolve();
    expect(log).toEqual(['start 0']);
    gates[0]!.resolve();
    expect(await Promise.all(results)).toEqual([0, 1, 2]);
    expect(log).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
    await queue.idle();
    expect(queue.size).toBe(0);
  });

  it('runs different keys independently', async () => {
    const queue = new KeyedSerialQueue<string>();
    const held = deferred();
    let aDone = false;
    const a = queue.run('a', () => held.promise.then(() => 'a')).finally(() => (aDone = true));
    const b = queue.run('b', async () => 'b');
    expect(await b).toBe('b');
    expect(aDone).toBe(false);
    held.resolve();
    expect(await a).toBe('a');
  });

  it('keeps going after a task fails, and hands the failure to that task\'s caller only', async () => {
    const queue = new KeyedSerialQueue<string>();
    const failed = queue.run('a', async () => {
      throw new Error('boom');
    });
    const thrownSync = queue.run('a', (() => {
      throw new Error('sync boom');
    }) as () => Promise<never>);
    const next = queue.run('a', async () => 'next');
    await expect(failed).rejects.toThrow('boom');
    await expect(thrownSync).rejects.toThrow('sync boom');
    expect(await next).toBe('next');
  });

  it('runs a task queued from inside a running task of the same key after it, not beside it', async () => {
    const queue = new KeyedSerialQueue<string>();
    const log: string[] = [];
    let inner: Promise<void> | undefined;
    await queue.run('a', async () => {
      log.push('outer start');
      inner = queue.run('a', async () => {
        log.push('inner');
      });
      await Promise.resolve();
      log.push('outer end');
    });
    await inner;
    expect(log).toEqual(['outer start', 'outer end', 'inner']);
  });

  it('never loses a task queued in any of the microtasks after the previous one settled', async () => {
    const queue = new KeyedSerialQueue<number>();
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, async (_, hops) => {
        const second = queue.run(hops, async () => undefined).then(async () => {
          for (let i = 0; i < hops; i++) await Promise.resolve();
          return queue.run(hops, async () => 'ran');
        });
        const ran = second.then((value) => {
          if (value !== 'ran') throw new Error(`the task answered ${String(value)}`);
        });
        return `${hops} microtasks later: ${await outcomeWithin(ran, 5_000)}`;
      }),
    );
    expect(outcomes).toEqual(Array.from({ length: 10 }, (_, hops) => `${hops} microtasks later: resolved`));
    await queue.idle();
    expect(queue.size).toBe(0);
  });

  it('idle() waits for tasks queued while it waits', async () => {
    const queue = new KeyedSerialQueue<string>();
    const log: string[] = [];
    void queue.run('a', async () => {
      log.push('first');
      void queue.run('b', async () => {
        await Promise.resolve();
        log.push('queued meanwhile');
      });
    });
    await queue.idle();
    expect(log).toEqual(['first', 'queued meanwhile']);
    expect(queue.size).toBe(0);
  });
});

import { describe, expect, test } from 'vitest';
import { QueueFullError, defineTool, shared } from 'toolbridge';
import { rejection, testBridge } from './helpers.js';

describe('retries after a worker crash', () => {
  test("a call whose worker dies is run again on another worker, up to the tool's retries", async () => {
    const bridge = await testBridge({ maxThreads: 2 });
    try {
      const once = shared(Int32Array, 1);
      expect(await bridge.call('test.crashOnce', { counter: once, value: 'second try' })).toBe('second try');
      expect(once[0]).toBe(2);

      const twice = shared(Int32Array, 1);
      const error = await rejection(bridge.call('test.crashTwice', { counter: twice }));
      expect(error.code).toBe('WORKER_CRASHED');
      expect(twice[0]).toBe(2); // one run and one retry, then it gave up
    } finally {
      await bridge.close();
    }
  });

  test('retries default to 1 for idempotent tools and 0 otherwise', () => {
    expect(defineTool({ name: 'a.b', run: () => 0 }).retries).toBe(0);
    expect(defineTool({ name: 'a.b', idempotent: true, run: () => 0 }).retries).toBe(1);
    expect(() => defineTool({ name: 'a.b', retries: -1, run: () => 0 })).toThrow(
      /retries must be a non-negative integer/,
    );
  });
});

describe('back-pressure', () => {
  test('past maxQueue a call is refused at once with QUEUE_FULL; no other call is lost; drain follows', async () => {
    const bridge = await testBridge({ maxThreads: 1, maxQueue: 2 });
    try {
      let drained = 0;
      bridge.on('drain', () => drained++);
      const accepted = [0, 1, 2].map((i) => bridge.call('test.sleep', { ms: 40, value: i })); // 1 running, 2 queued
      const refused = await rejection(bridge.call('test.sleep', { ms: 1, value: 'x' }));
      expect(refused).toBeInstanceOf(QueueFullError);
      expect(refused.code).toBe('QUEUE_FULL');
      expect((refused as QueueFullError).maxQueue).toBe(2);
      expect(await Promise.all(accepted)).toEqual([0, 1, 2]);
      expect(drained).toBe(1);
      expect(await bridge.call('test.echo', 'after')).toBe('after');
    } finally {
      await bridge.close();
    }
  });

  test('a batch keeps within the bound: it refuses nothing on an idle pool', async () => {
    const bridge = await testBridge({ maxThreads: 1, maxQueue: 0 });
    try {
      const entries = await bridge.batch(Array.from({ length: 200 }, (_, i) => ({ tool: 'test.echo', args: i })));
      expect(entries.every((e, i) => e.ok && e.value === i)).toBe(true);
    } finally {
      await bridge.close();
    }
  });

  test('a call timed out or aborted in the queue leaves it at once: its place is free for the next call', async () => {
    const bridge = await testBridge({ maxThreads: 1, maxQueue: 1 });
    try {
      const running = bridge.call('test.sleep', { ms: 300, value: 'first' });
      expect((await rejection(bridge.call('test.echo', 1, { timeoutMs: 20 }))).code).toBe('TIMEOUT');
      const controller = new AbortController();
      const aborted = rejection(bridge.call('test.echo', 2, { signal: controller.signal }));
      controller.abort();
      expect((await aborted).code).toBe('ABORTED');
      expect(bridge.stats().pools.default!.queued).toBe(0);
      // Not QUEUE_FULL: neither call counts against maxQueue any more.
      const next = bridge.call('test.echo', 3);
      expect(await running).toBe('first');
      expect(await next).toBe(3);
    } finally {
      await bridge.close();
    }
  });

  test('a call whose deadline passes while it waits never starts, and no worker is stopped for it', async () => {
    const bridge = await testBridge({ maxThreads: 1 });
    try {
      const exits: string[] = [];
      bridge.on('workerExit', (event) => exits.push(event.reason));
      const x = shared(Float64Array, 4);
      // The worker is busy for at least 120 ms; the queued call's limit (100 ms) passes before it is free.
      const running = bridge.call('test.sleep', { ms: 120, value: 'first' });
      const late = await rejection(bridge.call('test.fill', { x, value: 7 }, { timeoutMs: 100 }));
      expect(late.code).toBe('TIMEOUT');
      expect((late as Error & { timeoutMs?: number }).timeoutMs).toBe(100);
      expect(await running).toBe('first');
      expect(await bridge.call('test.echo', 'after')).toBe('after');
      expect([...x]).toEqual([0, 0, 0, 0]); // it never ran
      expect(bridge.stats().recycles.byReason.timeout).toBe(0);
      expect(exits).toEqual([]);
    } finally {
      await bridge.close();
    }
  });

  test('maxQueue is checked', async () => {
    const error = await rejection(testBridge({ maxQueue: -1 }));
    expect(error.message).toBe('options.maxQueue must be a non-negative integer, got -1 (number)');
  });
});

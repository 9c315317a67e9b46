import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createBridge, shared, type BatchEntry, type BatchProgress, type Bridge, type StreamEntry } from 'toolbridge';
import { fixture, rejection } from './helpers.js';

let bridge: Bridge;
beforeAll(async () => {
  bridge = await createBridge({ maxThreads: 2, tools: [fixture('batch-tools.js'), fixture('basic-tools.js')] });
});
afterAll(() => bridge.close());

const chunksOf = (tool: string) => bridge.stats().tools[tool]?.chunks ?? 0;
const values = (entries: BatchEntry[]) => entries.map((e) => (e.ok ? e.value : e.error.code));

describe('bridge.batch', () => {
  test('returns one entry per call, in input order, across mixed tools', async () => {
    const a = shared(Float64Array, 3).fill(2);
    const calls = Array.from({ length: 200 }, (_, i) =>
      i % 3 === 0 ? { tool: 'vector.dot', args: { a, b: a } } : { tool: 'batch.add', args: i },
    );
    const entries = await bridge.batch(calls);
    expect(entries).toHaveLength(200);
    entries.forEach((entry, i) => {
      expect(entry.ok).toBe(true);
      if (entry.ok) expect(entry.value).toBe(i % 3 === 0 ? 12 : i + 1);
    });
  });

  test('one failing call fails alone, with its own code', async () => {
    const calls = [
      { tool: 'batch.failOdd', args: 2 },
      { tool: 'batch.failOdd', args: 3 },
      { tool: 'no.such.tool', args: 1 },
      null,
      { tool: 'batch.add', args: () => 1 },
      { tool: 'batch.add', args: 41 },
      { tool: 'batch.add', args: 1, timeoutMs: -1 },
    ];
    const entries = await bridge.batch(calls as never);
    expect(values(entries)).toEqual([
      2,
      'TOOL_FAILED',
      'TOOL_NOT_FOUND',
      'INVALID_ARGS',
      'INVALID_ARGS',
      42,
      'INVALID_OPTIONS',
    ]);
    const failed = entries[1]!;
    expect(!failed.ok && (failed.error.cause as Error).message).toBe('odd: 3');
  });

  test('in one chunk, a call that cannot be sent and one that fails in the worker each fail alone', async () => {
    const calls = [2, 4, () => 1, 5, 6].map((args) => ({ tool: 'batch.failOdd', args }));
    const entries = await bridge.batch([{ tool: 'batch.add', args: 1 }, ...calls] as never, { chunkSize: 8 });
    expect(values(entries)).toEqual([2, 2, 4, 'INVALID_ARGS', 'TOOL_FAILED', 6]);
    const unsent = entries[3]!;
    // Named by its position in the batch, not in its chunk.
    expect(!unsent.ok && unsent.error.message).toContain('calls[3].args is a function');
  });

  test('groups calls by tool into chunks of chunkSize, one worker task each', async () => {
    const before = chunksOf('batch.add');
    const entries = await bridge.batch(
      Array.from({ length: 100 }, (_, i) => ({ tool: 'batch.add', args: i })),
      { chunkSize: 10 },
    );
    expect(values(entries)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(chunksOf('batch.add') - before).toBe(10);
  });

  test('sizes chunks automatically: far fewer tasks than calls for a cheap tool', async () => {
    const before = chunksOf('batch.add');
    const n = 20_000;
    const entries = await bridge.batch(Array.from({ length: n }, (_, i) => ({ tool: 'batch.add', args: i })));
    expect(entries.every((e, i) => e.ok && e.value === i + 1)).toBe(true);
    const chunks = chunksOf('batch.add') - before;
    expect(chunks).toBeGreaterThanOrEqual(2); // spread over both threads
    expect(chunks).toBeLessThan(n / 50);
  });

  test('uses runBatch when the tool defines it', async () => {
    const entries = await bridge.batch(Array.from({ length: 5 }, () => ({ tool: 'batch.where' })));
    expect(values(entries)).toEqual(new Array(5).fill('runBatch'));
    expect(await bridge.call('batch.where')).toBe('run');
  });

  test('a runBatch that returns the wrong number of results fails its chunk with TOOL_FAILED', async () => {
    const entries = await bridge.batch([{ tool: 'batch.badRunBatch' }, { tool: 'batch.badRunBatch' }], {
      chunkSize: 2,
    });
    expect(values(entries)).toEqual(['TOOL_FAILED', 'TOOL_FAILED']);
    expect(!entries[0]!.ok && entries[0]!.error.message).toContain('one result per call');
  });

  test('typed arrays in shared memory cross with no copy, both ways', async () => {
    const arrays = Array.from({ length: 8 }, (_, i) => shared(Float64Array, 1000).fill(i));
    const before = bridge.stats().bytes.copied;
    const entries = await bridge.batch<Float64Array>(arrays.map((x) => ({ tool: 'batch.double', args: { x } })));
    expect(bridge.stats().bytes.copied).toBe(before);
    entries.forEach((entry, i) => {
      expect(entry.ok && entry.value[999]).toBe(2 * i);
      expect(arrays[i]![0]).toBe(2 * i); // the worker wrote into the caller's memory
    });
  });

  test('reports progress as chunks complete', async () => {
    const events: BatchProgress[] = [];
    await bridge.batch(
      Array.from({ length: 50 }, (_, i) => ({ tool: 'batch.failOdd', args: i })),
      { chunkSize: 10, onProgress: (p) => events.push(p) },
    );
    expect(events).toHaveLength(5);
    expect(events.map((e) => e.done)).toEqual([10, 20, 30, 40, 50]);
    expect(events.at(-1)).toEqual({ done: 50, total: 50, failed: 25 });
  });

  test('abort: finished calls keep their values, the rest are ABORTED', async () => {
    const controller = new AbortController();
    const calls = Array.from({ length: 40 }, (_, i) => ({ tool: 'batch.slow', args: { ms: 20, value: i } }));
    // Aborted once three calls are done, however fast or slow the machine is.
    const onProgress = ({ done }: { done: number }) => done >= 3 && controller.abort(new Error('enough'));
    const pending = bridge.batch(calls, { chunkSize: 1, signal: controller.signal, onProgress });
    const entries = await pending;
    expect(entries).toHaveLength(40);
    const ok = entries.filter((e) => e.ok);
    const aborted = entries.filter((e) => !e.ok);
    expect(ok.length).toBeGreaterThan(0);
    expect(aborted.length).toBeGreaterThan(0);
    expect(aborted.every((e) => !e.ok && e.error.code === 'ABORTED')).toBe(true);
    entries.forEach((e, i) => e.ok && expect(e.value).toBe(i));
    expect(await bridge.call('batch.add', 1)).toBe(2);
  });

  test('each call of a chunk has a ctx.signal of its own: listeners do not pile up', async () => {
    const entries = await bridge.batch(
      Array.from({ length: 30 }, () => ({ tool: 'batch.listeners' })),
      { chunkSize: 30 },
    );
    expect(values(entries)).toEqual(Array.from({ length: 30 }, () => 1));
  });

  test('an already aborted signal aborts every call', async () => {
    const controller = new AbortController();
    controller.abort();
    const entries = await bridge.batch([{ tool: 'batch.add', args: 1 }], { signal: controller.signal });
    expect(values(entries)).toEqual(['ABORTED']);
  });

  test('per-call timeouts fail only the calls that pass them', async () => {
    const entries = await bridge.batch(
      [
        { tool: 'batch.slow', args: { ms: 1, value: 'fast' }, timeoutMs: 5_000 },
        { tool: 'batch.slow', args: { ms: 2_000, value: 'slow' }, timeoutMs: 100 },
      ],
      { chunkSize: 1 },
    );
    expect(values(entries)).toEqual(['fast', 'TIMEOUT']);
    const timedOut = entries[1]!;
    expect(!timedOut.ok && timedOut.error).toMatchObject({ timeoutMs: 100 });
    expect(!timedOut.ok && timedOut.error.message).toContain('did not finish within 100 ms');
  });

  test('a chunk stopped at its deadline tells each call the limit it set, not the time left', async () => {
    const entries = await bridge.batch(
      [
        { tool: 'batch.slow', args: { ms: 2_000, value: 'a' }, timeoutMs: 50 },
        { tool: 'batch.slow', args: { ms: 2_000, value: 'b' }, timeoutMs: 60 },
      ],
      { chunkSize: 2 },
    );
    expect(values(entries)).toEqual(['TIMEOUT', 'TIMEOUT']);
    const limits = entries.map((entry) => (entry.ok ? undefined : (entry.error as { timeoutMs?: number }).timeoutMs));
    expect(limits).toEqual([50, 60]);
    expect(await bridge.call('batch.add', 1)).toBe(2);
  });

  test('a crash fails only its chunk with WORKER_CRASHED', async () => {
    const calls = ['a', 'b', 'boom', 'c', 'd', 'e'].map((args) => ({ tool: 'batch.crashOn', args }));
    const entries = await bridge.batch(calls, { chunkSize: 3 });
    expect(values(entries)).toEqual(['WORKER_CRASHED', 'WORKER_CRASHED', 'WORKER_CRASHED', 'c', 'd', 'e']);
    expect(await bridge.call('batch.add', 1)).toBe(2);
  });

  test('an idempotent tool whose chunk crashes is retried once on another worker', async () => {
    const counter = shared(Int32Array, 1);
    const calls = Array.from({ length: 4 }, (_, i) => ({ tool: 'batch.crashOnce', args: { counter, value: i } }));
    const entries = await bridge.batch(calls, { chunkSize: 4 });
    expect(values(entries)).toEqual([0, 1, 2, 3]);
    expect(counter[0]).toBeGreaterThan(1); // it did crash once
  });

  test('validates its arguments', async () => {
    expect((await rejection(bridge.batch('nope' as never))).code).toBe('INVALID_OPTIONS');
    expect((await rejection(bridge.batch([], { chunkSize: 0 }))).code).toBe('INVALID_OPTIONS');
    expect((await rejection(bridge.batch([], { onProgress: 1 as never }))).code).toBe('INVALID_OPTIONS');
    expect(await bridge.batch([])).toEqual([]);
  });
});

describe('bridge.stream', () => {
  test('yields every call exactly once, as chunks complete', async () => {
    const calls = Array.from({ length: 300 }, (_, i) => ({ tool: 'batch.failOdd', args: i }));
    const seen: StreamEntry[] = [];
    for await (const entry of bridge.stream(calls, { chunkSize: 25 })) seen.push(entry);
    expect(seen.map((e) => e.index).sort((a, b) => a - b)).toEqual(calls.map((_, i) => i));
    for (const entry of seen) {
      if (entry.index % 2 === 0) expect(entry).toMatchObject({ ok: true, value: entry.index });
      else expect(entry.ok === false && entry.error.code).toBe('TOOL_FAILED');
    }
  });

  test('stopping early aborts the rest and leaves the bridge serving', async () => {
    const calls = Array.from({ length: 50 }, (_, i) => ({ tool: 'batch.slow', args: { ms: 10, value: i } }));
    let count = 0;
    for await (const entry of bridge.stream(calls, { chunkSize: 1 })) {
      expect(entry.ok).toBe(true);
      if (++count === 3) break;
    }
    expect(count).toBe(3);
    expect(await bridge.call('batch.add', 1)).toBe(2);
  });
});

describe('micro-batching of single calls', () => {
  test('concurrent calls coalesce into chunks of maxSize; each caller gets its own result', async () => {
    const before = chunksOf('batch.micro');
    const results = await Promise.all(Array.from({ length: 32 }, (_, i) => bridge.call('batch.micro', i)));
    expect(results).toEqual(Array.from({ length: 32 }, (_, i) => i * 2));
    expect(chunksOf('batch.micro') - before).toBe(4);
  });

  test('once a tool is measured as costly, the calls waiting leave in chunks that the workers share', async () => {
    const own = await createBridge({ maxThreads: 2, tools: [fixture('batch-tools.js')] });
    try {
      const chunks = () => own.stats().tools['batch.microCostly']?.chunks ?? 0;
      // Unmeasured: the two calls leave together, as one chunk, and teach the bridge the tool's cost.
      await Promise.all([own.call('batch.microCostly', { ms: 5 }), own.call('batch.microCostly', { ms: 5 })]);
      expect(chunks()).toBe(1);
      // 5 ms a call is more than a chunk should hold: eight calls leave as eight chunks, run on both workers.
      const workers = await Promise.all(Array.from({ length: 8 }, () => own.call('batch.microCostly', { ms: 5 })));
      expect(chunks()).toBe(9);
      expect(new Set(workers).size).toBe(2);
    } finally {
      await own.close();
    }
  });

  /** Keeps both workers of the shared bridge busy for `ms`. */
  const occupyWorkers = (ms: number) => Promise.all([1, 2].map((value) => bridge.call('batch.slow', { ms, value })));
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  test('with a worker free, a call leaves at once: one made 10 ms later goes in a chunk of its own', async () => {
    const before = chunksOf('batch.microSlowWait');
    const first = bridge.call('batch.microSlowWait', 1);
    await sleep(10);
    const second = bridge.call('batch.microSlowWait', 2);
    expect(await Promise.all([first, second])).toEqual([3, 6]);
    expect(chunksOf('batch.microSlowWait') - before).toBe(2);
  });

  test('while every worker is busy, calls wait (up to maxWaitMs) and leave together', async () => {
    const busy = occupyWorkers(300);
    const before = chunksOf('batch.microSlowWait');
    const first = bridge.call('batch.microSlowWait', 1);
    await sleep(10);
    const second = bridge.call('batch.microSlowWait', 2);
    expect(await Promise.all([first, second])).toEqual([3, 6]);
    expect(chunksOf('batch.microSlowWait') - before).toBe(1);
    await busy;
  });

  test("a caller's abort or time limit settles that caller alone", async () => {
    const busy = occupyWorkers(100);
    const controller = new AbortController();
    const aborted = bridge.call('batch.microSlowWait', 1, { signal: controller.signal });
    const timedOut = bridge.call('batch.microSlowWait', 2, { timeoutMs: 5 });
    const fine = bridge.call('batch.microSlowWait', 3);
    controller.abort();
    expect((await rejection(aborted)).code).toBe('ABORTED');
    expect((await rejection(timedOut)).code).toBe('TIMEOUT');
    expect(await fine).toBe(9);
    await busy;
  });

  test('close() sends waiting calls at once and waits for them', async () => {
    const own = await createBridge({ maxThreads: 1, tools: [fixture('batch-tools.js')] });
    const pending = own.call('batch.microSlowWait', 5);
    await own.close();
    expect(await pending).toBe(15);
  });
});

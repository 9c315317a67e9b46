/**
 * The call pipeline over a second implementation of the Dispatcher seam: an in-process double that decodes
 * each message, runs a function, and encodes the reply as a worker would. No threads.
 */
import { describe, expect, test } from 'vitest';
import { ResultCache } from '../../src/cache/result-cache.js';
import type { ToolBridgeError } from '../../src/errors.js';
import { resolveOptions } from '../../src/options.js';
import { outcomeAt } from '../../src/call/chunk-calls.js';
import { HANG, InProcessDispatcher, info, pipelineOver } from './in-process-dispatcher.js';

describe('the call pipeline over an in-process Dispatcher', () => {
  const tools = {
    add: (args: unknown) => (args as { a: number; b: number }).a + (args as { a: number; b: number }).b,
    scale: (args: unknown) => {
      const { x, k } = args as { x: Float64Array; k: number };
      return x.map((v) => v * k);
    },
    fail: () => {
      throw Object.assign(new RangeError('bad'), { status: 400 });
    },
    hang: HANG,
  };

  test('a call goes through the seam and back: lookup, encode, dispatch, decode, record', async () => {
    const dispatcher = new InProcessDispatcher(tools);
    const { pipeline, stats, inFlight } = await pipelineOver(dispatcher, [info('add'), info('scale')]);
    expect(await pipeline.call('add', { a: 2, b: 3 }, undefined)).toBe(5);
    const scaled = (await pipeline.call('scale', { x: Float64Array.from([1, 2]), k: 3 }, undefined)) as Float64Array;
    expect([...scaled]).toEqual([3, 6]);
    expect(dispatcher.submitted).toBe(2);
    expect(inFlight()).toBe(0);
    const snapshot = stats.snapshot(new ResultCache(resolveOptions().cache!).stats(), {
      recycles: [],
      workers: [],
      pools: {},
      codecs: { shared: 0, arrow: 0, clone: 0, msgpack: 0, copied: 0 },
    });
    expect(snapshot.tools.add?.calls).toBe(1);
  });

  test('an unknown tool and bad options fail before anything is dispatched', async () => {
    const dispatcher = new InProcessDispatcher(tools);
    const { pipeline } = await pipelineOver(dispatcher, [info('add')]);
    await expect(pipeline.call('nope', {}, undefined)).rejects.toMatchObject({ code: 'TOOL_NOT_FOUND' });
    await expect(pipeline.call('add', {}, { timeout: 5 } as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    expect(dispatcher.submitted).toBe(0);
  });

  test("a tool's error comes back as TOOL_FAILED keeping its properties", async () => {
    const { pipeline } = await pipelineOver(new InProcessDispatcher(tools), [info('fail')]);
    const error = (await pipeline.call('fail', {}, undefined).catch((e: unknown) => e)) as ToolBridgeError;
    expect(error.code).toBe('TOOL_FAILED');
    expect(error.cause).toMatchObject({ name: 'RangeError', message: 'bad', status: 400 });
  });

  test('a backend failure under a call is retried up to the tool retries, then WORKER_CRASHED', async () => {
    const dispatcher = new InProcessDispatcher(tools);
    const { pipeline } = await pipelineOver(dispatcher, [info('add', { retries: 1 }), info('fail', { retries: 0 })]);
    dispatcher.crashes = 1;
    expect(await pipeline.call('add', { a: 1, b: 1 }, undefined)).toBe(2);
    expect(dispatcher.submitted).toBe(2);
    dispatcher.crashes = 2;
    await expect(pipeline.call('add', { a: 1, b: 1 }, undefined)).rejects.toMatchObject({ code: 'WORKER_CRASHED' });
  });

  test('the time limit and the caller abort settle a call the backend never answers', async () => {
    const { pipeline } = await pipelineOver(new InProcessDispatcher(tools), [info('hang')]);
    await expect(pipeline.call('hang', {}, { timeoutMs: 20 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    const controller = new AbortController();
    const call = pipeline.call('hang', {}, { signal: controller.signal });
    controller.abort();
    await expect(call).rejects.toMatchObject({ code: 'ABORTED' });
  });

  test('an idempotent tool is answered from the cache the second time: nothing dispatched', async () => {
    const dispatcher = new InProcessDispatcher(tools);
    const { pipeline } = await pipelineOver(dispatcher, [info('add', { idempotent: true })]);
    expect(await pipeline.call('add', { a: 1, b: 2 }, undefined)).toBe(3);
    expect(await pipeline.call('add', { b: 2, a: 1 }, undefined)).toBe(3);
    expect(dispatcher.submitted).toBe(1);
  });

  test('a batch goes through the same transport in chunks, with one outcome per call', async () => {
    const dispatcher = new InProcessDispatcher(tools);
    const { pipeline } = await pipelineOver(dispatcher, [info('add')]);
    const calls = Array.from({ length: 40 }, (_, i) => ({ tool: 'add', args: { a: i, b: 1 } }));
    const outcomes: unknown[] = [];
    await pipeline.batch(calls, { chunkSize: 16 }, (indices, chunk) => {
      for (let k = 0; k < indices.length; k++) outcomes[indices[k]!] = outcomeAt(chunk, k);
    });
    expect(outcomes).toEqual(calls.map((_, i) => ({ ok: true, value: i + 1 })));
    expect(dispatcher.submitted).toBe(3);
  });
});

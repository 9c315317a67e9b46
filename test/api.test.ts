import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, expectTypeOf, test } from 'vitest';
import {
  ClosedError,
  createBridge,
  defineTool,
  shared,
  InvalidOptionsError,
  ToolBridgeError,
  ToolNotFoundError,
  type Bridge,
  type ToolContext,
  type ToolDefinition,
} from 'toolbridge';
import { fixture, rejection, testBridge } from './helpers.js';

describe('createBridge', () => {
  let bridge: Bridge;
  beforeAll(async () => {
    bridge = await createBridge({
      maxThreads: 2,
      tools: [fixture('basic-tools.js'), fixture('default-array.js'), fileURLToPath(fixture('default-tool.js'))],
    });
  });
  afterAll(() => bridge.close());

  test('registers the built-in tools and every tool export of each module', () => {
    const names = bridge.tools().map((t) => t.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'vector.dot',
        'vector.topk',
        'matrix.multiply',
        'frame.describe',
        'frame.groupby',
        'test.noop',
        'test.echo',
        'defaults.one',
        'defaults.two',
        'defaults.single',
      ]),
    );
    expect(names).not.toContain('not.a.tool');
    expect(new Set(names).size).toBe(names.length);
  });

  test('lists tool metadata', () => {
    const two = bridge.tools().find((t) => t.name === 'defaults.two');
    expect(two).toEqual({
      name: 'defaults.two',
      description: 'two',
      version: '2.1',
      idempotent: true,
      timeoutMs: undefined,
      retries: 1,
      module: fixture('default-array.js').href,
      batch: undefined,
      pool: 'default',
      annotations: { idempotentHint: true },
    });
    const dot = bridge.tools().find((t) => t.name === 'vector.dot');
    expect(dot?.module).toBe('toolbridge:builtin');
  });

  test('calls tools from default exports and from a module given by path', async () => {
    expect(await bridge.call('defaults.one')).toBe(1);
    expect(await bridge.call('defaults.single', { x: 41 })).toBe(42);
  });

  test('rejects an unknown tool with TOOL_NOT_FOUND before any work', async () => {
    const counters = () => {
      const { tools, bytes, cache, recycles, codecs } = bridge.stats();
      const tasks = bridge.stats().memory.workers.map((worker) => worker.tasks);
      const calls = Object.fromEntries(Object.entries(tools).map(([name, t]) => [name, [t.calls, t.errors]]));
      return { calls, bytes, cache, recycles, codecs, tasks };
    };
    const before = counters();
    const error = await rejection(bridge.call('no.such.tool', { a: 1 }));
    expect(error).toBeInstanceOf(ToolNotFoundError);
    expect(error).toBeInstanceOf(ToolBridgeError);
    expect(error.code).toBe('TOOL_NOT_FOUND');
    expect((error as ToolNotFoundError).tool).toBe('no.such.tool');
    expect(counters()).toEqual(before);
  });
});

describe('tool modules that fail', () => {
  test('a module that throws on import rejects createBridge with TOOL_LOAD_FAILED naming it', async () => {
    const error = await rejection(createBridge({ maxThreads: 1, tools: [fixture('throws-on-load.js')] }));
    expect(error.code).toBe('TOOL_LOAD_FAILED');
    expect(error.message).toContain('throws-on-load.js');
    expect(error.message).toContain('broken on purpose');
    expect((error as Error & { module: string }).module).toBe(fixture('throws-on-load.js').href);
  });

  test('a module that exits its worker on import rejects createBridge naming it', async () => {
    const error = await rejection(createBridge({ maxThreads: 1, tools: [fixture('exits-on-load.js')] }));
    expect(error.code).toBe('TOOL_LOAD_FAILED');
    expect(error.message).toContain('exits-on-load.js');
  });

  test('a module that exports no tool rejects createBridge with TOOL_LOAD_FAILED naming it', async () => {
    const error = await rejection(createBridge({ maxThreads: 1, tools: [fixture('no-tools.js')] }));
    expect(error.code).toBe('TOOL_LOAD_FAILED');
    expect(error.message).toContain('no-tools.js');
    expect(error.message).toContain('exports no tool');
  });

  test('a script that passes its own URL as a tool module is refused at once, saying why', async () => {
    const script = fileURLToPath(fixture('self-bridge.mjs'));
    const { stdout } = await promisify(execFile)(process.execPath, [script], { timeout: 60_000 });
    // The last line is the main thread's (the worker's own attempt prints too, before it).
    const out = JSON.parse(stdout.trim().split('\n').at(-1)!) as { code: string; message: string };
    expect(out.code).toBe('TOOL_LOAD_FAILED');
    expect(out.message).toContain('self-bridge.mjs');
    expect(out.message).toContain('must not start a bridge');
  });

  test('a missing module rejects createBridge naming it', async () => {
    const error = await rejection(createBridge({ maxThreads: 1, tools: [fixture('no-such-module.js')] }));
    expect(error.code).toBe('TOOL_LOAD_FAILED');
    expect(error.message).toContain('no-such-module.js');
  });

  test('two tools with one name reject createBridge with DUPLICATE_TOOL', async () => {
    const error = await rejection(
      createBridge({ maxThreads: 1, tools: [fixture('basic-tools.js'), fixture('duplicate-noop.js')] }),
    );
    expect(error.code).toBe('DUPLICATE_TOOL');
    expect(error.message).toContain('test.noop');
    expect(error.message).toContain('duplicate-noop.js');
  });
});

describe('options are checked eagerly', () => {
  test.each([
    [{ maxThreads: 0 }, 'options.maxThreads must be a positive integer, got 0 (number)'],
    [{ maxThreads: 1.5 }, 'options.maxThreads must be a positive integer, got 1.5 (number)'],
    [{ minThreads: -1 }, 'options.minThreads must be a non-negative integer, got -1 (number)'],
    [{ minThreads: 3, maxThreads: 2 }, 'options.minThreads (3) must not exceed options.maxThreads (2)'],
    [{ timeoutMs: 0 }, 'options.timeoutMs must be a positive number of milliseconds or Infinity, got 0 (number)'],
    [{ tools: 'x.js' }, 'options.tools must be an array, got "x.js" (string)'],
    [{ tools: [42] }, 'options.tools[0] must be a URL or a file path, got 42 (number)'],
    [{ memory: { hardHeapMb: -5 } }, 'options.memory.hardHeapMb must be a positive integer, got -5 (number)'],
    [
      { codec: { flatMsgpackThreshold: -1 } },
      'options.codec.flatMsgpackThreshold must be a non-negative integer, got -1 (number)',
    ],
  ])('%j', async (options, message) => {
    const error = await rejection(createBridge(options as never));
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error.code).toBe('INVALID_OPTIONS');
    expect(error.message).toBe(message);
  });

  test.each([
    [{ maxThread: 2 }, 'options.maxThread is not an option (did you mean maxThreads?)'],
    [{ timeout: 100 }, 'options.timeout is not an option (did you mean timeoutMs?)'],
    [{ memory: { maxHeapMB: 64 } }, 'options.memory.maxHeapMB is not an option (did you mean maxHeapMb?)'],
    [
      { pools: { heavy: { maxThread: 1 } } },
      'options.pools.heavy.maxThread is not an option (did you mean maxThreads?)',
    ],
    [{ pools: { heavy: { memory: { maxSharedMb: 1 } } } }, 'options.pools.heavy.memory.maxSharedMb is not an option'],
    [{ telemetry: { slowCall: 5 } }, 'options.telemetry.slowCall is not an option (did you mean slowCallMs?)'],
    [{ telemetry: { budgets: { p99: 5 } } }, 'options.telemetry.budgets.p99 is not an option (did you mean p99Ms?)'],
    [{ cache: { maxEntry: 5 } }, 'options.cache.maxEntry is not an option (did you mean maxEntries?)'],
    [{ codec: { msgpack: 5 } }, 'options.codec.msgpack is not an option (did you mean msgpackThreshold?)'],
  ])('a misspelled key %j is INVALID_OPTIONS naming it and the nearest valid one', async (options, message) => {
    const error = await rejection(createBridge(options as never));
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error.message).toContain(message);
  });

  test('messages name the type with its article: an array, an object', async () => {
    expect((await rejection(createBridge({ tools: {} } as never))).message).toBe(
      'options.tools must be an array, got an object',
    );
    expect((await rejection(createBridge({ cache: [] } as never))).message).toContain('got an array (length 0)');
  });

  test('call and batch options: unknown keys and wrong types are INVALID_OPTIONS', async () => {
    const bridge = await testBridge({ maxThreads: 1 });
    try {
      const misspelled = await rejection(bridge.call('test.noop', {}, { timeout: 5 } as never));
      expect(misspelled.code).toBe('INVALID_OPTIONS');
      expect(misspelled.message).toContain('options.timeout is not an option (did you mean timeoutMs?)');
      const signal = await rejection(bridge.call('test.noop', {}, { signal: 'stop' } as never));
      expect(signal.message).toBe('options.signal must be an AbortSignal, got "stop" (string)');
      expect((await rejection(bridge.batch([], { chunk: 5 } as never))).message).toContain(
        'options.chunk is not an option (did you mean chunkSize?)',
      );
      const [entry, good] = await bridge.batch([
        { tool: 'test.echo', args: 1, timeout: 5 } as never,
        { tool: 'test.echo', args: 2 },
      ]);
      expect(entry).toMatchObject({ ok: false, error: { code: 'INVALID_OPTIONS' } });
      expect(good).toEqual({ ok: true, value: 2 });
      // The bridge serves on.
      expect(await bridge.call('test.echo', 3)).toBe(3);
    } finally {
      await bridge.close();
    }
  });

  test('per-call timeoutMs is checked', async () => {
    const bridge = await testBridge({ maxThreads: 1 });
    try {
      const error = await rejection(bridge.call('test.noop', {}, { timeoutMs: -1 }));
      expect(error.code).toBe('INVALID_OPTIONS');
    } finally {
      await bridge.close();
    }
  });
});

describe('defineTool', () => {
  test('returns a frozen definition with defaults', () => {
    const tool = defineTool({ name: 'a.b', run: () => 1 });
    expect(tool).toMatchObject({ name: 'a.b', description: '', version: '1', idempotent: false, timeoutMs: undefined });
    expect(Object.isFrozen(tool)).toBe(true);
  });

  test.each<[unknown, RegExp]>([
    [{ name: '', run: () => 0 }, /name must be a dotted identifier/],
    [{ name: 'has space', run: () => 0 }, /name must be a dotted identifier/],
    [{ name: 'ok', run: 'nope' }, /run must be a function/],
    [{ name: 'ok', run: () => 0, timeoutMs: 0 }, /timeoutMs must be a positive number/],
    [{ name: 'ok', run: () => 0, idempotent: 'yes' }, /idempotent must be a boolean/],
    [
      { name: 'ok', run: () => 0, timeout: 5 },
      /defineTool\(ok\)\.timeout is not an option \(did you mean timeoutMs\?\)/,
    ],
    [
      { name: 'ok', run: () => 0, batch: { maxWait: 1 } },
      /batch\.maxWait is not an option \(did you mean maxWaitMs\?\)/,
    ],
    [{ name: 'ok', run: () => 0, split: true }, /split must be an object/],
    [
      { name: 'ok', run: () => 0, split: { plan: () => ({ parts: 1 }), part: () => 0, merge: 'sum' } },
      /split\.merge must be a function, got "sum"/,
    ],
    [
      { name: 'ok', run: () => 0, split: { plan: () => ({ parts: 1 }), part: () => 0, merge: () => 0, parts: 2 } },
      /split\.parts is not an option/,
    ],
  ])('rejects %j', (spec, message) => {
    expect(() => defineTool(spec as never)).toThrow(message);
  });

  test('shared() is typed by its constructor', () => {
    expectTypeOf(shared(Float32Array, 1)).toEqualTypeOf<Float32Array<SharedArrayBuffer>>();
    expectTypeOf(shared(BigInt64Array, 1)).toEqualTypeOf<BigInt64Array<SharedArrayBuffer>>();
    expectTypeOf(shared(Uint8ClampedArray, 1)).toEqualTypeOf<Uint8ClampedArray<SharedArrayBuffer>>();
  });

  test('types carry args and results', () => {
    const tool = defineTool({ name: 'typed.tool', run: ({ x }: { x: number }, ctx: ToolContext) => x + ctx.callId });
    expectTypeOf(tool).toEqualTypeOf<ToolDefinition<{ x: number }, number>>();
    expectTypeOf(tool.run).parameter(0).toEqualTypeOf<{ x: number }>();
  });
});

describe('close', () => {
  test('waits for calls in flight, then rejects new calls with CLOSED', async () => {
    const bridge = await testBridge();
    const pending = bridge.call('test.sleep', { ms: 150, value: 'done' });
    const closing = bridge.close();
    expect(await pending).toBe('done');
    await closing;
    const error = await rejection(bridge.call('test.noop'));
    expect(error).toBeInstanceOf(ClosedError);
    expect(error.code).toBe('CLOSED');
    await bridge.close(); // a second close is harmless
  });

  test('Symbol.asyncDispose closes the bridge', async () => {
    let closed: Bridge;
    {
      await using bridge = await testBridge({ maxThreads: 1 });
      closed = bridge;
      expect(await bridge.call('test.echo', 5)).toBe(5);
    }
    expect((await rejection(closed.call('test.noop'))).code).toBe('CLOSED');
  });

  test('close({ timeoutMs }) ends a call that never returns with CLOSED, and queued calls too', async () => {
    const bridge = await testBridge({ maxThreads: 1 });
    const hung = rejection(bridge.call('test.hang'));
    const queued = rejection(bridge.call('test.echo', 1));
    await bridge.close({ timeoutMs: 100 });
    expect((await hung).code).toBe('CLOSED');
    expect((await queued).code).toBe('CLOSED');
    expect((await rejection(bridge.call('test.noop'))).code).toBe('CLOSED');
    // A graceful close asked before or after resolves as well.
    await bridge.close();
  });

  test('close({ timeoutMs }) that is not needed waits for the calls like close()', async () => {
    const bridge = await testBridge({ maxThreads: 1 });
    const pending = bridge.call('test.sleep', { ms: 50, value: 'done' });
    await bridge.close({ timeoutMs: 60_000 });
    expect(await pending).toBe('done');
  });

  test('destroy() stops at once: a graceful close() waiting on a hung call settles too', async () => {
    const bridge = await testBridge({ maxThreads: 1 });
    const hung = rejection(bridge.call('test.hang'));
    const closing = bridge.close();
    await bridge.destroy();
    await closing;
    expect((await hung).code).toBe('CLOSED');
    await bridge.destroy(); // a second destroy is harmless
  });

  test('close options are checked', async () => {
    const bridge = await testBridge({ maxThreads: 1 });
    try {
      expect((await rejection(bridge.close({ timeoutMs: -1 }))).code).toBe('INVALID_OPTIONS');
      expect((await rejection(bridge.close({ timeout: 1 } as never))).message).toContain('did you mean timeoutMs?');
      expect(await bridge.call('test.echo', 1)).toBe(1);
    } finally {
      await bridge.close();
    }
  });

  test('recycle() then close() at once: both settle', async () => {
    const bridge = await testBridge({ maxThreads: 2 });
    const recycled = bridge.recycle();
    await bridge.close();
    await expect(recycled).resolves.toBeUndefined();
  });

  test('the process exits on its own after close()', async () => {
    const script = fileURLToPath(fixture('exit-after-close.mjs'));
    const { stdout } = await promisify(execFile)(process.execPath, [script], { timeout: 20_000 });
    expect(stdout).toContain('result=16');
  });
});

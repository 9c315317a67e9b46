import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  AbortedError,
  InvalidArgsError,
  InvalidOptionsError,
  QuotaExceededError,
  TimeoutError,
  ToolFailedError,
  WorkerCrashedError,
  createBridge,
  type Bridge,
} from 'toolbridge';
import { fixture, rejection, testBridge } from './helpers.js';

let bridge: Bridge;
beforeAll(async () => {
  bridge = await testBridge({ maxThreads: 2 });
});
afterAll(() => bridge.close());

/** Calls that must all succeed while a fault happens beside them. */
const bystanders = (n: number) =>
  Array.from({ length: n }, (_, i) => bridge.call('test.sleep', { ms: 20 + (i % 5) * 10, value: i }));

describe('a tool that throws', () => {
  test('rejects with TOOL_FAILED keeping the original name, message and stack', async () => {
    const error = await rejection(bridge.call('test.throws', { message: 'bad input' }));
    expect(error).toBeInstanceOf(ToolFailedError);
    expect(error.code).toBe('TOOL_FAILED');
    expect(error.message).toContain('bad input');
    const cause = error.cause as Error;
    expect(cause.name).toBe('RangeError');
    expect(cause.message).toBe('bad input');
    expect(cause.stack).toContain('basic-tools.js');
  });

  test("the cause keeps the error's own properties, leaving out those that cannot cross", async () => {
    const error = await rejection(bridge.call('test.throwsDetailed', { message: 'upstream down' }));
    expect(error.code).toBe('TOOL_FAILED');
    const cause = error.cause as Error & Record<string, unknown>;
    expect(cause.name).toBe('HttpError');
    expect(cause.message).toBe('upstream down');
    expect(cause.stack).toContain('basic-tools.js');
    expect(cause.status).toBe(503);
    expect(cause.details).toEqual({ retryAfter: [1, 2], at: new Date(0), samples: Float64Array.from([0.5]) });
    expect('retry' in cause).toBe(false);
    // A non-toolbridge error's own `code` is one of its properties, not a toolbridge code.
    const coded = await rejection(bridge.call('test.throws', { message: 'm' }));
    expect(coded.code).toBe('TOOL_FAILED');
    expect((coded.cause as Error & { code?: string }).code).toBe('E_FIXTURE');
  });

  test('a toolbridge error thrown by a tool keeps its class, code and fields', async () => {
    const invalid = await rejection(bridge.call('test.throwsTyped', { kind: 'invalid' }));
    expect(invalid).toBeInstanceOf(InvalidArgsError);
    expect(invalid).toMatchObject({ code: 'INVALID_ARGS', path: 'args.x', hint: 'use 1' });
    expect(invalid.message).toBe('x must be positive');
    const quota = await rejection(bridge.call('test.throwsTyped', { kind: 'quota' }));
    expect(quota).toBeInstanceOf(QuotaExceededError);
    expect((quota as QuotaExceededError).detail).toEqual({ requestedBytes: 8, limitMb: 1, inUseMb: 1 });
    const failed = await rejection(bridge.call('test.throwsTyped', { kind: 'failed' }));
    expect(failed).toBeInstanceOf(ToolFailedError);
    expect(failed.message).toContain('wrapped');
    const options = await rejection(bridge.call('test.throwsTyped', { kind: 'other' }));
    expect(options).toBeInstanceOf(InvalidOptionsError);
    expect(options.message).toBe('unknown kind other');
  });

  test('in a batch, each failed entry keeps its error properties', async () => {
    const entries = await bridge.batch([
      { tool: 'test.throwsDetailed', args: { message: 'a' } },
      { tool: 'test.echo', args: 1 },
      { tool: 'test.throwsTyped', args: { kind: 'invalid' } },
    ]);
    expect(entries[0]).toMatchObject({ ok: false, error: { code: 'TOOL_FAILED', cause: { status: 503 } } });
    expect(entries[1]).toEqual({ ok: true, value: 1 });
    expect(entries[2]).toMatchObject({ ok: false, error: { code: 'INVALID_ARGS', path: 'args.x', hint: 'use 1' } });
  });

  test('a long error message (a large envelope) arrives whole, and the next calls are unaffected', async () => {
    const message = `${'ä€𝄞 long message '.repeat(1500)}end`;
    const error = await rejection(bridge.call('test.throws', { message }));
    expect(error.code).toBe('TOOL_FAILED');
    expect((error.cause as Error).message).toBe(message);
    expect(await bridge.call('test.echo', { a: [1, 'b'] })).toEqual({ a: [1, 'b'] });
  });

  test('an async rejection and a thrown string are TOOL_FAILED too', async () => {
    const rejected = await rejection(bridge.call('test.rejects', { message: 'nope' }));
    expect(rejected.code).toBe('TOOL_FAILED');
    expect((rejected.cause as Error).name).toBe('TypeError');
    const thrown = await rejection(bridge.call('test.throwsString'));
    expect(thrown.code).toBe('TOOL_FAILED');
    expect(thrown.message).toContain('plain string');
  });

  test('a result that cannot cross is TOOL_FAILED, naming the path', async () => {
    const error = await rejection(bridge.call('test.badResult'));
    expect(error.code).toBe('TOOL_FAILED');
    expect(error.message).toContain('result.callback');
  });

  test('does not cost its worker', async () => {
    const before = await Promise.all([bridge.call('test.threadId'), bridge.call('test.threadId')]);
    await Promise.all([1, 2, 3, 4].map(() => rejection(bridge.call('test.throws', { message: 'x' }))));
    const after = await Promise.all([bridge.call('test.threadId'), bridge.call('test.threadId')]);
    expect(new Set(after)).toEqual(new Set(before));
  });
});

describe('values nested too deep to cross', () => {
  const nested = (depth: number) => {
    const root: Record<string, unknown> = {};
    let node = root;
    for (let i = 1; i < depth; i++) node = (node.c = {}) as Record<string, unknown>;
    return root;
  };

  test('a result nested past 1000 levels is TOOL_FAILED at once, and its worker serves on', async () => {
    expect(await bridge.call('test.deep', { depth: 1000 })).toBeTypeOf('object');
    for (const depth of [1001, 5_000, 20_000]) {
      const error = await rejection(bridge.call('test.deep', { depth }));
      expect(error.code, String(depth)).toBe('TOOL_FAILED');
      expect(error.message).toContain('nested deeper than 1000 levels');
      expect(error.message).toContain('result.c.c');
    }
    expect(await bridge.call('test.echo', 'after')).toBe('after');
  });

  test('args nested past 1000 levels are INVALID_ARGS with a path', async () => {
    for (const depth of [1001, 20_000]) {
      const error = await rejection(bridge.call('test.echo', nested(depth)));
      expect(error.code, String(depth)).toBe('INVALID_ARGS');
      expect((error as InvalidArgsError).path).toMatch(/^args\.c\.c.*more levels/);
    }
    expect(await bridge.call('test.echo', nested(1000))).toEqual(nested(1000));
  });
});

describe('a worker that dies', () => {
  test('process.exit fails only its own call with WORKER_CRASHED; the others complete', async () => {
    const others = bystanders(10);
    const error = await rejection(bridge.call('test.exit', { code: 7 }));
    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect(error.code).toBe('WORKER_CRASHED');
    expect(await Promise.all(others)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(await bridge.call('test.echo', 'still serving')).toBe('still serving');
  });

  test('running out of heap under memory.hardHeapMb is WORKER_CRASHED, and the pool serves on', async () => {
    const small = await testBridge({ maxThreads: 2, memory: { hardHeapMb: 32 } });
    try {
      const others = Array.from({ length: 6 }, (_, i) => small.call('test.sleep', { ms: 30, value: i }));
      const error = await rejection(small.call('test.oom'));
      expect(error.code).toBe('WORKER_CRASHED');
      expect(await Promise.all(others)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(await small.call('test.echo', 'ok')).toBe('ok');
    } finally {
      await small.close();
    }
  });
});

describe('timeouts', () => {
  test('a tool that hangs rejects with TIMEOUT; its worker is replaced and the others complete', async () => {
    const others = bystanders(6);
    const error = await rejection(bridge.call('test.hang', {}, { timeoutMs: 150 }));
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.code).toBe('TIMEOUT');
    expect((error as TimeoutError).timeoutMs).toBe(150);
    expect(await Promise.all(others)).toEqual([0, 1, 2, 3, 4, 5]);
    // Both threads serve again: two slow calls run side by side.
    expect(await Promise.all([bridge.call('test.echo', 1), bridge.call('test.echo', 2)])).toEqual([1, 2]);
  });

  test("a tool's own timeoutMs is the default for its calls", async () => {
    const error = await rejection(bridge.call('test.slowDefault'));
    expect(error.code).toBe('TIMEOUT');
    expect((error as TimeoutError).timeoutMs).toBe(100);
  });

  test('the bridge timeoutMs applies when neither the call nor the tool sets one', async () => {
    const strict = await testBridge({ maxThreads: 1, timeoutMs: 80 });
    try {
      const error = await rejection(strict.call('test.sleep', { ms: 5_000 }));
      expect(error.code).toBe('TIMEOUT');
      // The worker is being replaced: a per-call limit leaves room for its start-up.
      expect(await strict.call('test.sleep', { ms: 1, value: 'fast' }, { timeoutMs: 10_000 })).toBe('fast');
    } finally {
      await strict.close();
    }
  });

  test('ctx.signal fires at the deadline, with a TimeoutError', async () => {
    const error = await rejection(bridge.call('test.cooperative', {}, { timeoutMs: 100 }));
    expect(error.code).toBe('TIMEOUT');
  });
});

describe('abort', () => {
  test('a signal aborted before the call rejects with ABORTED, with no work done', async () => {
    const controller = new AbortController();
    controller.abort(new Error('changed my mind'));
    const before = bridge.stats().tools['test.sleep']?.calls ?? 0;
    const error = await rejection(bridge.call('test.sleep', { ms: 10 }, { signal: controller.signal }));
    expect(error).toBeInstanceOf(AbortedError);
    expect(error.code).toBe('ABORTED');
    expect((error.cause as Error).message).toBe('changed my mind');
    expect(bridge.stats().tools['test.sleep']?.calls ?? 0).toBe(before);
  });

  test('aborting a running call rejects with ABORTED and tells the tool through ctx.signal', async () => {
    const controller = new AbortController();
    const pending = bridge.call('test.cooperative', {}, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const error = await rejection(pending);
    expect(error.code).toBe('ABORTED');
    expect(await bridge.call('test.echo', 'next')).toBe('next');
  });

  test('aborting a call that never yields stops its worker; the pool keeps serving', async () => {
    const controller = new AbortController();
    const others = bystanders(4);
    const pending = bridge.call('test.hang', {}, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    expect((await rejection(pending)).code).toBe('ABORTED');
    expect(await Promise.all(others)).toEqual([0, 1, 2, 3]);
    expect(await bridge.call('test.echo', 'after')).toBe('after');
  });

  test('a call that completes is not affected by a later abort', async () => {
    const controller = new AbortController();
    expect(await bridge.call('test.echo', 'x', { signal: controller.signal })).toBe('x');
    controller.abort();
    expect(await bridge.call('test.echo', 'y')).toBe('y');
  });
});

describe('stats after faults', () => {
  test('count calls and errors per tool', async () => {
    const fresh = await createBridge({ maxThreads: 1, tools: [fixture('basic-tools.js')] });
    try {
      await fresh.call('test.echo', 1);
      await fresh.call('test.echo', 2);
      await rejection(fresh.call('test.throws', { message: 'x' }));
      const stats = fresh.stats();
      expect(stats.tools['test.echo']).toMatchObject({ calls: 2, errors: 0 });
      expect(stats.tools['test.throws']).toMatchObject({ calls: 1, errors: 1 });
      const { p50, p95, p99 } = stats.tools['test.echo']!.latency;
      expect(p50).toBeGreaterThan(0);
      expect(p95).toBeGreaterThanOrEqual(p50);
      expect(p99).toBeGreaterThanOrEqual(p95);
    } finally {
      await fresh.close();
    }
  });
});

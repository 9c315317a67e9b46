import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Float64, Table, makeData, makeVector } from 'apache-arrow';
import { createBridge, isShared, shared, type Bridge } from 'toolbridge';
import { allReady, fixture, rejection } from './helpers.js';

let bridge: Bridge;
let single: Bridge;
beforeAll(async () => {
  [bridge, single] = await Promise.all([
    createBridge({ maxThreads: 2, tools: [fixture('split-tools.js')] }).then(allReady),
    createBridge({ maxThreads: 1, tools: [fixture('split-tools.js')] }),
  ]);
});
afterAll(() => Promise.all([bridge.close(), single.close()]));

const values = (n: number) => {
  const out = shared(Float64Array, n);
  for (let i = 0; i < n; i++) out[i] = i % 7;
  return out;
};
const expectedSum = (v: Float64Array) => v.reduce((s, x) => s + x, 0);

interface SumResult {
  sum: number;
  parts: number;
  threads?: number;
  sums?: Float64Array;
}

describe('a tool with split', () => {
  test('runs its parts on the pool and merges them; stats count the split and its parts', async () => {
    const v = values(10_000);
    const before = bridge.stats().tools['split.sum'];
    const result = await bridge.call<SumResult>('split.sum', { values: v, parts: 4 });
    expect(result.sum).toBe(expectedSum(v));
    expect(result.parts).toBe(4);
    // The shared value the plan made reaches the caller as the parts left it.
    expect(isShared(result.sums!)).toBe(true);
    expect([...result.sums!].reduce((s, x) => s + x, 0)).toBe(result.sum);
    const after = bridge.stats().tools['split.sum']!;
    expect(after.splits - (before?.splits ?? 0)).toBe(1);
    expect(after.splitParts - (before?.splitParts ?? 0)).toBe(4);
  });

  test('without a merge, the shared value the parts filled is the result', async () => {
    const v = values(10_001);
    const tasks = () => bridge.stats().memory.workers.reduce((sum, worker) => sum + worker.tasks, 0);
    const before = bridge.stats().tools['split.square'];
    const tasksBefore = tasks();
    const result = await bridge.call<Float64Array>('split.square', { values: v, parts: 3 });
    expect(isShared(result)).toBe(true);
    expect(result).toEqual(v.map((x) => x * x));
    // The plan and three parts ran in workers; no merge task did.
    expect(tasks() - tasksBefore).toBe(4);
    const after = bridge.stats().tools['split.square']!;
    expect(after.splits - (before?.splits ?? 0)).toBe(1);
    expect(after.splitParts - (before?.splitParts ?? 0)).toBe(3);
    const error = await rejection(bridge.call('split.square', { values: v, parts: 3, failPart: 2 }));
    expect(error.code).toBe('TOOL_FAILED');
    expect((error as Error & { cause?: Error }).cause!.message).toBe('part 2 failed');
    // The plan may name another value as the result: one output among what the parts share.
    const named = await bridge.call<Float64Array>('split.square', { values: v, parts: 3, counted: true });
    expect(named).toBeInstanceOf(Float64Array);
    expect(named).toEqual(v.map((x) => x * x));
    // A call that is not split runs `run`, whose result is its own.
    expect(await single.call('split.square', { values: v.subarray(0, 4) })).toEqual(new Float64Array([0, 1, 4, 9]));
  });

  test('a plan of one part runs `run` as an ordinary call', async () => {
    const v = values(100);
    const result = await bridge.call<SumResult>('split.sum', { values: v, parts: 1 });
    expect(result).toEqual({ sum: expectedSum(v), parts: 1 });
  });

  test('the plan is told the pool size', async () => {
    const result = await single.call<SumResult>('split.sum', { values: values(10) });
    expect(result.parts).toBe(1);
    expect((await bridge.call<SumResult>('split.sum', { values: values(10) })).parts).toBe(2);
  });

  test('a part that throws fails the call with TOOL_FAILED and its error; the pool serves on', async () => {
    const error = await rejection(bridge.call('split.sum', { values: values(1000), parts: 3, failPart: 1 }));
    expect(error.code).toBe('TOOL_FAILED');
    const cause = (error as Error & { cause?: Error }).cause!;
    expect(cause.name).toBe('RangeError');
    expect(cause.message).toBe('part 1 failed');
    const v = values(500);
    expect((await bridge.call<SumResult>('split.sum', { values: v, parts: 3 })).sum).toBe(expectedSum(v));
  });

  test('a plan that throws fails the call before any part runs', async () => {
    const before = bridge.stats().tools['split.sum']?.splits ?? 0;
    const error = await rejection(bridge.call('split.sum', { values: [1, 2, 3] }));
    expect(error.code).toBe('TOOL_FAILED');
    expect((error as Error & { cause?: Error }).cause!.message).toBe('values must be a Float64Array');
    expect(bridge.stats().tools['split.sum']!.splits).toBe(before);
  });

  test('a split call is held to the caller’s timeout, and the pool serves on', async () => {
    // Far more parts than workers, and a limit far shorter than they take on any machine: the call ends
    // with TIMEOUT in its plan or among its parts, and the parts still queued are dropped.
    const v = values(2_000_000);
    const error = await rejection(bridge.call('split.sum', { values: v, parts: 2000 }, { timeoutMs: 1 }));
    expect(error.code).toBe('TIMEOUT');
    expect((await bridge.call<SumResult>('split.sum', { values: v, parts: 2 })).sum).toBe(expectedSum(v));
  });
});

describe('built-in tools split large calls', () => {
  const random = (n: number, seed: number, C: Float32ArrayConstructor | Float64ArrayConstructor) => {
    const out = shared(C, n);
    let x = seed;
    for (let i = 0; i < n; i++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      out[i] = x / 2147483648 - 0.5;
    }
    return out;
  };

  test('matrix.multiply: a large product is split by rows, equal to the product on one worker', async () => {
    const [m, k, n] = [300, 260, 280];
    const a = random(m * k, 1, Float64Array);
    const b = random(k * n, 2, Float64Array);
    const before = bridge.stats().tools['matrix.multiply']?.splits ?? 0;
    const [split, whole] = await Promise.all([
      bridge.call<Float64Array>('matrix.multiply', { a, b, m, k, n }, { cache: false }),
      single.call<Float64Array>('matrix.multiply', { a, b, m, k, n }, { cache: false }),
    ]);
    expect(bridge.stats().tools['matrix.multiply']!.splits).toBe(before + 1);
    expect(single.stats().tools['matrix.multiply']?.splits ?? 0).toBe(0);
    expect(isShared(split)).toBe(true);
    expect(split).toEqual(whole);
  });

  test('matrix.multiply: products whose parts pack b once between them equal one worker’s, several at once', async () => {
    // b of 8 MiB (f64) and 8.2 MiB (f32): the parts share a workspace in kernel memory (gemm-split.ts).
    const shapes = [
      [Float64Array, 200, 1024, 1024],
      [Float32Array, 120, 1000, 2100],
      [Float64Array, 96, 1024, 1100],
    ] as const;
    const inputs = shapes.map(([Kind, m, k, n], i) => ({
      a: random(m * k, 10 + i, Kind),
      b: random(k * n, 20 + i, Kind),
      m,
      k,
      n,
    }));
    const before = bridge.stats().tools['matrix.multiply']?.splits ?? 0;
    // All at once on two workers (parts of different products interleave), then one at a time.
    const together = await Promise.all(inputs.map((args) => bridge.call('matrix.multiply', args, { cache: false })));
    const alone: unknown[] = [];
    for (const args of inputs) alone.push(await bridge.call('matrix.multiply', args, { cache: false }));
    const whole: unknown[] = [];
    for (const args of inputs) whole.push(await single.call('matrix.multiply', args, { cache: false }));
    expect(bridge.stats().tools['matrix.multiply']!.splits).toBe(before + 2 * inputs.length);
    for (let i = 0; i < inputs.length; i++) {
      const expected = whole[i] as Float64Array | Float32Array;
      expect(expected.constructor).toBe(shapes[i]![0]);
      for (const got of [together[i], alone[i]] as Array<Float64Array | Float32Array>) {
        expect(got.constructor).toBe(expected.constructor);
        expect(got.length).toBe(expected.length);
        // Each entry is summed in the same order whatever the split: the same bits.
        expect(got.findIndex((v, j) => v !== expected[j])).toBe(-1);
      }
    }
  });

  test('matrix.multiply: a small product stays on one worker', async () => {
    const a = random(64 * 64, 3, Float64Array);
    const before = bridge.stats().tools['matrix.multiply']?.splits ?? 0;
    await bridge.call('matrix.multiply', { a, b: a, m: 64, k: 64, n: 64 }, { cache: false });
    expect(bridge.stats().tools['matrix.multiply']!.splits).toBe(before);
  });

  test('vector.topk: a large scan is split by rows, equal to the scan on one worker', async () => {
    const dim = 96;
    const rows = 12_000;
    const matrix = random(rows * dim, 4, Float32Array);
    const query = random(dim, 5, Float32Array);
    for (const metric of ['cosine', 'dot', 'l2']) {
      const before = bridge.stats().tools['vector.topk']?.splits ?? 0;
      const args = { query, matrix, k: 25, metric };
      const [split, whole] = await Promise.all([
        bridge.call('vector.topk', args, { cache: false }),
        single.call('vector.topk', args, { cache: false }),
      ]);
      expect(bridge.stats().tools['vector.topk']!.splits).toBe(before + 1);
      expect(split).toEqual(whole);
    }
  });

  /** A table of `rows` rows in batches of 100,000: int keys (`groups` of them), an int-valued column with nulls. */
  const frame = (rows: number, groups: number) => {
    const k = shared(Int32Array, rows);
    const v = shared(Float64Array, rows);
    const valid = shared(Uint8Array, Math.ceil(rows / 8));
    let nulls = 0;
    for (let i = 0; i < rows; i++) {
      k[i] = (i * 7919) % groups;
      v[i] = i % 1000;
      if (i % 9 === 0) nulls++;
      else valid[i >> 3] = valid[i >> 3]! | (1 << (i & 7));
    }
    const whole = new Table({
      k: makeVector(k),
      v: makeVector(makeData({ type: new Float64(), length: rows, nullCount: nulls, data: v, nullBitmap: valid })),
    });
    const batches = [];
    for (let start = 0; start < rows; start += 100_000) batches.push(...whole.slice(start, start + 100_000).batches);
    return new Table(batches);
  };
  const rowsOf = (table: Table) => table.toArray().map((row) => ({ ...(row.toJSON() as Record<string, unknown>) }));

  test('frame.groupby: a large table with few groups is split by rows, equal to the group-by on one worker', async () => {
    const table = frame(2_200_000, 500);
    for (const agg of ['sum', 'mean', 'min', 'max', 'count']) {
      const before = bridge.stats().tools['frame.groupby']?.splits ?? 0;
      const call = { table, by: 'k', aggs: { v: agg, k: 'count' } };
      const [split, whole] = await Promise.all([
        bridge.call<Table>('frame.groupby', call, { cache: false }),
        single.call<Table>('frame.groupby', call, { cache: false }),
      ]);
      expect(bridge.stats().tools['frame.groupby']!.splits).toBe(before + 1);
      expect(split.numRows).toBe(500);
      // Integer values: the partial sums add up exactly.
      expect(rowsOf(split)).toEqual(rowsOf(whole));
    }
  });

  test('frame.groupby: a large table with many groups stays on one worker', async () => {
    // Past the split's row threshold, but its sample of keys shows too many groups to merge cheaply.
    const table = frame(2_200_000, 100_000);
    const before = bridge.stats().tools['frame.groupby']?.splits ?? 0;
    const result = await bridge.call<Table>('frame.groupby', { table, by: 'k', aggs: { v: 'max' } }, { cache: false });
    expect(result.numRows).toBe(100_000);
    expect(bridge.stats().tools['frame.groupby']!.splits).toBe(before);
  });

  test('frame.describe: a large table is split by rows, equal to the summary on one worker', async () => {
    const table = frame(400_000, 77);
    const before = bridge.stats().tools['frame.describe']?.splits ?? 0;
    const [split, whole] = await Promise.all([
      bridge.call<Record<string, Record<string, number>>>('frame.describe', { table }, { cache: false }),
      single.call<Record<string, Record<string, number>>>('frame.describe', { table }, { cache: false }),
    ]);
    expect(bridge.stats().tools['frame.describe']!.splits).toBe(before + 1);
    expect(Object.keys(split)).toEqual(['k', 'v']);
    for (const name of ['k', 'v']) {
      const [got, want] = [split[name]!, whole[name]!];
      expect([got.count, got.nulls, got.min, got.max]).toEqual([want.count, want.nulls, want.min, want.max]);
      expect(got.mean).toBeCloseTo(want.mean!, 9);
      expect(got.std).toBeCloseTo(want.std!, 9);
    }
    expect(split.v!.nulls).toBe(Math.ceil(400_000 / 9));
  });
});

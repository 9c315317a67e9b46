import { Dictionary, Float64, Int32, Table, Utf8, makeVector, tableFromArrays, vectorFromArray } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createBridge, isShared, shared, type Bridge } from 'toolbridge';
import { rejection } from './helpers.js';

let bridge: Bridge;
beforeAll(async () => {
  bridge = await createBridge({ maxThreads: 2 });
});
afterAll(() => bridge.close());

/** A deterministic pseudo-random sequence (mulberry32), so failures reproduce. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomArray<C extends Float32ArrayConstructor | Float64ArrayConstructor>(C: C, n: number, seed: number) {
  const next = random(seed);
  const out = shared(C, n);
  for (let i = 0; i < n; i++) out[i] = next() * 2 - 1;
  return out as InstanceType<C>;
}

describe('vector.dot', () => {
  test.each([
    ['Float64Array', Float64Array, 1001],
    ['Float32Array', Float32Array, 4096],
  ] as const)('matches a plain loop (%s)', async (_, C, n) => {
    const a = randomArray(C, n, 1);
    const b = randomArray(C, n, 2);
    let expected = 0;
    for (let i = 0; i < n; i++) expected += a[i]! * b[i]!;
    expect(await bridge.call<number>('vector.dot', { a, b })).toBeCloseTo(expected, 9);
  });

  test('rejects arrays of different lengths or types with INVALID_ARGS', async () => {
    const a = shared(Float64Array, 4);
    const short = await rejection(bridge.call('vector.dot', { a, b: a.subarray(1) }));
    expect(short.code).toBe('INVALID_ARGS');
    expect((short as Error & { path?: string }).path).toBe('args.b');
    const ints = await rejection(bridge.call('vector.dot', { a, b: Int32Array.from([1, 2, 3, 4]) }));
    expect(ints.code).toBe('INVALID_ARGS');
    expect(ints.message).toContain('args.b: must be a Float64Array or Float32Array or an array of numbers');
    expect((await rejection(bridge.call('vector.dot', null))).code).toBe('INVALID_ARGS');
    // A JSON array of numbers (what an agent sends) is made a Float64Array once.
    expect(await bridge.call('vector.dot', { a: [1, 2], b: [3, 4] })).toBe(11);
  });
});

describe('vector.topk', () => {
  function reference(query: Float32Array, matrix: Float32Array, k: number) {
    const dim = query.length;
    const norm = (v: ArrayLike<number>, o: number) => {
      let s = 0;
      for (let j = 0; j < dim; j++) s += v[o + j]! ** 2;
      return Math.sqrt(s);
    };
    const qn = norm(query, 0);
    const scored = [];
    for (let r = 0; r < matrix.length / dim; r++) {
      let d = 0;
      for (let j = 0; j < dim; j++) d += query[j]! * matrix[r * dim + j]!;
      const rn = norm(matrix, r * dim);
      scored.push({ r, s: rn === 0 ? 0 : d / (qn * rn) });
    }
    scored.sort((x, y) => y.s - x.s || x.r - y.r);
    return scored.slice(0, k);
  }

  test('returns the k best rows by cosine similarity, best first', async () => {
    const dim = 32;
    const rows = 5_000;
    const matrix = randomArray(Float32Array, dim * rows, 3);
    const query = randomArray(Float32Array, dim, 4);
    const { indices, scores } = await bridge.call<{ indices: Int32Array; scores: Float64Array }>('vector.topk', {
      query,
      matrix,
      k: 10,
    });
    expect(indices).toBeInstanceOf(Int32Array);
    expect(scores).toBeInstanceOf(Float64Array);
    const expected = reference(query, matrix, 10);
    expect([...indices]).toEqual(expected.map((e) => e.r));
    expected.forEach((e, i) => expect(scores[i]).toBeCloseTo(e.s, 10));
  });

  test('scans a matrix of 8 MiB and more where it lies in shared memory, on each worker of the split', async () => {
    const dim = 64;
    const rows = 36_000;
    const matrix = randomArray(Float32Array, dim * rows, 11);
    const query = randomArray(Float32Array, dim, 12);
    // Its memory is a kernel memory: longer than the array, with scratch slots at the end.
    expect(matrix.buffer.byteLength).toBeGreaterThan(matrix.byteLength + 65_536);
    const { indices, scores } = await bridge.call<{ indices: Int32Array; scores: Float64Array }>('vector.topk', {
      query,
      matrix,
      k: 5,
    });
    const expected = reference(query, matrix, 5);
    expect([...indices]).toEqual(expected.map((e) => e.r));
    expected.forEach((e, i) => expect(scores[i]).toBeCloseTo(e.s, 10));
    // A worker scanning in place writes the query, as f64, into the scratch slot it claimed past the array:
    // one or two there (the call split over 2 workers, which may have run its parts one after the other).
    const wanted = Float64Array.from(query);
    const tail = new Float64Array(matrix.buffer, matrix.byteLength);
    let withQuery = 0;
    for (let at = 0; at + dim <= tail.length; at++) {
      if (tail[at] === wanted[0] && wanted.every((v, j) => tail[at + j] === v)) withQuery++;
    }
    expect(withQuery).toBeGreaterThanOrEqual(1);
    expect(withQuery).toBeLessThanOrEqual(2);
  });

  test('breaks ties by lower row, scores zero rows 0, and caps k at the row count', async () => {
    const matrix = shared(Float64Array, 8);
    matrix.set([1, 0, 0, 0, 1, 0, 2, 0]); // rows: (1,0) (0,0) (1,0) (2,0)
    const { indices, scores } = await bridge.call<{ indices: Int32Array; scores: Float64Array }>('vector.topk', {
      query: Float64Array.from([3, 0]),
      matrix,
      k: 10,
    });
    expect([...indices]).toEqual([0, 2, 3, 1]);
    expect([...scores]).toEqual([1, 1, 1, 0]);
  });

  test.each(['dot', 'l2'] as const)("metric '%s' ranks as a plain loop does", async (metric) => {
    const dim = 24;
    const rows = 3_000;
    const matrix = randomArray(Float64Array, dim * rows, 7);
    const query = randomArray(Float32Array, dim, 8);
    const scored = [];
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let j = 0; j < dim; j++) {
        const x = matrix[r * dim + j]!;
        const q = query[j]!;
        s += metric === 'dot' ? x * q : (x - q) ** 2;
      }
      scored.push({ r, s: metric === 'dot' ? s : Math.sqrt(s) });
    }
    scored.sort((x, y) => (metric === 'dot' ? y.s - x.s : x.s - y.s) || x.r - y.r);
    const { indices, scores } = await bridge.call<{ indices: Int32Array; scores: Float64Array }>('vector.topk', {
      query,
      matrix,
      k: 7,
      metric,
    });
    expect([...indices]).toEqual(scored.slice(0, 7).map((e) => e.r));
    scored.slice(0, 7).forEach((e, i) => expect(scores[i]).toBeCloseTo(e.s, 9));
  });

  test('validates shapes', async () => {
    const query = Float32Array.from([1, 2, 3]);
    const bad = [
      { query, matrix: new Float32Array(10), k: 1 },
      { query, matrix: new Float32Array(9), k: 0 },
      { query: new Float32Array(0), matrix: new Float32Array(9), k: 1 },
      { query: new Float32Array(3), matrix: new Float32Array(9), k: 1 },
      { query: new Int32Array(3), matrix: new Float32Array(9), k: 1 },
      { query, matrix: new Float32Array(9), k: 1, metric: 'cos' },
    ];
    for (const args of bad) expect((await rejection(bridge.call('vector.topk', args))).code).toBe('INVALID_ARGS');
  });
});

describe('matrix.multiply', () => {
  /** Entry (i, j) of the naive product in f64, and the sum of its terms' magnitudes. */
  function naive(a: ArrayLike<number>, b: ArrayLike<number>, k: number, n: number, i: number, j: number) {
    let sum = 0;
    let size = 0;
    for (let p = 0; p < k; p++) {
      const term = a[i * k + p]! * b[p * n + j]!;
      sum += term;
      size += Math.abs(term);
    }
    return { sum, size };
  }

  test('matches a naive product and returns shared memory', async () => {
    const [m, k, n] = [17, 31, 13];
    const a = randomArray(Float64Array, m * k, 5);
    const b = randomArray(Float32Array, k * n, 6);
    const c = await bridge.call<Float64Array>('matrix.multiply', { a, b, m, k, n });
    expect(c).toBeInstanceOf(Float64Array);
    expect(isShared(c)).toBe(true);
    expect(c.length).toBe(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) expect(c[i * n + j]).toBeCloseTo(naive(a, b, k, n, i, j).sum, 10);
    }
  });

  test.each([
    [1, 1, 1],
    [4, 4, 4],
    [5, 7, 3],
    [67, 130, 9],
    [3, 300, 70],
  ])('f64 %i x %i x %i: equal to the naive sums (edge panels included)', async (m, k, n) => {
    const a = randomArray(Float64Array, m * k, m);
    const b = randomArray(Float64Array, k * n, n);
    const c = await bridge.call<Float64Array>('matrix.multiply', { a, b, m, k, n });
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) expect(Math.abs(c[i * n + j]! - naive(a, b, k, n, i, j).sum)).toBeLessThan(1e-12 * k);
    }
  });

  test('two Float32Arrays give a Float32Array summed in f32 (within 1e-5 relative of the f64 sums)', async () => {
    const [m, k, n] = [33, 257, 29];
    const a = randomArray(Float32Array, m * k, 9);
    const b = randomArray(Float32Array, k * n, 10);
    const c = await bridge.call<Float32Array>('matrix.multiply', { a, b, m, k, n });
    expect(c).toBeInstanceOf(Float32Array);
    expect(isShared(c)).toBe(true);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const { sum, size } = naive(a, b, k, n, i, j);
        expect(Math.abs(c[i * n + j]! - sum)).toBeLessThan(1e-5 * size);
      }
    }
  });

  test('rejects shapes that do not match the lengths', async () => {
    const a = new Float64Array(6);
    const error = await rejection(bridge.call('matrix.multiply', { a, b: a, m: 2, k: 3, n: 3 }));
    expect(error.code).toBe('INVALID_ARGS');
    expect(error.message).toContain('k * n = 9');
    expect((await rejection(bridge.call('matrix.multiply', { a, b: a, m: 2, k: 3, n: 0 }))).code).toBe('INVALID_ARGS');
  });
});

describe('frame.describe', () => {
  test('summarises every numeric column like a plain computation', async () => {
    const n = 10_000;
    const next = random(7);
    const x = Float64Array.from({ length: n }, () => next() * 100 + 1e6);
    const yValues = Array.from({ length: n }, (_, i) => (i % 10 === 0 ? null : Math.floor(next() * 50)));
    const table = new Table({
      x: makeVector(x),
      y: vectorFromArray(yValues, new Int32()),
      label: vectorFromArray(
        yValues.map((v) => (v === null ? null : `l${v}`)),
        new Utf8(),
      ),
    });
    const summary = await bridge.call<Record<string, Record<string, number>>>('frame.describe', { table });
    expect(Object.keys(summary)).toEqual(['x', 'y']);

    const plain = (values: number[]) => {
      const mean = values.reduce((s, v) => s + v, 0) / values.length;
      const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1);
      return { mean, std: Math.sqrt(variance), min: Math.min(...values), max: Math.max(...values) };
    };
    const ys = yValues.filter((v): v is number => v !== null);
    for (const [name, values, nulls] of [
      ['x', [...x], 0],
      ['y', ys, n - ys.length],
    ] as const) {
      const expected = plain(values as number[]);
      const got = summary[name]!;
      expect(got.count).toBe(values.length);
      expect(got.nulls).toBe(nulls);
      expect(got.mean).toBeCloseTo(expected.mean, 6);
      expect(got.std).toBeCloseTo(expected.std, 6);
      expect(got.min).toBe(expected.min);
      expect(got.max).toBe(expected.max);
    }
  });

  test('an empty column has count 0 and NaN statistics', async () => {
    const table = tableFromArrays({ x: new Float64Array(0) });
    const summary = await bridge.call<Record<string, Record<string, number>>>('frame.describe', { table });
    expect(summary.x!.count).toBe(0);
    expect(summary.x!.mean).toBeNaN();
    expect(summary.x!.std).toBeNaN();
  });

  test('rejects a non-table', async () => {
    expect((await rejection(bridge.call('frame.describe', { table: { x: [1] } }))).code).toBe('INVALID_ARGS');
  });
});

describe('frame.groupby', () => {
  const n = 5_000;
  const next = random(11);
  const cities = ['Oslo', 'Lima', 'Pune', 'Kyiv'];
  const city = Array.from({ length: n }, () => cities[Math.floor(next() * 4)]!);
  const year = Array.from({ length: n }, () => 2020 + Math.floor(next() * 3));
  const amount = Array.from({ length: n }, (_, i) => (i % 17 === 0 ? null : Math.round(next() * 1000) / 10));
  const table = new Table({
    city: vectorFromArray(city, new Dictionary(new Utf8(), new Int32())),
    year: vectorFromArray(year, new Int32()),
    amount: vectorFromArray(amount, new Float64()),
  });

  test('aggregates per group like a plain computation, in order of first appearance', async () => {
    const result = await bridge.call<Table>('frame.groupby', {
      table,
      by: ['city', 'year'],
      aggs: { amount: 'sum', year: 'count' },
    });
    expect(result).toBeInstanceOf(Table);
    expect(result.schema.fields.map((f) => f.name)).toEqual(['city', 'year', 'amount', 'year_count']);

    const groups = new Map<string, { city: string; year: number; sum: number; count: number }>();
    for (let i = 0; i < n; i++) {
      const key = `${city[i]}|${year[i]}`;
      const g = groups.get(key) ?? { city: city[i]!, year: year[i]!, sum: 0, count: 0 };
      if (amount[i] !== null) g.sum += amount[i]!;
      g.count++;
      groups.set(key, g);
    }
    const rows = result.toArray().map((r) => r.toJSON());
    expect(rows.map((r) => `${r.city}|${r.year}`)).toEqual([...groups.keys()]);
    rows.forEach((row, i) => {
      const g = [...groups.values()][i]!;
      expect(row.amount).toBeCloseTo(g.sum, 6);
      expect(row.year_count).toBe(g.count);
    });
  });

  test.each(['mean', 'min', 'max', 'count'] as const)('%s over one key, skipping nulls', async (agg) => {
    const result = await bridge.call<Table>('frame.groupby', { table, by: 'city', aggs: { amount: agg } });
    const rows = result.toArray().map((r) => r.toJSON());
    for (const row of rows) {
      const values = amount.filter((v, i) => v !== null && city[i] === row.city) as number[];
      const expected =
        agg === 'mean'
          ? values.reduce((s, v) => s + v, 0) / values.length
          : agg === 'min'
            ? Math.min(...values)
            : agg === 'max'
              ? Math.max(...values)
              : values.length;
      expect(row.amount).toBeCloseTo(expected, 8);
    }
  });

  test('null keys form one group, and a group with no values aggregates to null', async () => {
    const t = tableFromArrays({ k: ['a', null, 'a', null], v: Float64Array.from([1, 2, 3, 4]) });
    const withNull = new Table({ k: t.getChild('k')!, v: vectorFromArray([1, null, 3, null], new Float64()) });
    const result = await bridge.call<Table>('frame.groupby', { table: withNull, by: 'k', aggs: { v: 'sum' } });
    expect(result.toArray().map((r) => r.toJSON())).toEqual([
      { k: 'a', v: 4 },
      { k: null, v: null },
    ]);
  });

  test('validates its arguments', async () => {
    const bad = [
      { table, by: 'nope', aggs: { amount: 'sum' } },
      { table, by: [], aggs: { amount: 'sum' } },
      { table, by: 'city', aggs: { amount: 'median' } },
      { table, by: 'city', aggs: { missing: 'sum' } },
      { table, by: 'city', aggs: { city: 'sum' } },
      { table, by: 'city', aggs: null },
    ];
    for (const args of bad) expect((await rejection(bridge.call('frame.groupby', args))).code).toBe('INVALID_ARGS');
  });
});

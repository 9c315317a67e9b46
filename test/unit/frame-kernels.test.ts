import {
  Bool,
  Dictionary,
  Float64,
  Int32,
  Int64,
  Table,
  Utf8,
  makeVector,
  tableFromArrays,
  vectorFromArray,
  type DataType,
} from 'apache-arrow';
import { describe, expect, test } from 'vitest';
import {
  describe as describeTable,
  describeMerge,
  describePart,
  groupby,
  groupbyMerge,
  groupbyPart,
} from '../../workers/tools/frame-kernels.js';

/** A deterministic pseudo-random sequence in [0, 1). */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

type Row = Record<string, unknown>;
const rowsOf = (table: Table): Row[] => table.toArray().map((row) => ({ ...(row.toJSON() as Row) }));

/** Group-by the plain way: keys compared as JSON, groups in order of first appearance. */
function naive(keys: unknown[][], values: Array<number | null>, agg: string): Array<[unknown[], number | null]> {
  const groups = new Map<string, { key: unknown[]; values: number[] }>();
  keys[0]!.forEach((_, i) => {
    const key = keys.map((k) => k[i]);
    const id = JSON.stringify(key, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
    const group = groups.get(id) ?? { key, values: [] };
    if (values[i] !== null) group.values.push(values[i]!);
    groups.set(id, group);
  });
  return [...groups.values()].map(({ key, values: v }) => {
    if (agg === 'count') return [key, v.length];
    if (v.length === 0) return [key, null];
    if (agg === 'sum') return [key, v.reduce((s, x) => s + x, 0)];
    if (agg === 'mean') return [key, v.reduce((s, x) => s + x, 0) / v.length];
    return [key, agg === 'min' ? Math.min(...v) : Math.max(...v)];
  });
}

/** A table from key columns and a value column `v`, cut into record batches of `batch` rows. */
function tableOf(keys: Array<[string, unknown[], DataType]>, values: Array<number | null>, batch: number): Table {
  const whole = new Table({
    ...Object.fromEntries(keys.map(([name, data, type]) => [name, vectorFromArray(data, type)])),
    v: vectorFromArray(values, new Float64()),
  });
  const batches = [];
  for (let start = 0; start < whole.numRows; start += batch) batches.push(...whole.slice(start, start + batch).batches);
  return new Table(batches);
}

const n = 2_000;
const next = random(3);
const values = Array.from({ length: n }, (_, i) => (i % 13 === 0 ? null : Math.round(next() * 1000)));
const keyCases: Array<[string, unknown[], DataType]> = [
  ['small ints, negative too', Array.from({ length: n }, () => Math.floor(next() * 40) - 20), new Int32()],
  [
    'ints spread too wide to index',
    Array.from({ length: n }, () => Math.floor(next() * 30) * 70_000_000 - 1_000_000_000),
    new Int32(),
  ],
  ['ints with nulls', Array.from({ length: n }, (_, i) => (i % 7 === 0 ? null : Math.floor(next() * 9))), new Int32()],
  ['floats', Array.from({ length: n }, () => Math.floor(next() * 10) / 4), new Float64()],
  ['64-bit ints', Array.from({ length: n }, () => BigInt(Math.floor(next() * 12)) * 10n ** 15n), new Int64()],
  ['strings', Array.from({ length: n }, () => `s${Math.floor(next() * 25)}`), new Utf8()],
  [
    'dictionary strings with nulls',
    Array.from({ length: n }, (_, i) => (i % 11 === 0 ? null : `d${Math.floor(next() * 6)}`)),
    new Dictionary(new Utf8(), new Int32()),
  ],
  ['booleans', Array.from({ length: n }, () => next() < 0.3), new Bool()],
];

describe('frame.groupby kernels', () => {
  test.each(keyCases)('%s: every aggregation equals the plain computation, over several batches', (_, keys, type) => {
    const table = tableOf([['k', keys, type]], values, 700);
    for (const agg of ['sum', 'mean', 'min', 'max', 'count']) {
      const rows = rowsOf(groupby({ table, by: 'k', aggs: { v: agg } }));
      const expected = naive([keys], values, agg);
      expect(rows.map((r) => r.k)).toEqual(expected.map(([key]) => key[0]));
      rows.forEach((row, i) => {
        const want = expected[i]![1];
        if (want === null) expect(row.v).toBeNull();
        else expect(row.v).toBeCloseTo(want, 9);
      });
    }
  });

  test('several keys of different types group by the tuple, nulls included', () => {
    const a = keyCases[2]![1];
    const b = keyCases[6]![1];
    const table = tableOf(
      [
        ['a', a, new Int32()],
        ['b', b, new Dictionary(new Utf8(), new Int32())],
      ],
      values,
      512,
    );
    const rows = rowsOf(groupby({ table, by: ['a', 'b'], aggs: { v: 'sum' } }));
    const expected = naive([a, b], values, 'sum');
    expect(rows.map((r) => [r.a, r.b])).toEqual(expected.map(([key]) => key));
    expect(rows.map((r) => r.v)).toEqual(expected.map(([, v]) => v));
  });

  test('merging the parts of any split gives the whole result, in the same order', () => {
    for (const [, keys, type] of keyCases) {
      const table = tableOf([['k', keys, type]], values, 333);
      const args = { table, by: 'k', aggs: { v: 'mean' } };
      const whole = rowsOf(groupby(args));
      for (const count of [2, 3, 7]) {
        const parts = Array.from({ length: count }, (_, index) => groupbyPart(args, index, count));
        const merged = rowsOf(groupbyMerge(args, parts));
        expect(merged.map((r) => r.k)).toEqual(whole.map((r) => r.k));
        merged.forEach((row, i) => {
          if (whole[i]!.v === null) expect(row.v).toBeNull();
          else expect(row.v).toBeCloseTo(whole[i]!.v as number, 9);
        });
      }
    }
  });

  test('five aggregations at once on integer and float columns, one with nulls', () => {
    const k = Int32Array.from({ length: n }, (_, i) => (i * 31) % 17);
    const x = Int32Array.from({ length: n }, (_, i) => (i * 7) % 101);
    const y = Float64Array.from({ length: n }, (_, i) => i / 8);
    const table = new Table({ k: makeVector(k), x: makeVector(x), y: makeVector(y), v: vectorFromArray(values) });
    const result = groupby({ table, by: 'k', aggs: { x: 'sum', y: 'max', v: 'min', k: 'count' } });
    expect(result.schema.fields.map((f) => f.name)).toEqual(['k', 'x', 'y', 'v', 'k_count']);
    const rows = rowsOf(result);
    const keys = [Array.from(k)];
    const plain = (column: Array<number | null>, agg: string) => naive(keys, column, agg).map(([, v]) => v);
    expect(rows.map((r) => r.x)).toEqual(plain(Array.from(x), 'sum'));
    expect(rows.map((r) => r.y)).toEqual(plain(Array.from(y), 'max'));
    expect(rows.map((r) => r.v)).toEqual(plain(values, 'min'));
    expect(rows.map((r) => r.k_count)).toEqual(plain(Array.from(k), 'count'));
  });

  test('an empty table gives an empty result with the same columns', () => {
    const table = tableFromArrays({ k: new Int32Array(0), v: new Float64Array(0) });
    const result = groupby({ table, by: 'k', aggs: { v: 'sum' } });
    expect(result.numRows).toBe(0);
    expect(result.schema.fields.map((f) => f.name)).toEqual(['k', 'v']);
  });
});

describe('frame.describe kernels', () => {
  test('merged parts equal the whole summary', () => {
    const x = Float64Array.from({ length: n }, () => 1e6 + next() * 10);
    const table = tableOf([['k', keyCases[2]![1], new Int32()]], values, 500);
    const withX = new Table({ x: makeVector(x), k: table.getChild('k')!, v: table.getChild('v')! });
    const args = { table: withX };
    const whole = describeTable(args);
    for (const count of [2, 5]) {
      const parts = Array.from({ length: count }, (_, index) => describePart(args, index, count));
      const merged = describeMerge(args, parts);
      for (const [name, summary] of Object.entries(whole)) {
        const got = merged[name]!;
        expect(got.count).toBe(summary.count);
        expect(got.nulls).toBe(summary.nulls);
        expect(got.min).toBe(summary.min);
        expect(got.max).toBe(summary.max);
        expect(got.mean).toBeCloseTo(summary.mean, 8);
        expect(got.std).toBeCloseTo(summary.std, 8);
      }
    }
    const plainX = Array.from(x);
    const mean = plainX.reduce((s, v) => s + v, 0) / n;
    expect(whole.x!.std).toBeCloseTo(Math.sqrt(plainX.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1)), 9);
  });
});

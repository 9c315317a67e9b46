/**
 * Aggregation for `frame.groupby` and `frame.describe`: partial results over a row range, in typed arrays,
 * merged across ranges (the parts of a split call) and finished into the result.
 */
import { Float64, makeData, makeVector, type Vector } from 'apache-arrow';
import { shared } from '../../src/tool/shared.js';
import { bit, numbersOf, sliceRows, validityOf, type ChunkSlice } from './columns.js';

export type Aggregation = 'sum' | 'mean' | 'count' | 'min' | 'max';

/**
 * One aggregation over a range: per group, the accumulator (none for count) and the count of non-null
 * values, or null when no value of the range is null (the count is then the group's rows).
 */
export interface PartialAgg {
  acc: Float64Array | null;
  counts: Float64Array | null;
}

const initial = (agg: Aggregation): number => (agg === 'min' ? Infinity : agg === 'max' ? -Infinity : 0);

function accumulator(agg: Aggregation, groups: number): Float64Array | null {
  if (agg === 'count') return null;
  const acc = shared(Float64Array, groups);
  if (agg === 'min' || agg === 'max') acc.fill(initial(agg));
  return acc;
}

/**
 * Every aggregation over rows `start` to `end` into `groups` groups (`ids[i]`: the group of row `start + i`),
 * and the rows of each group. Columns without nulls in the range are aggregated in one pass over the rows,
 * by a loop made for that list of aggregations; the others one at a time.
 */
export function aggregateRange(
  aggs: ReadonlyArray<{ agg: Aggregation; column: Vector }>,
  ids: Int32Array,
  groups: number,
  start: number,
  end: number,
): { sizes: Float64Array; partials: PartialAgg[] } {
  const sizes = shared(Float64Array, groups);
  const partials: PartialAgg[] = aggs.map(({ agg }) => ({ acc: accumulator(agg, groups), counts: null }));
  const slices = aggs.map(({ column }) => sliceRows(column, start, end));
  const fused: number[] = [];
  const alone: number[] = [];
  aggs.forEach(({ agg }, a) => {
    if (agg === 'count') return;
    const plain = slices[a]!.every(({ data }) => validityOf(data) === null && !isBigInt(data.values));
    (plain ? fused : alone).push(a);
  });
  fusedPass(
    fused.map((a) => ({ agg: aggs[a]!.agg, slices: slices[a]!, acc: partials[a]!.acc! })),
    ids,
    sizes,
    end - start,
  );
  for (const a of alone) aggregateAlone(aggs[a]!.agg, slices[a]!, ids, partials[a]!.acc!);
  // Counts start from the group sizes; each null takes one off.
  slices.forEach((column, a) => {
    if (column.every(({ data }) => validityOf(data) === null)) return;
    const counts = (partials[a]!.counts = shared(Float64Array, groups));
    counts.set(sizes);
    for (const { data, from, to, at } of column) {
      const validity = validityOf(data);
      if (validity !== null) uncountNulls(validity, data.offset, from, to, ids, at, counts);
    }
  });
  return { sizes, partials };
}

const isBigInt = (values: unknown): boolean => values instanceof BigInt64Array || values instanceof BigUint64Array;

function aggregateAlone(agg: Aggregation, slices: ChunkSlice[], ids: Int32Array, acc: Float64Array): void {
  for (const { data, from, to, at } of slices) {
    const validity = validityOf(data);
    const { values, shift } = numbersOf(data, from, to);
    const bits = validity === null ? null : { validity, offset: data.offset + shift };
    if (agg === 'min') minInto(values, from - shift, to - shift, ids, at, acc, bits);
    else if (agg === 'max') maxInto(values, from - shift, to - shift, ids, at, acc, bits);
    else sumInto(values, from - shift, to - shift, ids, at, acc, bits);
  }
}

type FusedLoop = (ids: Int32Array, p0: number, p1: number, sizes: Float64Array, ...columns: unknown[]) => void;
const fusedLoops = new Map<string, FusedLoop>();

/**
 * The loop over positions `p0` to `p1` that counts each group's rows and folds column k's value at
 * `base_k + p` into `acc_k` by `ops[k]` (s: add, m: min, x: max). Made once per list of operations: the
 * source is built from those letters only.
 */
function fusedLoop(ops: string): FusedLoop {
  let loop = fusedLoops.get(ops);
  if (loop) return loop;
  const params = [...ops].flatMap((_, k) => [`v${k}`, `b${k}`, `a${k}`]);
  const body = [...ops].map((op, k) =>
    op === 's'
      ? `a${k}[g] += v${k}[b${k} + p];`
      : `{ const x = v${k}[b${k} + p]; if (x ${op === 'm' ? '<' : '>'} a${k}[g]) a${k}[g] = x; }`,
  );
  loop = new Function(
    'ids',
    'p0',
    'p1',
    'sizes',
    ...params,
    `for (let p = p0; p < p1; p++) { const g = ids[p]; sizes[g] += 1; ${body.join(' ')} }`,
  ) as FusedLoop;
  fusedLoops.set(ops, loop);
  return loop;
}

const OP_LETTER: Record<Aggregation, string> = { sum: 's', mean: 's', min: 'm', max: 'x', count: '' };

/** Counts each group's rows and folds the given null-free columns in, over `length` positions. */
function fusedPass(
  columns: Array<{ agg: Aggregation; slices: ChunkSlice[]; acc: Float64Array }>,
  ids: Int32Array,
  sizes: Float64Array,
  length: number,
): void {
  const loop = fusedLoop(columns.map(({ agg }) => OP_LETTER[agg]).join(''));
  // Segments where every column stays within one chunk.
  const cuts = new Set<number>([0, length]);
  for (const { slices } of columns) for (const { at } of slices) cuts.add(at);
  const bounds = [...cuts].sort((x, y) => x - y);
  const cursor = columns.map(() => 0);
  for (let s = 0; s + 1 < bounds.length; s++) {
    const p0 = bounds[s]!;
    const args: unknown[] = [];
    columns.forEach(({ slices, acc }, k) => {
      while (slices[cursor[k]! + 1] !== undefined && slices[cursor[k]! + 1]!.at <= p0) cursor[k]!++;
      const { data, from, at } = slices[cursor[k]!]!;
      args.push(data.values, from - at, acc);
    });
    loop(ids, p0, bounds[s + 1]!, sizes, ...args);
  }
}

interface Bits {
  validity: Uint8Array;
  offset: number;
}

/** Takes each null of chunk indices `from` to `to` off its group's count, a bitmap byte at a time. */
function uncountNulls(
  validity: Uint8Array,
  offset: number,
  from: number,
  to: number,
  ids: Int32Array,
  at: number,
  counts: Float64Array,
): void {
  let i = from;
  while (i < to) {
    const pos = offset + i;
    // A whole byte of valid values: skip its rows.
    if ((pos & 7) === 0 && i + 8 <= to && validity[pos >> 3] === 0xff) {
      i += 8;
      continue;
    }
    if (!bit(validity, pos)) counts[ids[at + i - from]!]! -= 1;
    i++;
  }
}

function sumInto(
  v: ArrayLike<number>,
  from: number,
  to: number,
  ids: Int32Array,
  at: number,
  acc: Float64Array,
  bits: Bits | null,
): void {
  if (bits === null) {
    for (let i = from, p = at; i < to; i++, p++) acc[ids[p]!]! += v[i]!;
  } else {
    for (let i = from, p = at; i < to; i++, p++) if (bit(bits.validity, bits.offset + i)) acc[ids[p]!]! += v[i]!;
  }
}

function minInto(
  v: ArrayLike<number>,
  from: number,
  to: number,
  ids: Int32Array,
  at: number,
  acc: Float64Array,
  bits: Bits | null,
): void {
  for (let i = from, p = at; i < to; i++, p++) {
    if (bits !== null && !bit(bits.validity, bits.offset + i)) continue;
    const g = ids[p]!;
    const x = v[i]!;
    if (x < acc[g]!) acc[g] = x;
  }
}

function maxInto(
  v: ArrayLike<number>,
  from: number,
  to: number,
  ids: Int32Array,
  at: number,
  acc: Float64Array,
  bits: Bits | null,
): void {
  for (let i = from, p = at; i < to; i++, p++) {
    if (bits !== null && !bit(bits.validity, bits.offset + i)) continue;
    const g = ids[p]!;
    const x = v[i]!;
    if (x > acc[g]!) acc[g] = x;
  }
}

/** The parts' group sizes summed into `groups` merged groups (`to[k][g]`: part k's group g). */
export function mergeSizes(sizes: Float64Array[], to: Int32Array[], groups: number): Float64Array {
  const total = shared(Float64Array, groups);
  sizes.forEach((part, k) => addInto(total, part, k === 0 ? null : to[k]!));
  return total;
}

/** `into[to[g]] += from[g]` (`to` null: the identity, for the first part). */
function addInto(into: Float64Array, from: Float64Array, to: Int32Array | null): void {
  const n = from.length;
  if (to === null) {
    for (let g = 0; g < n; g++) into[g]! += from[g]!;
  } else {
    for (let g = 0; g < n; g++) into[to[g]!]! += from[g]!;
  }
}

/**
 * One aggregation merged from every part's partial (`to[k][g]`: the merged group of part k's group g; the
 * first part's groups come first, in order), with each part's sizes standing for its counts where null.
 */
export function mergeAgg(
  agg: Aggregation,
  parts: PartialAgg[],
  sizes: Float64Array[],
  to: Int32Array[],
  groups: number,
): PartialAgg {
  const counts = parts.some((part) => part.counts !== null) ? shared(Float64Array, groups) : null;
  const acc = accumulator(agg, groups);
  parts.forEach((part, k) => {
    const map = k === 0 ? null : to[k]!;
    if (counts !== null) addInto(counts, part.counts ?? sizes[k]!, map);
    if (acc === null || part.acc === null) return;
    if (agg === 'sum' || agg === 'mean') return addInto(acc, part.acc, map);
    foldInto(agg as 'min' | 'max', acc, part.acc, map ?? identity(part.acc.length));
  });
  return { acc, counts };
}

const identity = (n: number): Int32Array => {
  const to = new Int32Array(n);
  for (let g = 0; g < n; g++) to[g] = g;
  return to;
};

function foldInto(agg: 'min' | 'max', out: Float64Array, acc: Float64Array, to: Int32Array): void {
  const n = acc.length;
  if (agg === 'min') {
    for (let g = 0; g < n; g++) {
      const t = to[g]!;
      const x = acc[g]!;
      if (x < out[t]!) out[t] = x;
    }
  } else {
    for (let g = 0; g < n; g++) {
      const t = to[g]!;
      const x = acc[g]!;
      if (x > out[t]!) out[t] = x;
    }
  }
}

/**
 * The result column, over the accumulator's memory: Int32 counts, or Float64 with null where a group has
 * no value. `sizes` stands for the counts when they are null.
 */
export function finishAgg(agg: Aggregation, { acc, counts }: PartialAgg, sizes: Float64Array): Vector {
  const n = counts ?? sizes;
  const groups = n.length;
  if (acc === null) {
    const out = shared(Int32Array, groups);
    for (let g = 0; g < groups; g++) out[g] = n[g]!;
    return makeVector(out);
  }
  let validity: Uint8Array | null = null;
  let nulls = 0;
  if (agg === 'mean') for (let g = 0; g < groups; g++) acc[g] = acc[g]! / n[g]!;
  if (counts !== null) {
    for (let g = 0; g < groups; g++) {
      if (counts[g] !== 0) continue;
      if (validity === null) validity = shared(Uint8Array, Math.ceil(groups / 8)).fill(255);
      validity[g >> 3] = validity[g >> 3]! & ~(1 << (g & 7));
      acc[g] = 0;
      nulls++;
    }
  }
  return makeVector(
    makeData({
      type: new Float64(),
      length: groups,
      nullCount: nulls,
      data: acc,
      ...(validity !== null ? { nullBitmap: validity } : {}),
    }),
  );
}

/** Count, mean, sum of squared deviations, min and max of a column's non-null values over a range. */
export interface Moments {
  count: number;
  mean: number;
  m2: number;
  min: number;
  max: number;
}

export const noMoments = (): Moments => ({ count: 0, mean: 0, m2: 0, min: Infinity, max: -Infinity });

/** Folds `b` into `a` (Chan et al.'s pairwise update: accurate when the mean is large against the spread). */
export function mergeMoments(a: Moments, b: Moments): Moments {
  if (b.count === 0) return a;
  if (a.count === 0) return { ...b };
  const count = a.count + b.count;
  const delta = b.mean - a.mean;
  a.mean += (delta * b.count) / count;
  a.m2 += b.m2 + (delta * delta * a.count * b.count) / count;
  a.count = count;
  if (b.min < a.min) a.min = b.min;
  if (b.max > a.max) a.max = b.max;
  return a;
}

/** Values per block: each block's moments come from two passes over values still in cache. */
const BLOCK = 4096;

/** The moments of `column`'s non-null values over rows `start` to `end`. */
export function momentsRange(column: Vector, start: number, end: number): Moments {
  let total = noMoments();
  const block = noMoments();
  for (const { data, from, to } of sliceRows(column, start, end)) {
    const { values, shift } = numbersOf(data, from, to);
    const validity = validityOf(data);
    const offset = data.offset + shift;
    for (let lo = from - shift; lo < to - shift; lo += BLOCK) {
      const hi = Math.min(lo + BLOCK, to - shift);
      let count = 0;
      let sum = 0;
      let min = Infinity;
      let max = -Infinity;
      for (let i = lo; i < hi; i++) {
        if (validity !== null && !bit(validity, offset + i)) continue;
        const x = values[i]!;
        count++;
        sum += x;
        if (x < min) min = x;
        if (x > max) max = x;
      }
      if (count === 0) continue;
      const mean = sum / count;
      let m2 = 0;
      for (let i = lo; i < hi; i++) {
        if (validity !== null && !bit(validity, offset + i)) continue;
        const d = values[i]! - mean;
        m2 += d * d;
      }
      Object.assign(block, { count, mean, m2, min, max });
      total = mergeMoments(total, block);
    }
  }
  return total;
}

/**
 * Group ids for `frame.groupby`: each row of a range gets the id of its key, ids in order of first
 * appearance. Integer keys in a compact range go by direct indexing into a table of ids; other keys by a
 * Map; several key columns by combining the ids of each pairwise. Null keys form one group.
 */
import { DataType, makeVector, type Vector } from 'apache-arrow';
import { bit, gather, sliceRows, validityOf, type ChunkSlice, type Gathered } from './columns.js';

export interface Groups {
  /** The group of each position of the sequence (row `start + i` of a range). */
  ids: Int32Array;
  /** The position where each group first appears, ascending. */
  first: Int32Array;
  count: number;
}

/** Direct indexing when the key range is at most this, or twice the rows when that is more. */
const DENSE_MIN = 1 << 16;
const DENSE_MAX = 1 << 24;

/** Hands out group ids in order of first appearance. */
class Ids {
  readonly ids: Int32Array;
  /** The first position of each group, in a buffer that doubles as groups come. */
  first = new Int32Array(1024);
  count = 0;
  nullId = -1;

  constructor(length: number) {
    this.ids = new Int32Array(length);
  }

  add(position: number): number {
    if (this.count === this.first.length) {
      const grown = new Int32Array(2 * this.count);
      grown.set(this.first);
      this.first = grown;
    }
    this.first[this.count] = position;
    return this.count++;
  }

  nullGroup(position: number): number {
    if (this.nullId < 0) this.nullId = this.add(position);
    return this.nullId;
  }

  done(): Groups {
    return { ids: this.ids, first: this.first.subarray(0, this.count), count: this.count };
  }
}

/** One run of key values: a chunk slice of a column, or values gathered at some rows. */
interface Run {
  values: ArrayLike<unknown>;
  /** Bitmap and the bit of index 0, or null when no value is null. */
  validity: Uint8Array | null;
  offset: number;
  from: number;
  to: number;
  /** Sequence position of index `from`. */
  at: number;
}

const runOf = ({ data, from, to, at }: ChunkSlice): Run => ({
  values: data.values as ArrayLike<unknown>,
  validity: validityOf(data),
  offset: data.offset,
  from,
  to,
  at,
});

const gatheredRun = (g: Gathered): Run => ({
  values: g.values as ArrayLike<unknown>,
  validity: g.nulls > 0 ? g.validity : null,
  offset: 0,
  from: 0,
  to: g.values.length,
  at: 0,
});

/** Whether a key column is integers of at most 32 bits (candidates for direct indexing). */
const isSmallInt = (type: DataType): boolean => DataType.isInt(type) && type.bitWidth <= 32;

/** The group ids of the integer keys `lo` to `lo + ids.length - 1` (-1: a key not seen yet). */
class Slots {
  lo = 0;
  ids = new Int32Array(0);

  /** Makes room for key `x` (at least doubling); false when the range would pass `limit`. */
  grow(x: number, limit: number): boolean {
    const { lo, ids } = this;
    const size = ids.length;
    const newLo = size === 0 ? x : Math.min(lo, x);
    const newHi = size === 0 ? x : Math.max(lo + size - 1, x);
    if (newHi - newLo + 1 > limit) return false;
    const next = Math.min(limit, Math.max(newHi - newLo + 1, 2 * size, 1024));
    const from = x < lo ? newHi - next + 1 : newLo;
    const grown = new Int32Array(next).fill(-1);
    if (size > 0) grown.set(ids, lo - from);
    this.lo = from;
    this.ids = grown;
    return true;
  }
}

/**
 * Ids of integer keys by direct indexing into a table that grows to the keys' range; keys spread wider than
 * `2 * length` (and `DENSE_MIN`) go to a Map.
 */
function intIds(runs: Run[], length: number): Groups {
  const limit = Math.min(DENSE_MAX, Math.max(DENSE_MIN, 2 * length));
  const slots = new Slots();
  const out = new Ids(length);
  const { ids } = out;
  for (const { values, validity, offset, from, to, at } of runs) {
    const v = values as ArrayLike<number>;
    let { lo, ids: slot } = slots;
    for (let i = from, p = at; i < to; i++, p++) {
      if (validity !== null && !bit(validity, offset + i)) {
        ids[p] = out.nullGroup(p);
        continue;
      }
      const x = v[i]!;
      let s = x - lo;
      if (s < 0 || s >= slot.length) {
        if (!slots.grow(x, limit)) return mapIds(runs, length);
        ({ lo, ids: slot } = slots);
        s = x - lo;
      }
      let id = slot[s]!;
      if (id < 0) slot[s] = id = out.add(p);
      ids[p] = id;
    }
  }
  return out.done();
}

/** Ids of any values compared as Map keys (SameValueZero): numbers, bigints, strings. */
function mapIds(runs: Run[], length: number, read?: (run: Run, i: number) => unknown): Groups {
  const out = new Ids(length);
  const { ids } = out;
  const known = new Map<unknown, number>();
  for (const run of runs) {
    const { values, validity, offset, from, to, at } = run;
    let p = at;
    for (let i = from; i < to; i++, p++) {
      if (validity !== null && !bit(validity, offset + i)) {
        ids[p] = out.nullGroup(p);
        continue;
      }
      const key = read ? read(run, i) : values[i];
      if (key === null || key === undefined) {
        ids[p] = out.nullGroup(p);
        continue;
      }
      let id = known.get(key);
      if (id === undefined) known.set(key, (id = out.add(p)));
      ids[p] = id;
    }
  }
  return out.done();
}

/** Ids of a dictionary-encoded range: each chunk's dictionary entries are looked up once. */
function dictionaryIds(slices: ChunkSlice[], length: number): Groups {
  const out = new Ids(length);
  const { ids } = out;
  const known = new Map<unknown, number>();
  for (const { data, from, to, at } of slices) {
    const validity = validityOf(data);
    const indices = data.values as ArrayLike<number>;
    const dictionary = data.dictionary!;
    const local = new Int32Array(dictionary.length).fill(-1);
    let p = at;
    for (let i = from; i < to; i++, p++) {
      if (validity !== null && !bit(validity, data.offset + i)) {
        ids[p] = out.nullGroup(p);
        continue;
      }
      const d = indices[i]!;
      let id = local[d]!;
      if (id < 0) {
        const key = dictionary.get(d) as unknown;
        id = known.get(key) ?? -1;
        if (id < 0) known.set(key, (id = out.add(p)));
        local[d] = id;
      }
      ids[p] = id;
    }
  }
  return out.done();
}

/** Ids of one key column over rows `start` to `end`. */
function columnIds(column: Vector, start: number, end: number): Groups {
  const slices = sliceRows(column, start, end);
  const length = end - start;
  if (DataType.isDictionary(column.type)) return dictionaryIds(slices, length);
  if (isSmallInt(column.type)) return intIds(slices.map(runOf), length);
  if (DataType.isFloat(column.type)) return mapIds(slices.map(runOf), length);
  const vectors = new Map(slices.map((s) => [s, makeVector(s.data)]));
  const runs = slices.map((slice) => ({ ...runOf(slice), validity: null, vector: vectors.get(slice)! }));
  return mapIds(runs, length, (run, i) => (run as (typeof runs)[number]).vector.get(i));
}

/** Ids of one key column's values gathered at some rows. */
function gatheredIds(column: Vector, g: Gathered): Groups {
  const run = gatheredRun(g);
  return isSmallInt(column.type) && !DataType.isDictionary(column.type) ? intIds([run], run.to) : mapIds([run], run.to);
}

/** Ids of pairs (a, b): a row's pair is `a * b.count + b`. */
function combine(a: Groups, b: Groups): Groups {
  const length = a.ids.length;
  const out = new Ids(length);
  const { ids } = out;
  const space = a.count * b.count;
  if (space <= Math.max(DENSE_MIN, 2 * length) && space <= DENSE_MAX) {
    const slot = new Int32Array(space).fill(-1);
    for (let p = 0; p < length; p++) {
      const s = a.ids[p]! * b.count + b.ids[p]!;
      let id = slot[s]!;
      if (id < 0) slot[s] = id = out.add(p);
      ids[p] = id;
    }
  } else {
    const known = new Map<number | string, number>();
    const safe = space <= Number.MAX_SAFE_INTEGER;
    for (let p = 0; p < length; p++) {
      const key = safe ? a.ids[p]! * b.count + b.ids[p]! : `${a.ids[p]}:${b.ids[p]}`;
      let id = known.get(key);
      if (id === undefined) known.set(key, (id = out.add(p)));
      ids[p] = id;
    }
  }
  return out.done();
}

/** Group ids of rows `start` to `end` (exclusive) by the values of `keys`. */
export function groupRange(keys: Vector[], start: number, end: number): Groups {
  return keys.map((key) => columnIds(key, start, end)).reduce(combine);
}

/** Group ids of the values of `keys` at `rows` (ascending table rows). */
export function groupRows(keys: Vector[], rows: Int32Array): Groups {
  return keys.map((key) => gatheredIds(key, gather(key, rows))).reduce(combine);
}

import { DataType, makeVector, type Data, type Table, type Vector } from 'apache-arrow';
import { shared } from '../../src/tool/shared.js';

/** The typed array behind a numeric column chunk. */
export type NumericValues = ArrayLike<number> | BigInt64Array | BigUint64Array;

export function isNumeric(type: DataType): boolean {
  return DataType.isInt(type) || DataType.isFloat(type);
}

/** A column by name, or undefined. */
export function columnOf(table: Table, name: string): Vector | undefined {
  return table.getChild(name) ?? undefined;
}

/**
 * The part of one chunk that falls in a row range: chunk-local indices `from` to `to` (exclusive), which
 * are rows `at` onwards of the range (0 is the range's first row).
 */
export interface ChunkSlice {
  data: Data;
  from: number;
  to: number;
  at: number;
}

/** The chunks of `column` that hold rows `start` to `end` (exclusive), in row order. */
export function sliceRows(column: Vector, start: number, end: number): ChunkSlice[] {
  const slices: ChunkSlice[] = [];
  let base = 0;
  for (const data of column.data) {
    const from = Math.max(start - base, 0);
    const to = Math.min(end - base, data.length);
    if (from < to) slices.push({ data, from, to, at: base + from - start });
    base += data.length;
    if (base >= end) break;
  }
  return slices;
}

/** Null bitmap of a chunk that has nulls, else null; test bit `data.offset + i`. */
export const validityOf = (data: Data): Uint8Array | null => (data.nullCount > 0 ? (data.nullBitmap ?? null) : null);

export const bit = (bitmap: Uint8Array, pos: number): boolean => (bitmap[pos >> 3]! & (1 << (pos & 7))) !== 0;

/** A chunk's values as numbers: the typed array itself, or a float copy of 64-bit integers. */
export function numbersOf(data: Data, from: number, to: number): { values: ArrayLike<number>; shift: number } {
  const values = data.values as NumericValues;
  if (values instanceof BigInt64Array || values instanceof BigUint64Array) {
    const copy = new Float64Array(to - from);
    for (let i = from; i < to; i++) copy[i - from] = Number(values[i]);
    return { values: copy, shift: from };
  }
  return { values, shift: 0 };
}

/** Values of a column at some rows (ascending), in that order. */
export interface Gathered {
  /** Numeric columns: a typed array like the column's; others: the values (`null` where null). */
  values: NumericValues | unknown[];
  /** Numeric columns with nulls among these rows: a bitmap (bit i for value i). */
  validity: Uint8Array | null;
  nulls: number;
}

/** Reads `column` at `rows`, which must be ascending (one pass over its chunks); numbers into shared memory. */
export function gather(column: Vector, rows: Int32Array): Gathered {
  const numeric = isNumeric(column.type);
  const first = column.data[0];
  const Values = numeric && first ? (first.values.constructor as new (n: number) => NumericValues) : null;
  const values: NumericValues | unknown[] = Values
    ? (shared(Values as unknown as Float64ArrayConstructor, rows.length) as unknown as NumericValues)
    : new Array<unknown>(rows.length);
  const validity = numeric && column.nullCount > 0 ? new Uint8Array(Math.ceil(rows.length / 8)) : null;
  let nulls = 0;
  let j = 0;
  let base = 0;
  for (const data of column.data) {
    const end = base + data.length;
    if (j < rows.length && rows[j]! < end) {
      const bitmap = validityOf(data);
      const vector = Values ? null : makeVector(data);
      const source = data.values as NumericValues;
      const zero = typeof source[0] === 'bigint' ? 0n : 0;
      for (; j < rows.length && rows[j]! < end; j++) {
        const i = rows[j]! - base;
        const valid = bitmap === null || bit(bitmap, data.offset + i);
        if (!valid) nulls++;
        if (Values) {
          (values as unknown[])[j] = valid ? source[i]! : zero;
          if (valid && validity) validity[j >> 3] = validity[j >> 3]! | (1 << (j & 7));
        } else {
          (values as unknown[])[j] = vector!.get(i);
        }
      }
    }
    base = end;
  }
  return { values, validity, nulls };
}

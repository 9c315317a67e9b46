import { DataType, makeVector, type Data, type Table, type Vector } from 'apache-arrow';

/** One chunk of a numeric column, read without copying. */
export interface NumericChunk {
  length: number;
  /** Element `i` of the chunk (as a number) is `Number(values[i])`. */
  values: ArrayLike<number | bigint>;
  /** Null when the chunk has no nulls; else test bit `offset + i`. */
  validity: Uint8Array | null;
  offset: number;
}

export function isNumeric(type: DataType): boolean {
  return DataType.isInt(type) || DataType.isFloat(type);
}

export function numericChunks(column: Vector): NumericChunk[] {
  return column.data.map((data: Data) => ({
    length: data.length,
    values: data.values as ArrayLike<number | bigint>,
    validity: data.nullCount > 0 ? (data.nullBitmap ?? null) : null,
    offset: data.offset,
  }));
}

export const isValid = (chunk: NumericChunk, i: number): boolean => {
  if (chunk.validity === null) return true;
  const pos = chunk.offset + i;
  return (chunk.validity[pos >> 3]! & (1 << (pos & 7))) !== 0;
};

/** A column by name, or undefined. */
export function columnOf(table: Table, name: string): Vector | undefined {
  return table.getChild(name) ?? undefined;
}

/** Calls `visit(row, value)` for every row of a column of any type, in row order (slower than numeric). */
export function forEachValue(column: Vector, visit: (row: number, value: unknown) => void): void {
  let row = 0;
  for (const data of column.data) {
    const chunk = makeVector(data);
    for (let i = 0; i < data.length; i++) visit(row++, chunk.get(i));
  }
}

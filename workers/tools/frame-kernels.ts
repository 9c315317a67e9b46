import {
  DataType,
  Field,
  Float64,
  RecordBatch,
  Schema,
  Struct,
  Table,
  makeData,
  makeVector,
  vectorFromArray,
  type Vector,
} from 'apache-arrow';
import { describeValue } from '../../src/errors.js';
import { shared } from '../../src/tool/shared.js';
import { invalid, record } from './checks.js';
import { columnOf, forEachValue, isNumeric, isValid, numericChunks } from './columns.js';

export interface ColumnSummary {
  /** Non-null values. */
  count: number;
  nulls: number;
  /** NaN when `count` is 0. */
  mean: number;
  /** Sample standard deviation (n - 1); NaN when `count` < 2. */
  std: number;
  /** NaN when `count` is 0. */
  min: number;
  max: number;
}

function tableArg(tool: string, arg: string, value: unknown): Table {
  if (value instanceof Table) return value;
  return invalid(tool, arg, `must be an apache-arrow Table, got ${describeValue(value)}`);
}

/** `frame.describe`: count, nulls, mean, std, min and max of every numeric column. */
export function describe(args: unknown): Record<string, ColumnSummary> {
  const table = tableArg('frame.describe', 'table', record('frame.describe', args).table);
  const out: Record<string, ColumnSummary> = {};
  table.schema.fields.forEach((field, index) => {
    if (!isNumeric(field.type)) return;
    const column = table.getChildAt(index)!;
    // Welford's update keeps the variance accurate when the mean is large against the spread.
    let count = 0;
    let mean = 0;
    let m2 = 0;
    let min = Infinity;
    let max = -Infinity;
    for (const chunk of numericChunks(column)) {
      const { values } = chunk;
      for (let i = 0; i < chunk.length; i++) {
        if (!isValid(chunk, i)) continue;
        const x = Number(values[i]);
        count++;
        const delta = x - mean;
        mean += delta / count;
        m2 += delta * (x - mean);
        if (x < min) min = x;
        if (x > max) max = x;
      }
    }
    out[field.name] = {
      count,
      nulls: column.length - count,
      mean: count > 0 ? mean : NaN,
      std: count > 1 ? Math.sqrt(m2 / (count - 1)) : NaN,
      min: count > 0 ? min : NaN,
      max: count > 0 ? max : NaN,
    };
  });
  return out;
}

export type Aggregation = 'sum' | 'mean' | 'count' | 'min' | 'max';
const AGGREGATIONS: ReadonlySet<string> = new Set(['sum', 'mean', 'count', 'min', 'max']);

/** Assigns each row a group id, in order of first appearance. Null keys form a group of their own. */
function groupRows(table: Table, keys: Vector[]): { groupOf: Int32Array; firstRow: number[] } {
  const groupOf = new Int32Array(table.numRows);
  const firstRow: number[] = [];
  const ids = new Map<unknown, number>();
  const idOf = (key: unknown, row: number) => {
    let id = ids.get(key);
    if (id === undefined) {
      id = firstRow.push(row) - 1;
      ids.set(key, id);
    }
    return id;
  };
  if (keys.length === 1) {
    let row = 0;
    for (const data of keys[0]!.data) {
      const end = row + data.length;
      const nullable = data.nullCount > 0;
      if (DataType.isDictionary(data.type) && data.dictionary) {
        // Look each dictionary entry up once per chunk, then go by index.
        const indices = data.values as ArrayLike<number>;
        const local = new Int32Array(data.dictionary.length).fill(-1);
        for (let i = 0; row < end; i++, row++) {
          if (nullable && !data.getValid(i)) {
            groupOf[row] = idOf(null, row);
            continue;
          }
          const d = indices[i]!;
          let id = local[d]!;
          if (id < 0) local[d] = id = idOf(data.dictionary.get(d), row);
          groupOf[row] = id;
        }
      } else if (isNumeric(data.type)) {
        const values = data.values as ArrayLike<number | bigint>;
        for (let i = 0; row < end; i++, row++) {
          groupOf[row] = idOf(nullable && !data.getValid(i) ? null : values[i], row);
        }
      } else {
        const chunk = makeVector(data);
        for (let i = 0; row < end; i++, row++) groupOf[row] = idOf(chunk.get(i), row);
      }
    }
  } else {
    const parts: unknown[][] = keys.map(() => new Array(table.numRows));
    keys.forEach((key, k) => forEachValue(key, (row, value) => (parts[k]![row] = value)));
    const json = (_: string, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v);
    for (let row = 0; row < table.numRows; row++) {
      groupOf[row] = idOf(
        JSON.stringify(
          parts.map((p) => p[row]),
          json,
        ),
        row,
      );
    }
  }
  return { groupOf, firstRow };
}

/** One aggregated column over `groups` groups, in shared memory; groups with no values are null. */
function aggregate(column: Vector, agg: Aggregation, groupOf: Int32Array, groups: number): Vector {
  const counts = new Float64Array(groups);
  if (agg === 'count') {
    const out = shared(Int32Array, groups);
    forEachCount(column, groupOf, counts);
    for (let g = 0; g < groups; g++) out[g] = counts[g]!;
    return makeVector(out);
  }
  const acc = shared(Float64Array, groups);
  if (agg === 'min') acc.fill(Infinity);
  if (agg === 'max') acc.fill(-Infinity);
  let row = 0;
  for (const chunk of numericChunks(column)) {
    const { values } = chunk;
    for (let i = 0; i < chunk.length; i++, row++) {
      if (!isValid(chunk, i)) continue;
      const g = groupOf[row]!;
      const x = Number(values[i]);
      counts[g]!++;
      if (agg === 'min') {
        if (x < acc[g]!) acc[g] = x;
      } else if (agg === 'max') {
        if (x > acc[g]!) acc[g] = x;
      } else {
        acc[g] = acc[g]! + x;
      }
    }
  }
  const validity = shared(Uint8Array, Math.ceil(groups / 8));
  let nulls = 0;
  for (let g = 0; g < groups; g++) {
    if (counts[g] === 0) {
      acc[g] = 0;
      nulls++;
    } else {
      if (agg === 'mean') acc[g] = acc[g]! / counts[g]!;
      validity[g >> 3] = validity[g >> 3]! | (1 << (g & 7));
    }
  }
  return makeVector(
    makeData({
      type: new Float64(),
      length: groups,
      nullCount: nulls,
      data: acc,
      ...(nulls > 0 ? { nullBitmap: validity } : {}),
    }),
  );
}

function forEachCount(column: Vector, groupOf: Int32Array, counts: Float64Array): void {
  let row = 0;
  for (const data of column.data) {
    const hasNulls = data.nullCount > 0;
    for (let i = 0; i < data.length; i++, row++) {
      if (!hasNulls || data.getValid(i)) counts[groupOf[row]!]! += 1;
    }
  }
}

/**
 * `frame.groupby`: one row per distinct key (in order of first appearance; null keys form one group), the
 * key columns first, then one column per aggregation, named after its source column (`col_agg` when that
 * name is a key column). Aggregations skip nulls; a group with no values aggregates to null. `count` is
 * an Int32 column, the others Float64.
 */
export function groupby(args: unknown): Table {
  const input = record('frame.groupby', args);
  const table = tableArg('frame.groupby', 'table', input.table);
  const by = typeof input.by === 'string' ? [input.by] : input.by;
  if (!Array.isArray(by) || by.length === 0 || !by.every((b): b is string => typeof b === 'string')) {
    invalid('frame.groupby', 'by', 'must be a column name or a non-empty array of column names');
  }
  const keys = by.map(
    (name) => columnOf(table, name) ?? invalid('frame.groupby', 'by', `names a missing column "${name}"`),
  );
  const aggsArg = input.aggs;
  if (typeof aggsArg !== 'object' || aggsArg === null || Array.isArray(aggsArg)) {
    invalid('frame.groupby', 'aggs', 'must be an object mapping column names to aggregations');
  }
  const aggs = Object.entries(aggsArg as Record<string, unknown>).map(([name, agg]) => {
    const column = columnOf(table, name) ?? invalid('frame.groupby', `aggs.${name}`, 'names a missing column');
    if (typeof agg !== 'string' || !AGGREGATIONS.has(agg)) {
      invalid('frame.groupby', `aggs.${name}`, "must be one of 'sum', 'mean', 'count', 'min', 'max'");
    }
    if (agg !== 'count' && !isNumeric(column.type)) {
      invalid('frame.groupby', `aggs.${name}`, `cannot ${agg} a column of type ${String(column.type)}`);
    }
    return { name, agg: agg as Aggregation, column };
  });

  const { groupOf, firstRow } = groupRows(table, keys);
  const groups = firstRow.length;
  const fields: Field[] = [];
  const columns: Vector[] = [];
  by.forEach((name, k) => {
    const key = keys[k]!;
    const values = firstRow.map((row) => key.get(row) as unknown);
    fields.push(new Field(name, key.type, true));
    columns.push(vectorFromArray(values, key.type));
  });
  for (const { name, agg, column } of aggs) {
    const vector = aggregate(column, agg, groupOf, groups);
    fields.push(new Field(by.includes(name) ? `${name}_${agg}` : name, vector.type, agg !== 'count'));
    columns.push(vector);
  }
  const schema = new Schema(fields);
  // Every column here is a single chunk (the builders' default high-water mark is unbounded).
  const children = columns.map((column) => column.data[0]!);
  const batch = new RecordBatch(schema, makeData({ type: new Struct(fields), length: groups, nullCount: 0, children }));
  return new Table(schema, [batch]);
}

import {
  Field,
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
import { columnOf, gather, isNumeric, type Gathered, type NumericValues } from './columns.js';
import {
  aggregateRange,
  finishAgg,
  mergeAgg,
  mergeSizes,
  mergeMoments,
  momentsRange,
  noMoments,
  type Aggregation,
  type Moments,
  type PartialAgg,
} from './frame-aggregate.js';
import { groupRange, groupRows } from './frame-groups.js';

export type { Aggregation } from './frame-aggregate.js';

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

/** Rows `start` to `end` of part `index` of `count` over `rows` rows. */
export const partRows = (rows: number, index: number, count: number): [number, number] => [
  Math.round((rows * index) / count),
  Math.round((rows * (index + 1)) / count),
];

function tableArg(tool: string, value: unknown): Table {
  if (value instanceof Table) return value;
  return invalid(tool, 'table', `must be an apache-arrow Table, got ${describeValue(value)}`);
}

// ---- frame.describe ----

function describeArgs(args: unknown): { table: Table; columns: Array<[string, Vector]> } {
  const table = tableArg('frame.describe', record('frame.describe', args).table);
  const columns: Array<[string, Vector]> = [];
  table.schema.fields.forEach((field, index) => {
    if (isNumeric(field.type)) columns.push([field.name, table.getChildAt(index)!]);
  });
  return { table, columns };
}

/** The moments of every numeric column over a part of the rows. */
export function describePart(args: unknown, index: number, count: number): Moments[] {
  const { table, columns } = describeArgs(args);
  const [start, end] = partRows(table.numRows, index, count);
  return columns.map(([, column]) => momentsRange(column, start, end));
}

/** The summary from every part's moments, in part order. */
export function describeMerge(args: unknown, parts: Moments[][]): Record<string, ColumnSummary> {
  const { columns } = describeArgs(args);
  const out: Record<string, ColumnSummary> = {};
  columns.forEach(([name, column], c) => {
    const { count, mean, m2, min, max } = parts.reduce((total, part) => mergeMoments(total, part[c]!), noMoments());
    out[name] = {
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

/** `frame.describe`: count, nulls, mean, std, min and max of every numeric column. */
export const describe = (args: unknown): Record<string, ColumnSummary> =>
  describeMerge(args, [describePart(args, 0, 1)]);

// ---- frame.groupby ----

const AGGREGATIONS: ReadonlySet<string> = new Set(['sum', 'mean', 'count', 'min', 'max']);

interface GroupbyArgs {
  table: Table;
  by: string[];
  keys: Vector[];
  aggs: Array<{ name: string; agg: Aggregation; column: Vector }>;
}

function groupbyArgs(args: unknown): GroupbyArgs {
  const input = record('frame.groupby', args);
  const table = tableArg('frame.groupby', input.table);
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
  return { table, by, keys, aggs };
}

/** A part's groups: the table row where each first appears (ascending), its rows, each aggregation's partial. */
export interface GroupbyPart {
  rows: Int32Array;
  sizes: Float64Array;
  aggs: PartialAgg[];
}

/** The groups of a part of the rows, with each aggregation's partial result. */
export function groupbyPart(args: unknown, index: number, count: number): GroupbyPart {
  const { table, keys, aggs } = groupbyArgs(args);
  const [start, end] = partRows(table.numRows, index, count);
  const { ids, first, count: groups } = groupRange(keys, start, end);
  const rows = shared(Int32Array, groups);
  for (let g = 0; g < groups; g++) rows[g] = first[g]! + start;
  const { sizes, partials } = aggregateRange(aggs, ids, groups, start, end);
  return { rows, sizes, aggs: partials };
}

/** The result table from every part's groups, in part order: groups in order of first appearance. */
export function groupbyMerge(args: unknown, parts: GroupbyPart[]): Table {
  const { by, keys, aggs } = groupbyArgs(args);
  let partials: PartialAgg[];
  let rows: Int32Array;
  let sizes: Float64Array;
  if (parts.length === 1) {
    ({ rows, sizes, aggs: partials } = parts[0]!);
  } else {
    // The parts' first rows, in part order, are ascending: group them again by their keys.
    const all = new Int32Array(parts.reduce((n, part) => n + part.rows.length, 0));
    const to: Int32Array[] = [];
    let at = 0;
    for (const part of parts) {
      all.set(part.rows, at);
      at += part.rows.length;
    }
    const { ids, first, count: groups } = groupRows(keys, all);
    at = 0;
    for (const part of parts) to.push(ids.subarray(at, (at += part.rows.length)));
    const partSizes = parts.map((part) => part.sizes);
    sizes = mergeSizes(partSizes, to, groups);
    partials = aggs.map(({ agg }, a) =>
      mergeAgg(
        agg,
        parts.map((part) => part.aggs[a]!),
        partSizes,
        to,
        groups,
      ),
    );
    rows = shared(Int32Array, groups);
    for (let g = 0; g < groups; g++) rows[g] = all[first[g]!]!;
  }
  const fields: Field[] = [];
  const columns: Vector[] = [];
  by.forEach((name, k) => {
    fields.push(new Field(name, keys[k]!.type, true));
    columns.push(keyVector(keys[k]!, gather(keys[k]!, rows)));
  });
  aggs.forEach(({ name, agg }, a) => {
    const vector = finishAgg(agg, partials[a]!, sizes);
    fields.push(new Field(by.includes(name) ? `${name}_${agg}` : name, vector.type, agg !== 'count'));
    columns.push(vector);
  });
  const schema = new Schema(fields);
  const length = columns[0]!.length;
  // Every column here is a single chunk.
  const children = columns.map((column) => column.data[0]!);
  const batch = new RecordBatch(schema, makeData({ type: new Struct(fields), length, nullCount: 0, children }));
  return new Table(schema, [batch]);
}

/**
 * `frame.groupby`: one row per distinct key (in order of first appearance; null keys form one group), the
 * key columns first, then one column per aggregation, named after its source column (`col_agg` when that
 * name is a key column). Aggregations skip nulls; a group with no values aggregates to null. `count` is
 * an Int32 column, the others Float64.
 */
export const groupby = (args: unknown): Table => groupbyMerge(args, [groupbyPart(args, 0, 1)]);

/** A key column's values at its groups' first rows, as a column of the key's type. */
function keyVector(key: Vector, { values, validity, nulls }: Gathered): Vector {
  if (!isNumeric(key.type)) return vectorFromArray(values as unknown[], key.type);
  const data = values as NumericValues;
  return makeVector(
    makeData({
      type: key.type,
      length: data.length,
      nullCount: nulls,
      data: data as never,
      ...(nulls > 0 && validity ? { nullBitmap: validity } : {}),
    }),
  );
}

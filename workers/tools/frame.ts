/**
 * The data-frame tools. Their kernels (and apache-arrow with them) load on a worker's first frame call, so
 * workers that never see a table never import Arrow. A large table spreads over the pool by row ranges:
 * each part aggregates its rows, the merge folds the partial results together.
 */
import type { Table } from 'apache-arrow';
import { defineTool, type SplitSpec } from '../../src/tool/define.js';
import type { ColumnSummary, GroupbyPart } from './frame-kernels.js';
import type { Moments } from './frame-aggregate.js';

export type { Aggregation } from './frame-aggregate.js';
export type { ColumnSummary } from './frame-kernels.js';

type Kernels = typeof import('./frame-kernels.js');
let kernels: Kernels | undefined;

/** Runs a kernel: at once once they are loaded, after loading them the first time. */
function withKernels<R>(use: (loaded: Kernels) => R): R | Promise<R> {
  if (kernels) return use(kernels);
  return import('./frame-kernels.js').then((loaded) => use((kernels = loaded)));
}

/**
 * `frame.describe` splits a table over workers from this many rows up, in parts of at least half that:
 * below it, the extra messages and the merge cost more than they save (bench/scenarios/frame-kernels.ts:
 * 1M rows, 2 workers, 1.6x faster than one).
 */
const MIN_SPLIT_ROWS = 1 << 18;
/**
 * `frame.groupby` splits from this many rows up: its passes scatter into per-group accumulators, and on the
 * 2-core machine it was measured on, two parts of 1M rows ran 0.75x the speed of one worker, of 4M rows
 * 1.2x (same scenario).
 */
const MIN_GROUPBY_SPLIT_ROWS = 1 << 21;

/** Parts for a call's table: its row count read without loading Arrow (bad args get 1 part and fail in `run`). */
function partsOf(args: unknown, workers: number, minRows = MIN_SPLIT_ROWS): number {
  const rows = (args as { table?: { numRows?: unknown } } | null)?.table?.numRows;
  if (typeof rows !== 'number' || rows < minRows) return 1;
  return Math.max(1, Math.min(workers, Math.floor(rows / (minRows / 2))));
}

/** Rows sampled (evenly spaced) to guess how many groups a group-by makes. */
const SAMPLE = 8192;
/**
 * A group-by splits only when its sample holds at most this many distinct keys: merging costs in proportion
 * to groups times parts, and past a few thousand groups it costs more than the split saves (1M rows of
 * 100,000 groups: 51 ms in two parts against 30 ms on one worker, on 2 cores).
 */
const MAX_SAMPLED_GROUPS = SAMPLE / 4;

interface ChunkLike {
  length: number;
  values?: ArrayLike<unknown>;
  valueOffsets?: unknown;
  dictionary?: unknown;
}

/**
 * Distinct keys among `SAMPLE` rows of the table, read from the key columns' raw values (dictionary indices
 * for dictionary keys, nulls as whatever their slot holds: an estimate), or undefined when a key column is
 * not a plain fixed-width one (or missing: `run` reports that).
 */
function sampledGroups(
  table: { numRows: number; getChild?: (name: string) => unknown },
  by: unknown,
): number | undefined {
  const names = typeof by === 'string' ? [by] : by;
  if (!Array.isArray(names) || typeof table.getChild !== 'function') return undefined;
  const chunks: ChunkLike[][] = [];
  for (const name of names) {
    const column = typeof name === 'string' ? (table.getChild(name) as { data?: ChunkLike[] } | null) : null;
    const data = column?.data;
    if (!data || data.some((d) => !d.values || (d.valueOffsets && !d.dictionary))) return undefined;
    chunks.push(data);
  }
  const seen = new Set<unknown>();
  const cursors = chunks.map(() => ({ chunk: 0, base: 0 }));
  for (let j = 0; j < SAMPLE; j++) {
    const row = Math.floor((j * table.numRows) / SAMPLE);
    let key = '';
    let single: unknown;
    chunks.forEach((data, k) => {
      const at = cursors[k]!;
      while (row >= at.base + data[at.chunk]!.length) at.base += data[at.chunk++]!.length;
      single = data[at.chunk]!.values![row - at.base];
      if (chunks.length > 1) key += `${String(single)}|`;
    });
    seen.add(chunks.length > 1 ? key : single);
  }
  return seen.size;
}

/** A group-by spreads like any table, unless its keys look too many to merge cheaply. */
function groupbyParts(args: unknown, workers: number): number {
  const parts = partsOf(args, workers, MIN_GROUPBY_SPLIT_ROWS);
  if (parts < 2) return parts;
  const { table, by } = args as { table: { numRows: number }; by: unknown };
  const groups = sampledGroups(table, by);
  return groups !== undefined && groups > MAX_SAMPLED_GROUPS ? 1 : parts;
}

function rowSplit<R, P>(
  parts: (args: unknown, workers: number) => number,
  part: (k: Kernels, args: unknown, index: number, count: number) => P,
  merge: (k: Kernels, args: unknown, parts: P[]) => R,
): SplitSpec<unknown, R | Promise<R>, P | Promise<P>> {
  return {
    plan: (args, { workers }) => ({ parts: parts(args, workers) }),
    part: (args, { index, count }) => withKernels((k) => part(k, args, index, count)),
    merge: (args, results) => withKernels((k) => merge(k, args, results as P[])),
  };
}

const TABLE = { 'x-arrowTable': true, description: 'an Apache Arrow table' };

/** `frame.describe`: count, nulls, mean, std, min and max of every numeric column. */
export const describe = defineTool({
  name: 'frame.describe',
  description:
    'Summary statistics of every numeric column: { table } -> { [column]: { count, nulls, mean, std, min, max } }',
  idempotent: true,
  inputSchema: { type: 'object', properties: { table: TABLE }, required: ['table'] },
  run: (args: unknown): Record<string, ColumnSummary> | Promise<Record<string, ColumnSummary>> =>
    withKernels((k) => k.describe(args)),
  split: rowSplit<Record<string, ColumnSummary>, Moments[]>(
    (args, workers) => partsOf(args, workers),
    (k, args, index, count) => k.describePart(args, index, count),
    (k, args, parts) => k.describeMerge(args, parts),
  ),
});

/**
 * `frame.groupby`: one row per distinct key (in order of first appearance; null keys form one group), the
 * key columns first, then one column per aggregation. See `groupby` in `frame-kernels.ts`.
 */
export const groupby = defineTool({
  name: 'frame.groupby',
  description:
    "Group rows by key columns and aggregate: { table, by, aggs: { column: 'sum'|'mean'|'count'|'min'|'max' } } -> Table",
  idempotent: true,
  inputSchema: {
    type: 'object',
    properties: {
      table: TABLE,
      by: {
        oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1 }],
        description: 'the key column, or columns',
      },
      aggs: {
        type: 'object',
        additionalProperties: { enum: ['sum', 'mean', 'count', 'min', 'max'] },
        description: 'column name -> aggregation',
      },
    },
    required: ['table', 'by', 'aggs'],
  },
  run: (args: unknown): Table | Promise<Table> => withKernels((k) => k.groupby(args)),
  split: rowSplit<Table, GroupbyPart>(
    groupbyParts,
    (k, args, index, count) => k.groupbyPart(args, index, count),
    (k, args, parts) => k.groupbyMerge(args, parts),
  ),
});

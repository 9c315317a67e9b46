/**
 * The data-frame tools. Their kernels (and apache-arrow with them) load on a worker's first frame call, so
 * workers that never see a table never import Arrow.
 */
import type { Table } from 'apache-arrow';
import { defineTool } from '../../src/tool/define.js';
import type { ColumnSummary } from './frame-kernels.js';

export type { Aggregation, ColumnSummary } from './frame-kernels.js';

type Kernels = typeof import('./frame-kernels.js');
let kernels: Kernels | undefined;

/** Runs a kernel: at once once they are loaded, after loading them the first time. */
function withKernels<R>(use: (loaded: Kernels) => R): R | Promise<R> {
  if (kernels) return use(kernels);
  return import('./frame-kernels.js').then((loaded) => use((kernels = loaded)));
}

/** `frame.describe`: count, nulls, mean, std, min and max of every numeric column. */
export const describe = defineTool({
  name: 'frame.describe',
  description:
    'Summary statistics of every numeric column: { table } -> { [column]: { count, nulls, mean, std, min, max } }',
  idempotent: true,
  run: (args: unknown): Record<string, ColumnSummary> | Promise<Record<string, ColumnSummary>> =>
    withKernels((k) => k.describe(args)),
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
  run: (args: unknown): Table | Promise<Table> => withKernels((k) => k.groupby(args)),
});

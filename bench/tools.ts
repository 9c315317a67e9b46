/** Tools the benchmark scenarios call through the bridge. */
import type { Table } from 'apache-arrow';
import { defineTool } from '../src/index.js';

export const noop = defineTool({ name: 'bench.noop', run: () => undefined });

/** Reads one element: the cost of the call is all transport. */
export const first = defineTool({ name: 'bench.first', run: ({ x }: { x: Float64Array }) => x[0] });

/** Reads one cell of a table. */
export const cell = defineTool({
  name: 'bench.cell',
  run: ({ table }: { table: Table }) => table.getChildAt(0)?.get(0) as number,
});

/** Returns its args: both directions cross the codec. */
export const echo = defineTool({ name: 'bench.echo', run: (args: unknown) => args });

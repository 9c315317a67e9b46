/** Tools the benchmark scenarios call through the bridge. */
import type { Table } from 'apache-arrow';
import { defineSession, defineTool, shared } from '../src/tool/index.js';
import { makeIndex, rowNorms, topk } from './workers/index-kernel.js';

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

/** Adds two numbers given as an object, as callers send them: a tool so cheap that transport is its cost. */
export const add = defineTool({ name: 'bench.add', run: ({ a, b }: { a: number; b: number }) => a + b });

/** The same, with concurrent single calls micro-batched. */
export const addMicro = defineTool({
  name: 'bench.addMicro',
  batch: { maxSize: 256, maxWaitMs: 1 },
  run: ({ a, b }: { a: number; b: number }) => a + b,
});

/** Reads its whole argument and computes for about `ms` milliseconds: a stand-in for real work. */
export const compute = defineTool({
  name: 'bench.compute',
  idempotent: true,
  run({ x, ms }: { x: Float64Array; ms: number }) {
    let sum = 0;
    for (let i = 0; i < x.length; i++) sum += x[i]!;
    const end = performance.now() + ms;
    while (performance.now() < end) sum += Math.sqrt(sum + 1) * 0;
    return sum;
  },
});

/** Kept for the worker's lifetime: what `bench.leak` leaks. */
const leaked: number[][] = [];

/** Leaks 1 MiB of V8 heap per call (an array of doubles it never frees) and returns `value * 2`. */
export const leak = defineTool({
  name: 'bench.leak',
  run(value: number) {
    leaked.push(Array.from({ length: 131_072 }, (_, i) => i + 0.5));
    return value * 2;
  },
});

/** Chaos modes, by their index in `started`. */
const CHAOS_MODES = ['ok', 'exit', 'hang', 'throw'] as const;

/**
 * What a chaos call does: answer (`value + 1`), end its worker, spin past any time limit, or throw. With
 * `started` (a shared counter per mode), it counts that it started: the scenario can tell calls that never
 * reached a worker from calls stopped while they ran.
 */
export const chaos = defineTool({
  name: 'bench.chaos',
  run({ mode, value, started }: { mode: (typeof CHAOS_MODES)[number]; value: number; started?: Int32Array }) {
    if (started) Atomics.add(started, CHAOS_MODES.indexOf(mode), 1);
    if (mode === 'exit') process.exit(7);
    if (mode === 'throw') throw new RangeError(`chaos ${value}`);
    if (mode === 'hang') {
      const end = Date.now() + 60_000;
      while (Date.now() < end);
    }
    return value + 1;
  },
});

/** Makes `length` doubles in shared memory and returns them: a result that crosses with no copy. */
export const produce = defineTool({
  name: 'bench.produce',
  run: ({ length }: { length: number }) => shared(Float64Array, length).fill(1.5),
});

/** Sums one numeric column of a table: a pass over every row. */
export const sumColumn = defineTool({
  name: 'bench.sumColumn',
  run: ({ table, column }: { table: Table; column: string }) => {
    let sum = 0;
    for (const value of table.getChild(column)!) sum += value as number;
    return sum;
  },
});

/** `a + b + c`, with a 3-field input schema (checked on the caller's thread before dispatch). */
export const add3 = defineTool({
  name: 'bench.add3',
  inputSchema: {
    type: 'object',
    properties: { a: { type: 'number' }, b: { type: 'number' }, c: { type: 'number' } },
    required: ['a', 'b', 'c'],
  },
  run: ({ a, b, c }: { a: number; b: number; c: number }) => a + b + c,
});

/** The same without a schema. */
export const add3Plain = defineTool({
  name: 'bench.add3Plain',
  run: ({ a, b, c }: { a: number; b: number; c: number }) => a + b + c,
});

/** A vector index kept in its worker: norms computed once, at open (the `sessions` scenario). */
export const index = defineSession({
  name: 'bench.index',
  create: ({ matrix, dim }: { matrix: Float32Array; dim: number }) => makeIndex(matrix, dim),
});

/** The same query as a stateless tool: it must compute the norms again on every call. */
export const rebuildTopk = defineTool({
  name: 'bench.rebuildTopk',
  run: ({ matrix, dim, q, k }: { matrix: Float32Array; dim: number; q: Float32Array; k: number }) =>
    topk(matrix, rowNorms(matrix, dim), dim, q, k),
});

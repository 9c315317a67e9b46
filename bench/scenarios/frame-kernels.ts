/**
 * `frame.groupby` and `frame.describe` against the references a user would reach for, in alternating rounds
 * in one run: DuckDB (`@duckdb/node-api`, `threads = 1`, query time only, the table loaded beforehand),
 * arquero (main thread, its table built beforehand) and a hand-written Map loop, on 1M rows with 1,000 and
 * with 100,000 groups and 5 aggregations (one column with nulls). The bridge runs with `threads` workers
 * and with 1, to show what spreading one call over the pool gives.
 */
import { Float64, Table, makeData, makeVector, type Vector } from 'apache-arrow';
import { performance } from 'node:perf_hooks';
import { createBridge, shared, type Bridge } from '../../src/index.js';
import { fmtRatio, ratios, spread } from '../harness.js';
import type { Check, Scenario } from '../scenario.js';

const AGGS = { a: 'sum', b: 'mean', c: 'min', d: 'max', e: 'count' } as const;
const SQL_GROUPBY = 'SELECT k, sum(a), avg(b), min(c), max(d), count(e) FROM t GROUP BY k';
const SQL_DESCRIBE = `SELECT ${['a', 'b', 'c', 'd', 'e']
  .map((c) => `count(${c}), avg(${c}), stddev_samp(${c}), min(${c}), max(${c})`)
  .join(', ')} FROM t`;

/** Column values by row: the same formulas in SQL below. Every 50th value of `e` is null. */
const formulas = {
  a: (i: number) => i % 97,
  b: (i: number) => (i * 31) % 1013,
  c: (i: number) => (i * 17) % 10007,
  d: (i: number) => i % 89,
  e: (i: number) => i % 7,
};
const sqlColumns = (groups: number) =>
  `((i * 7919) % ${groups})::INTEGER AS k, (i % 97)::DOUBLE AS a, ((i * 31) % 1013)::DOUBLE AS b, ` +
  `((i * 17) % 10007)::DOUBLE AS c, (i % 89)::DOUBLE AS d, ` +
  `CASE WHEN i % 50 = 0 THEN NULL ELSE (i % 7)::DOUBLE END AS e`;

interface Data {
  table: Table;
  k: Int32Array;
  columns: Record<keyof typeof formulas, Float64Array>;
  eValid: Uint8Array;
}

function makeTable(rows: number, groups: number): Data {
  const k = shared(Int32Array, rows);
  for (let i = 0; i < rows; i++) k[i] = (i * 7919) % groups;
  const columns = {} as Data['columns'];
  const vectors: Record<string, Vector> = { k: makeVector(k) };
  const eValid = shared(Uint8Array, Math.ceil(rows / 8));
  let nulls = 0;
  for (const [name, f] of Object.entries(formulas) as Array<[keyof typeof formulas, (i: number) => number]>) {
    const values = shared(Float64Array, rows);
    for (let i = 0; i < rows; i++) values[i] = f(i);
    columns[name] = values;
    if (name !== 'e') {
      vectors[name] = makeVector(values);
      continue;
    }
    for (let i = 0; i < rows; i++) {
      if (i % 50 === 0) nulls++;
      else eValid[i >> 3] = eValid[i >> 3]! | (1 << (i & 7));
    }
    vectors.e = makeVector(
      makeData({ type: new Float64(), length: rows, nullCount: nulls, data: values, nullBitmap: eValid }),
    );
  }
  return { table: new Table(vectors), k, columns, eValid };
}

/** The loop a user would write: a Map from key to running aggregates. */
function jsGroupby({ k, columns: { a, b, c, d, e }, eValid }: Data): number {
  const groups = new Map<number, { a: number; b: number; n: number; c: number; d: number; e: number }>();
  for (let i = 0; i < k.length; i++) {
    let g = groups.get(k[i]!);
    if (g === undefined) groups.set(k[i]!, (g = { a: 0, b: 0, n: 0, c: Infinity, d: -Infinity, e: 0 }));
    g.a += a[i]!;
    g.b += b[i]!;
    g.n++;
    if (c[i]! < g.c) g.c = c[i]!;
    if (d[i]! > g.d) g.d = d[i]!;
    if (eValid[i >> 3]! & (1 << (i & 7))) g.e++;
    void e;
  }
  return groups.size;
}

interface Peer {
  groupby(): Promise<unknown>;
  describe(): Promise<unknown>;
  close(): void;
}

/** DuckDB with one thread and the same rows in a table of its own, or why it cannot run here. */
async function startDuckDB(rows: number, groups: number): Promise<Peer | string> {
  try {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
    const connection = await instance.connect();
    await connection.run(`CREATE TABLE t AS SELECT ${sqlColumns(groups)} FROM range(${rows}) r(i)`);
    return {
      groupby: () => connection.run(SQL_GROUPBY),
      describe: () => connection.run(SQL_DESCRIBE),
      close: () => {
        connection.closeSync();
        instance.closeSync();
      },
    };
  } catch (error) {
    return `DuckDB not run: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** arquero over the same typed arrays (its table built beforehand), or why it cannot run here. */
async function startArquero(data: Data): Promise<Peer | string> {
  try {
    const aq = await import('arquero');
    const { op } = aq;
    const { k, columns } = data;
    const e = Array.from(columns.e, (v, i) => (i % 50 === 0 ? null : v));
    const table = aq.table({ k, a: columns.a, b: columns.b, c: columns.c, d: columns.d, e });
    const rollup = { a: op.sum('a'), b: op.mean('b'), c: op.min('c'), d: op.max('d'), e: op.valid('e') };
    const stats = Object.fromEntries(
      ['a', 'b', 'c', 'd', 'e'].flatMap((c) => [
        [`${c}_n`, op.valid(c)],
        [`${c}_mean`, op.mean(c)],
        [`${c}_sd`, op.stdev(c)],
        [`${c}_min`, op.min(c)],
        [`${c}_max`, op.max(c)],
      ]),
    );
    return {
      groupby: async () => table.groupby('k').rollup(rollup),
      describe: async () => table.rollup(stats),
      close: () => undefined,
    };
  } catch (error) {
    return `arquero not run: ${error instanceof Error ? error.message : String(error)}`;
  }
}

export const frameKernels: Scenario = async ({ tiny, full, threads }) => {
  const rows = tiny ? 20_000 : 1_000_000;
  const groupCounts = tiny ? [100] : [1_000, 100_000];
  const roundsCount = tiny ? 1 : full ? 9 : 5;
  const pools: Array<[string, Bridge]> = [];
  for (const size of [...new Set([threads, 1])]) {
    const bridge = await createBridge({ minThreads: size, maxThreads: size, cache: false });
    pools.push([`toolbridge, ${size} worker${size > 1 ? 's' : ''}`, bridge]);
  }
  const ours = pools[0]![0];
  const rowsOut: Array<Record<string, string | number>> = [];
  const checks: Check[] = [];
  const notes: string[] = [];
  try {
    for (const groups of groupCounts) {
      const data = makeTable(rows, groups);
      const duck = await startDuckDB(rows, groups);
      const arquero = await startArquero(data);
      for (const peer of [duck, arquero]) if (typeof peer === 'string' && !notes.includes(peer)) notes.push(peer);
      const systems: Array<[string, Record<'groupby' | 'describe', () => unknown>]> = [
        ...pools.map(([name, bridge]): [string, Record<'groupby' | 'describe', () => unknown>] => [
          name,
          {
            groupby: () => bridge.call('frame.groupby', { table: data.table, by: 'k', aggs: AGGS }),
            describe: () => bridge.call('frame.describe', { table: data.table }),
          },
        ]),
        ...(typeof duck === 'string' ? [] : [['DuckDB, 1 thread', duck] as [string, Peer]]),
        ...(typeof arquero === 'string' ? [] : [['arquero (main thread)', arquero] as [string, Peer]]),
      ];
      const times: Record<string, number[]> = {};
      const ops = groups === groupCounts[0] ? (['groupby', 'describe'] as const) : (['groupby'] as const);
      try {
        // Warm-up: every worker compiles its loops, DuckDB and arquero touch their data.
        for (let w = 0; w < 3; w++) for (const [, system] of systems) for (const op of ops) await system[op]();
        for (let round = 0; round < roundsCount; round++) {
          for (const op of ops) {
            // In turn, starting from a different system each round.
            for (let s = 0; s < systems.length; s++) {
              const [name, system] = systems[(s + round) % systems.length]!;
              const start = performance.now();
              await system[op]();
              (times[`${op}|${name}`] ??= []).push(performance.now() - start);
            }
          }
          if (round === 0) {
            const start = performance.now();
            jsGroupby(data);
            (times['groupby|plain JS Map loop (main thread)'] ??= []).push(performance.now() - start);
          }
        }
      } finally {
        if (typeof duck !== 'string') duck.close();
      }
      for (const [key, samples] of Object.entries(times)) {
        const [op, system] = key.split('|') as [string, string];
        const { median, min, max } = spread(samples);
        rowsOut.push({
          job:
            op === 'groupby'
              ? `frame.groupby ${rows.toLocaleString('en')} rows, ${groups.toLocaleString('en')} groups, 5 aggs`
              : `frame.describe ${rows.toLocaleString('en')} rows x 5 columns`,
          system,
          'median ms': Math.round(median * 100) / 100,
          'min / max ms': `${min.toFixed(1)} / ${max.toFixed(1)}`,
          'M rows/s': Math.round(rows / median / 1e3),
        });
      }
      const duckTimes = (op: string) => times[`${op}|DuckDB, 1 thread`];
      for (const op of ops) {
        if (!duckTimes(op)) continue;
        const ratio = spread(ratios(times[`${op}|${ours}`]!, duckTimes(op)!));
        checks.push({
          criterion: `frame.${op} ${rows.toLocaleString('en')} rows${op === 'groupby' ? `, ${groups.toLocaleString('en')} groups` : ''}, ${threads} workers: time / one-thread DuckDB`,
          measured: fmtRatio(ratio),
          target: '<= 1x',
          pass: ratio.median <= 1,
        });
      }
      if (threads > 1 && groups === groupCounts[0]) {
        const scale = spread(ratios(times['describe|toolbridge, 1 worker']!, times[`describe|${ours}`]!));
        notes.push(`frame.describe: one call on ${threads} workers against 1: ${fmtRatio(scale)} faster.`);
      }
    }
    notes.push(
      `Median, min and max over ${roundsCount} rounds, the systems in turn; DuckDB's time is its query alone (the table loaded beforehand), arquero's its rollup on a table built beforehand, ours the whole call. frame.describe spreads over the workers from 262,144 rows (row ranges, partial moments merged); frame.groupby from 2,097,152 rows when a sample of its keys shows a few thousand groups or fewer, so at 1M rows it runs on one worker.`,
    );
    return {
      name: 'frame-kernels',
      title: `frame.groupby / frame.describe against one-thread DuckDB, arquero and a plain loop, ${threads} workers`,
      rows: rowsOut,
      checks,
      notes,
    };
  } finally {
    await Promise.all(pools.map(([, bridge]) => bridge.close()));
  }
};

/**
 * Data frames (issue 6, scenario 3): Arrow tables of 10k to 4M rows (a float64, an int32 and a string
 * column) into a tool that sums a column, sent as a user would without toolbridge — row objects by JSON,
 * row objects by structured clone, Arrow IPC bytes by structured clone — and as a toolbridge shared frame.
 * Each path pays what it costs from the caller's table (or rows) to the tool's sum. Call by call in turn.
 */
import { Table, makeVector, tableToIPC, vectorFromArray, Utf8 } from 'apache-arrow';
import { Piscina } from 'piscina';
import { createBridge, shared } from '../../src/index.js';
import { lines } from '../charts.js';
import { fmt, fmtRatio, ratios, rounds, spread, type Contender } from '../harness.js';
import { rawPiscinaWorker, toolsModule, type Scenario } from '../scenario.js';

/** Row objects get slow to build and send past this; larger tables compare Arrow paths only. */
const ROWS_MAX = 1_000_000;

function makeTable(n: number): Table {
  const x = shared(Float64Array, n);
  const y = shared(Int32Array, n);
  const names = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    x[i] = i * 0.5;
    y[i] = i % 1000;
    names[i] = `item-${i % 5000}`;
  }
  return new Table({ x: makeVector(x), y: makeVector(y), name: vectorFromArray(names, new Utf8()) });
}

export const dataframes: Scenario = async ({ tiny, full, threads }) => {
  const sizes = tiny ? [10_000] : full ? [10_000, 100_000, 1_000_000, 4_000_000] : [10_000, 100_000];
  const bridge = await createBridge({ minThreads: threads, maxThreads: threads, tools: [toolsModule] });
  const piscina = new Piscina({ filename: rawPiscinaWorker, minThreads: threads, maxThreads: threads });
  const rows: Array<Record<string, string | number>> = [];
  const points: Array<{ x: number; series: string; value: number }> = [];
  const notes: string[] = [];
  try {
    for (const n of sizes) {
      const table = makeTable(n);
      const column = 'x';
      const withRows = n <= ROWS_MAX;
      // Row objects, as an application holding its data that way would have them.
      const objects = withRows ? table.toArray().map((row) => ({ ...row.toJSON() })) : [];
      const contenders: Contender[] = [
        ...(withRows
          ? [
              {
                name: 'row objects by JSON',
                run: () => piscina.run({ kind: 'sumJson', json: JSON.stringify(objects), column }),
              },
              { name: 'row objects by clone', run: () => piscina.run({ kind: 'sumRows', rows: objects, column }) },
            ]
          : []),
        { name: 'Arrow IPC by clone', run: () => piscina.run({ kind: 'sumIpc', bytes: tableToIPC(table), column }) },
        { name: 'toolbridge shared frame', run: () => bridge.call('bench.sumColumn', { table, column }) },
      ];
      const big = n > 100_000;
      const result = await rounds(
        contenders,
        tiny ? { rounds: 1, perRound: 2, warmup: 1 } : { rounds: full ? 5 : 3, perRound: big ? 2 : 10, warmup: 1 },
      );
      const row: Record<string, string | number> = { rows: n.toLocaleString('en') };
      for (const c of contenders) {
        row[c.name] = fmt(result.all[c.name]!.p50);
        points.push({ x: n, series: c.name, value: result.all[c.name]!.p50 });
      }
      const ipc = spread(ratios(result.p50s['Arrow IPC by clone']!, result.p50s['toolbridge shared frame']!));
      row['IPC / shared'] = fmtRatio(ipc);
      rows.push(row);
      const fastest = Object.entries(result.all).sort((a, b) => a[1].p50 - b[1].p50)[0]!;
      if (fastest[0] !== 'toolbridge shared frame') {
        notes.push(`${n.toLocaleString('en')} rows: ${fastest[0]} is fastest (${fmt(fastest[1].p50)}).`);
      }
    }
  } finally {
    await bridge.close();
    await piscina.destroy();
  }
  notes.push(
    `Row objects stop at ${ROWS_MAX.toLocaleString('en')} rows. Every path ends in the same sum over the float64 column; the shared frame's time is mostly that sum.`,
  );
  return {
    name: 'dataframes',
    title: 'Arrow tables (float64, int32, utf8 columns) into a tool that sums a column, by path (p50)',
    rows,
    checks: [],
    notes,
    charts: [
      {
        file: 'dataframes',
        title: 'Data frames by path',
        spec: lines('A table into a tool that sums a column: p50 (ms)', points, 'rows', 'p50 (ms)'),
      },
    ],
  };
};

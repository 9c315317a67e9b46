/**
 * Frames: a 1M-row x 8 float64-column Arrow table in shared memory into a tool that reads one value,
 * against a no-op call and against the same table as Arrow IPC bytes posted by structured clone to a raw
 * Piscina worker that rebuilds it with tableFromIPC. Targets (issue 2): p50 <= no-op p50 + 1 ms, and the
 * IPC path >= 50x slower.
 */
import { Table, makeVector, tableToIPC } from 'apache-arrow';
import { Piscina } from 'piscina';
import { createBridge, shared } from '../../src/index.js';
import { fmt, fmtRatio, latencyRows, ratios, rounds, spread } from '../harness.js';
import { bars } from '../charts.js';
import { rawWorker, toolsModule, type Scenario } from '../scenario.js';

export const frames: Scenario = async ({ tiny, threads }) => {
  const n = tiny ? 10_000 : 1_000_000;
  const columns: Record<string, ReturnType<typeof makeVector>> = {};
  for (let c = 0; c < 8; c++) {
    const values = shared(Float64Array, n);
    for (let i = 0; i < n; i++) values[i] = i * (c + 1);
    columns[`c${c}`] = makeVector(values);
  }
  const table = new Table(columns);
  const ipc = tableToIPC(table);
  const bridge = await createBridge({ minThreads: threads, maxThreads: threads, tools: [toolsModule] });
  const piscina = new Piscina({ filename: rawWorker, minThreads: threads, maxThreads: threads });
  try {
    const copiedBefore = bridge.stats().bytes.copied;
    const result = await rounds(
      [
        { name: 'no-op call', run: () => bridge.call('bench.noop') },
        { name: 'toolbridge shared frame', run: () => bridge.call('bench.cell', { table }) },
        { name: 'Arrow IPC by clone', run: () => piscina.run({ kind: 'ipc', bytes: ipc }) },
      ],
      tiny ? { rounds: 2, perRound: 3, warmup: 2 } : { rounds: 8, perRound: 10, warmup: 5 },
    );
    const copied = bridge.stats().bytes.copied - copiedBefore;
    const noop = result.p50s['no-op call']!;
    const frame = result.p50s['toolbridge shared frame']!;
    const clone = result.p50s['Arrow IPC by clone']!;
    const overhead = spread(frame.map((v, i) => v - noop[i]!));
    const speedup = spread(ratios(clone, frame));
    return {
      name: 'frames',
      title: `A ${n.toLocaleString('en')}-row x 8 float64 Arrow table (${(ipc.byteLength / 2 ** 20).toFixed(0)} MiB) into a tool that reads one value`,
      rows: latencyRows(result.all),
      charts: [
        {
          file: 'frames',
          title: 'Arrow table into a tool',
          spec: bars(
            `A ${n.toLocaleString('en')}-row x 8 float64 Arrow table into a tool: p50 (ms, log scale)`,
            Object.entries(result.all).map(([category, s]) => ({ category, value: s.p50 })),
            'p50 (ms)',
            true,
          ),
        },
      ],
      checks: [
        {
          criterion: 'shared frame p50 minus no-op p50 (per round)',
          measured: `${fmt(overhead.median)} (min ${fmt(overhead.min)}, max ${fmt(overhead.max)})`,
          target: '<= 1 ms',
          pass: overhead.median <= 1,
        },
        {
          criterion: 'Arrow IPC by structured clone p50 / shared frame p50',
          measured: fmtRatio(speedup),
          target: '>= 50x',
          pass: speedup.median >= 50,
        },
        { criterion: 'bytes.copied', measured: `${copied} bytes`, target: '0', pass: copied === 0 },
      ],
    };
  } finally {
    await bridge.close();
    await piscina.destroy();
  }
};

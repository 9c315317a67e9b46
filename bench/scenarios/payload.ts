/**
 * Payload: a Float64Array in shared memory into a tool that reads one element, against a no-op call and
 * against the same array (not shared) posted to a raw Piscina worker by structured clone.
 * Targets (issue 2) at 256 MiB: p50 <= no-op p50 + 1 ms; >= 100x faster than structured clone;
 * from 1 MiB to 256 MiB the time grows <= 2x; bytes.copied does not move.
 */
import { Piscina } from 'piscina';
import { createBridge, shared } from '../../src/index.js';
import { fmt, fmtRatio, ratios, rounds, spread } from '../harness.js';
import { lines } from '../charts.js';
import { rawWorker, toolsModule, type Scenario } from '../scenario.js';

const MiB = 1024 * 1024;

export const payload: Scenario = async ({ tiny, threads }) => {
  const bridge = await createBridge({ minThreads: threads, maxThreads: threads, tools: [toolsModule] });
  const piscina = new Piscina({ filename: rawWorker, minThreads: threads, maxThreads: threads });
  const sizes = tiny ? [1 * MiB, 4 * MiB] : [1 * MiB, 16 * MiB, 64 * MiB, 256 * MiB];
  const rows: Array<Record<string, string | number>> = [];
  const sharedP50s = new Map<number, number[]>();
  const checks = [];
  const points: Array<{ x: number; series: string; value: number }> = [];
  try {
    const copiedBefore = bridge.stats().bytes.copied;
    let last: { noop: number[]; shared: number[]; clone: number[] } | undefined;
    for (const bytes of sizes) {
      const x = shared(Float64Array, bytes / 8).fill(1);
      const local = new Float64Array(bytes / 8).fill(1);
      const big = bytes >= 64 * MiB;
      const result = await rounds(
        [
          { name: 'no-op call', run: () => bridge.call('bench.noop') },
          { name: 'toolbridge shared', run: () => bridge.call('bench.first', { x }) },
          { name: 'structured clone', run: () => piscina.run({ kind: 'first', x: local }) },
        ],
        tiny ? { rounds: 2, perRound: 3, warmup: 2 } : { rounds: big ? 6 : 10, perRound: big ? 4 : 40, warmup: 3 },
      );
      sharedP50s.set(bytes, result.p50s['toolbridge shared']!);
      last = {
        noop: result.p50s['no-op call']!,
        shared: result.p50s['toolbridge shared']!,
        clone: result.p50s['structured clone']!,
      };
      const speedup = spread(ratios(last.clone, last.shared));
      for (const [series, name] of [
        ['no-op call', 'no-op call'],
        ['toolbridge shared memory', 'toolbridge shared'],
        ['structured clone (raw Piscina)', 'structured clone'],
      ] as const) {
        points.push({ x: bytes / MiB, series, value: result.all[name]!.p50 });
      }
      rows.push({
        size: `${bytes / MiB} MiB`,
        'no-op p50': fmt(result.all['no-op call']!.p50),
        'shared p50': fmt(result.all['toolbridge shared']!.p50),
        'clone p50': fmt(result.all['structured clone']!.p50),
        'clone / shared': fmtRatio(speedup),
      });
    }
    const copied = bridge.stats().bytes.copied - copiedBefore;
    const top = sizes[sizes.length - 1]!;
    if (last) {
      const overhead = spread(last.shared.map((v, i) => v - last!.noop[i]!));
      const speedup = spread(ratios(last.clone, last.shared));
      const growth = spread(ratios(sharedP50s.get(top)!, sharedP50s.get(sizes[0]!)!));
      checks.push(
        {
          criterion: `${top / MiB} MiB shared arg: p50 minus no-op p50 (per round)`,
          measured: `${fmt(overhead.median)} (min ${fmt(overhead.min)}, max ${fmt(overhead.max)})`,
          target: '<= 1 ms',
          pass: overhead.median <= 1,
        },
        {
          criterion: `${top / MiB} MiB: structured clone p50 / shared p50`,
          measured: fmtRatio(speedup),
          target: '>= 100x',
          pass: speedup.median >= 100,
        },
        {
          criterion: `shared p50 at ${top / MiB} MiB / at ${sizes[0]! / MiB} MiB`,
          measured: fmtRatio(growth),
          target: '<= 2x',
          pass: growth.median <= 2,
        },
        {
          criterion: 'bytes.copied over the whole sweep',
          measured: `${copied} bytes`,
          target: '0',
          pass: copied === 0,
        },
      );
    }
    const charts = [
      {
        file: 'payload',
        title: 'Payload sweep',
        spec: lines('A Float64Array into a tool that reads one element: p50 (ms)', points, 'MiB', 'p50 (ms)'),
      },
    ];
    return {
      name: 'payload',
      title: 'A Float64Array argument into a tool that reads one element',
      rows,
      checks,
      charts,
    };
  } finally {
    await bridge.close();
    await piscina.destroy();
  }
};

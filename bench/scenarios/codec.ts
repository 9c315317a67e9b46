/**
 * Generic values: where MessagePack beats structured clone for plain nested values (records of numbers,
 * strings and arrays), and which MessagePack library to use.
 *
 * 1. In one thread, serialize + deserialize: structuredClone, msgpackr (the mode toolbridge uses) and
 *    @msgpack/msgpack.
 * 2. End to end, an echo tool through two bridges that differ only in `codec.msgpackThreshold`
 *    (always clone vs always MessagePack), in alternating rounds.
 *
 * The runtime's default threshold should sit where (2) turns in MessagePack's favour.
 */
import { decode, encode } from '@msgpack/msgpack';
import { Packr } from 'msgpackr';
import { performance } from 'node:perf_hooks';
import { BufferTable } from '../../src/codec/buffers.js';
import { takeApart } from '../../src/codec/walk.js';
import { DEFAULT_MSGPACK_THRESHOLD } from '../../src/options.js';
import { createBridge } from '../../src/index.js';
import { fmt, ratios, rounds, spread, summarize } from '../harness.js';
import { lines } from '../charts.js';
import { toolsModule, type Scenario } from '../scenario.js';

function records(n: number) {
  return Array.from({ length: n }, (_, i) => ({
    id: i,
    name: `item-${i}`,
    score: i / 7,
    active: i % 2 === 0,
    tags: ['alpha', 'beta', String(i % 10)],
    position: { x: i * 0.5, y: -i },
  }));
}

function inThread(fn: () => unknown, minMs: number): number {
  for (let i = 0; i < 3; i++) fn();
  const samples: number[] = [];
  const end = performance.now() + minMs;
  while (performance.now() < end || samples.length < 5) {
    const t = performance.now();
    fn();
    samples.push(performance.now() - t);
  }
  return summarize(samples).p50;
}

export const codec: Scenario = async ({ tiny, full, threads }) => {
  const counts = tiny ? [10, 100] : [10, 100, 1_000, 5_000, 20_000, ...(full ? [100_000] : [])];
  const packr = new Packr({ structuredClone: true, moreTypes: true, useRecords: true });
  const cloneBridge = await createBridge({
    minThreads: threads,
    maxThreads: threads,
    tools: [toolsModule],
    codec: { msgpackThreshold: Number.MAX_SAFE_INTEGER },
  });
  const packBridge = await createBridge({
    minThreads: threads,
    maxThreads: threads,
    tools: [toolsModule],
    codec: { msgpackThreshold: 0 },
  });
  const rows: Array<Record<string, string | number>> = [];
  const points: Array<{ x: number; series: string; value: number }> = [];
  let crossover: number | undefined;
  try {
    for (const n of counts) {
      const value = records(n);
      const estimate = takeApart(value, new BufferTable(), 'args').plainBytes;
      const budget = tiny ? 5 : full ? 150 : 60;
      const clone = inThread(() => structuredClone(value), budget);
      const msgpackr = inThread(() => packr.unpack(packr.pack(value)), budget);
      const msgpack = inThread(() => decode(encode(value)), budget);
      const big = n >= 20_000;
      const result = await rounds(
        [
          { name: 'clone', run: () => cloneBridge.call('bench.echo', value) },
          { name: 'msgpack', run: () => packBridge.call('bench.echo', value) },
        ],
        tiny ? { rounds: 2, perRound: 2, warmup: 1 } : { rounds: big ? 6 : 10, perRound: big ? 3 : 20, warmup: 3 },
      );
      const gain = spread(ratios(result.p50s.clone!, result.p50s.msgpack!));
      points.push(
        { x: n, series: 'echo through a worker, structured clone', value: result.all.clone!.p50 },
        { x: n, series: 'echo through a worker, MessagePack', value: result.all.msgpack!.p50 },
        { x: n, series: 'structuredClone in one thread', value: clone },
        { x: n, series: 'msgpackr in one thread', value: msgpackr },
      );
      // A win is a lead beyond this machine's run-to-run noise, not a ratio of 1.01.
      if (gain.median >= 1.05 && crossover === undefined) crossover = estimate;
      if (gain.median < 1.05) crossover = undefined;
      rows.push({
        records: n,
        'estimated bytes': estimate,
        'structuredClone (1 thread)': fmt(clone),
        'msgpackr (1 thread)': fmt(msgpackr),
        '@msgpack/msgpack (1 thread)': fmt(msgpack),
        'bridge echo, clone p50': fmt(result.all.clone!.p50),
        'bridge echo, msgpack p50': fmt(result.all.msgpack!.p50),
        'clone / msgpack': gain.median.toFixed(2),
      });
    }
  } finally {
    await cloneBridge.close();
    await packBridge.close();
  }
  const notes = [
    crossover === undefined
      ? 'End to end, MessagePack did not lead structured clone by 5% or more at the largest sizes measured.'
      : `End to end, MessagePack leads by 5% or more from about ${crossover} estimated bytes up.`,
    `The runtime default is codec.msgpackThreshold = ${DEFAULT_MSGPACK_THRESHOLD} estimated bytes.`,
  ];
  return {
    name: 'codec',
    title: 'Plain nested values: structured clone vs MessagePack',
    rows,
    checks: [],
    notes,
    charts: [
      {
        file: 'codec',
        title: 'Plain values',
        spec: lines('Nested records: structured clone vs MessagePack, p50 (ms)', points, 'records', 'p50 (ms)'),
      },
    ],
  };
};

/**
 * Dispatch: a no-op call through toolbridge, raw Piscina, tinypool, workerpool, poolifier, comlink over
 * worker_threads and bare postMessage, same thread count. (1) Latency of sequential calls, call by call in
 * turn. (2) Throughput with 8 and 64 calls in flight (closed loop: each finished call starts the next).
 * Targets: toolbridge p50 <= 1.25 x Piscina p50; no-op throughput with 64 in flight >= raw Piscina's.
 */
import { performance } from 'node:perf_hooks';
import { createBridge } from '../../src/index.js';
import { fmt, fmtRatio, latencyRows, ratios, rounds, spread } from '../harness.js';
import { bars } from '../charts.js';
import { startPeers } from '../peers/peers.js';
import { toolsModule, type Scenario } from '../scenario.js';

/** Calls per second with `inFlight` calls kept going until `total` have completed. */
export async function closedLoop(run: () => PromiseLike<unknown>, inFlight: number, total: number): Promise<number> {
  let started = 0;
  const start = performance.now();
  const lane = async () => {
    while (started < total) {
      started++;
      await run();
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return total / ((performance.now() - start) / 1000);
}

export const dispatch: Scenario = async ({ tiny, full, threads }) => {
  const bridge = await createBridge({ minThreads: threads, maxThreads: threads, tools: [toolsModule] });
  const peers = await startPeers(threads);
  try {
    // Both carry the same small object, as callers send (Piscina's no-op gets `{ kind: 'noop' }` too).
    const noopArgs = { kind: 'noop' };
    const contenders = [{ name: 'toolbridge', run: () => bridge.call('bench.noop', noopArgs) }, ...peers];
    // The target is a head-to-head: toolbridge and raw Piscina alone, call by call in turn.
    const headToHead = await rounds(
      contenders.filter((c) => c.name === 'toolbridge' || c.name === 'piscina'),
      tiny ? { rounds: 2, perRound: 10, warmup: 10 } : { rounds: full ? 30 : 20, perRound: 400, warmup: 5_000 },
    );
    const ratio = spread(ratios(headToHead.p50s.toolbridge!, headToHead.p50s.piscina!));
    // Throughput head to head: the two alone, 64 in flight, in turn (which goes first alternates).
    const pair = contenders.filter((c) => c.name === 'toolbridge' || c.name === 'piscina');
    const pairRounds = tiny ? 1 : full ? 9 : 5;
    const pairRates: Record<string, number[]> = { toolbridge: [], piscina: [] };
    for (let r = 0; r < pairRounds; r++) {
      for (let k = 0; k < 2; k++) {
        const c = pair[(r + k) % 2]!;
        pairRates[c.name]!.push(await closedLoop(c.run, 64, tiny ? 200 : 10_000));
      }
    }
    const throughputRatio = spread(ratios(pairRates.toolbridge!, pairRates.piscina!));
    // Then every system in turn, for the table.
    const result = await rounds(
      contenders,
      tiny ? { rounds: 2, perRound: 10, warmup: 10 } : { rounds: full ? 20 : 10, perRound: 200, warmup: 1_000 },
    );
    const allRatio = spread(ratios(result.p50s.toolbridge!, result.p50s.piscina!));

    // Throughput: bare postMessage answers one message at a time, so it sits this one out.
    const pooled = contenders.filter((c) => !c.name.startsWith('bare'));
    const levels = [8, 64];
    const perRun = tiny ? 200 : 5_000;
    const throughput = new Map<string, number[]>(pooled.map((c) => [c.name, []]));
    const throughputRounds = tiny ? 1 : full ? 3 : 2;
    for (let r = 0; r < throughputRounds; r++) {
      for (const level of levels) {
        for (let k = 0; k < pooled.length; k++) {
          const c = pooled[(r + k) % pooled.length]!;
          throughput.get(c.name)!.push(await closedLoop(c.run, level, perRun));
        }
      }
    }
    const perLevel = (name: string, level: number) => {
      const values = throughput.get(name)!.filter((_, i) => levels[i % levels.length] === level);
      return Math.round(spread(values).median);
    };
    const rows = latencyRows(result.all, true).map((row) => {
      const name = String(row.system);
      return throughput.has(name)
        ? { ...row, 'calls/s, 8 in flight': perLevel(name, 8), 'calls/s, 64 in flight': perLevel(name, 64) }
        : row;
    });
    const charts = [
      {
        file: 'dispatch-latency',
        title: 'No-op call latency',
        spec: bars(
          'No-op call, p50 latency of sequential calls (µs)',
          Object.entries(result.all).map(([category, s]) => ({ category, value: s.p50 * 1000 })),
          'p50 (µs)',
        ),
      },
      {
        file: 'dispatch-throughput',
        title: 'No-op call throughput',
        spec: bars(
          'No-op calls per second with 8 and 64 in flight',
          pooled.flatMap((c) =>
            levels.map((level) => ({ category: c.name, series: `${level} in flight`, value: perLevel(c.name, level) })),
          ),
          'calls/s',
        ),
      },
    ];
    return {
      name: 'dispatch',
      charts,
      title: `No-op call: latency of sequential calls, and throughput with 8 and 64 in flight; ${threads} threads`,
      rows,
      checks: [
        {
          criterion: 'no-op bridge.call p50 / raw Piscina run() p50, head to head (per round)',
          measured: fmtRatio(ratio),
          target: '<= 1.25x',
          pass: ratio.median <= 1.25,
        },
        {
          criterion: 'no-op throughput with 64 in flight, toolbridge / raw Piscina, head to head (per round)',
          measured: fmtRatio(throughputRatio),
          target: '>= 1x',
          pass: throughputRatio.median >= 1,
        },
      ],
      notes: [
        `Head to head, p50 of all calls: toolbridge ${fmt(headToHead.all.toolbridge!.p50)}, Piscina ` +
          `${fmt(headToHead.all.piscina!.p50)}.`,
        'Latency (table): all seven systems called in turn, call by call; there toolbridge p50 / Piscina p50 ' +
          `was ${fmtRatio(allRatio)} (each call runs after six other systems' code, which costs the longer ` +
          'code path more). The target check runs the two alone.',
        `Throughput head to head (the check): ${pairRounds} rounds of ${tiny ? 200 : 10_000} calls, 64 in flight, ` +
          `toolbridge median ${Math.round(spread(pairRates.toolbridge!).median)} calls/s, Piscina ` +
          `${Math.round(spread(pairRates.piscina!).median)}.`,
        `Throughput (table): medians over ${throughputRounds} rounds of ${perRun} calls at each level; comlink and bare postMessage use ` +
          `one worker, the pools ${threads}.`,
      ],
    };
  } finally {
    await bridge.close();
    for (const peer of peers) await peer.close();
  }
};

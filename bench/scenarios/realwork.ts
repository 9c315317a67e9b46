/**
 * Real work (issue 6, scenario 9): `vector.topk` over 100k x 384 float32 embeddings and `frame.groupby`
 * over 5M rows, through toolbridge against the same code run on the main thread, with the event-loop
 * delay the main thread suffers meanwhile (`perf_hooks.monitorEventLoopDelay`): what a service's other
 * requests feel while a tool runs.
 */
import { Table, makeVector } from 'apache-arrow';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createBridge, shared, type ToolContext } from '../../src/index.js';
import { bars } from '../charts.js';
import { fmt, fmtRatio, ratios, spread } from '../harness.js';
import type { Scenario } from '../scenario.js';
import { groupby } from '../../workers/tools/frame.js';
import { topk } from '../../workers/tools/vector.js';

interface Run {
  ms: number;
  /** Worst event-loop delay seen while it ran, in ms. */
  delayMs: number;
}

/** Runs `fn` with the event loop watched every 5 ms; returns its time and the worst delay. */
async function watched(fn: () => unknown): Promise<Run> {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  // Let the monitor take a first sample before the work starts.
  await new Promise((resolve) => setTimeout(resolve, 15));
  const start = performance.now();
  await fn();
  const ms = performance.now() - start;
  await new Promise((resolve) => setTimeout(resolve, 15));
  histogram.disable();
  return { ms, delayMs: histogram.max / 1e6 };
}

const ctx: ToolContext = { callId: 0, tool: 'main', signal: new AbortController().signal, progress: () => {} };

export const realwork: Scenario = async ({ tiny, full, threads }) => {
  const rowsN = tiny ? 2_000 : 100_000;
  const dim = 384;
  const groupRows = tiny ? 50_000 : 5_000_000;
  const matrix = shared(Float32Array, rowsN * dim);
  for (let i = 0; i < matrix.length; i++) matrix[i] = Math.sin(i * 12.9898) * 0.5;
  const query = shared(Float32Array, dim);
  for (let i = 0; i < dim; i++) query[i] = Math.cos(i);
  const key = shared(Int32Array, groupRows);
  const value = shared(Float64Array, groupRows);
  for (let i = 0; i < groupRows; i++) {
    key[i] = (i * 7919) % 1000;
    value[i] = i % 97;
  }
  const table = new Table({ key: makeVector(key), value: makeVector(value) });
  const topkArgs = { query, matrix, k: 10 };
  const groupArgs = { table, by: 'key', aggs: { value: 'mean' } };
  const bridge = await createBridge({ minThreads: threads, maxThreads: threads });
  const jobs = [
    {
      name: `vector.topk, ${rowsN.toLocaleString('en')} x ${dim} float32`,
      bridged: () => bridge.call('vector.topk', topkArgs),
      inline: () => topk.run(topkArgs as never, ctx),
    },
    {
      name: `frame.groupby, ${groupRows.toLocaleString('en')} rows, 1,000 groups`,
      bridged: () => bridge.call('frame.groupby', groupArgs),
      inline: () => groupby.run(groupArgs as never, ctx),
    },
  ];
  const roundsCount = tiny ? 1 : full ? 5 : 3;
  const rows: Array<Record<string, string | number>> = [];
  const chart: Array<{ category: string; value: number }> = [];
  try {
    for (const job of jobs) {
      await job.bridged();
      await job.inline();
      const bridged: Run[] = [];
      const inline: Run[] = [];
      for (let r = 0; r < roundsCount; r++) {
        // In turn, alternating which goes first.
        if (r % 2 === 0) {
          bridged.push(await watched(job.bridged));
          inline.push(await watched(job.inline));
        } else {
          inline.push(await watched(job.inline));
          bridged.push(await watched(job.bridged));
        }
      }
      const time = (runs: Run[]) => spread(runs.map((r) => r.ms));
      const delay = (runs: Run[]) => spread(runs.map((r) => r.delayMs));
      const ratio = spread(
        ratios(
          bridged.map((r) => r.ms),
          inline.map((r) => r.ms),
        ),
      );
      rows.push(
        {
          job: job.name,
          where: 'toolbridge (worker)',
          'time (median)': fmt(time(bridged).median),
          'event-loop delay, worst (median)': fmt(delay(bridged).median),
          'toolbridge / main thread time': fmtRatio(ratio),
        },
        {
          job: job.name,
          where: 'main thread',
          'time (median)': fmt(time(inline).median),
          'event-loop delay, worst (median)': fmt(delay(inline).median),
          'toolbridge / main thread time': '',
        },
      );
      chart.push(
        { category: `${job.name.split(',')[0]}: event loop blocked, main thread`, value: delay(inline).median },
        { category: `${job.name.split(',')[0]}: event loop blocked, toolbridge`, value: delay(bridged).median },
      );
    }
  } finally {
    await bridge.close();
  }
  return {
    name: 'realwork',
    title: 'Real work: built-in tools through toolbridge vs the same code on the main thread',
    rows,
    checks: [],
    notes: [
      `${roundsCount} rounds each, in turn. The event-loop delay is the worst one perf_hooks.monitorEventLoopDelay saw (5 ms resolution) while the work ran: on the main thread it is about the whole run, through toolbridge the loop stays free.`,
    ],
    charts: [
      {
        file: 'realwork',
        title: 'Event-loop delay during real work',
        spec: bars('Worst event-loop delay while the tool runs (ms, log scale)', chart, 'ms', true),
      },
    ],
  };
};

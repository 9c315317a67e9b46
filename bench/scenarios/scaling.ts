/**
 * Scaling (issue 6, scenario 7): a CPU-bound tool (a fixed amount of arithmetic) at 1 to N threads, N the
 * machine's cores, and past them to show oversubscription. Throughput with four calls in flight per thread,
 * against one thread. Run it on a machine with more cores to see the pool scale past two
 * (`npm run bench -- --only scaling`).
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { createBridge } from '../../src/index.js';
import { lines } from '../charts.js';
import { spread } from '../harness.js';
import type { Scenario } from '../scenario.js';
import { crunch } from '../cost-tools.js';

const costTools = new URL('../cost-tools.js', import.meta.url);

export const scaling: Scenario = async ({ tiny, full }) => {
  const cores = availableParallelism();
  const counts = [...new Set([1, 2, 4, cores, cores * 2, cores * 4].filter((n) => n >= 1))].sort((a, b) => a - b);
  const threadCounts = tiny ? [1, 2] : counts.filter((n) => n <= (full ? Math.max(8, cores * 4) : cores * 2));
  // Size one call at about 5 ms of arithmetic on this machine.
  let iterations = 100_000;
  for (;;) {
    const t = performance.now();
    crunch(iterations);
    if (performance.now() - t >= 5 || iterations > 1e9) break;
    iterations *= 2;
  }
  const tasks = tiny ? 16 : full ? 400 : 100;
  const roundsCount = tiny ? 1 : full ? 3 : 1;
  const rows: Array<Record<string, string | number>> = [];
  const points: Array<{ x: number; series: string; value: number }> = [];
  let single = 0;
  for (const threads of threadCounts) {
    const bridge = await createBridge({ minThreads: threads, maxThreads: threads, tools: [costTools] });
    try {
      const inFlight = threads * 4;
      const run = async () => {
        let next = 0;
        const start = performance.now();
        await Promise.all(
          Array.from({ length: inFlight }, async () => {
            while (next < tasks) {
              next++;
              await bridge.call('cost.crunch', { iterations });
            }
          }),
        );
        return tasks / ((performance.now() - start) / 1000);
      };
      await run();
      const samples: number[] = [];
      for (let r = 0; r < roundsCount; r++) samples.push(await run());
      const perSecond = spread(samples).median;
      if (threads === 1) single = perSecond;
      const speedup = perSecond / single;
      rows.push({
        threads,
        'calls/s (median)': Math.round(perSecond * 10) / 10,
        'speedup vs 1 thread': `${speedup.toFixed(2)}x`,
        efficiency: `${Math.round((100 * speedup) / Math.min(threads, cores))}%`,
      });
      points.push({ x: threads, series: 'calls/s', value: perSecond });
    } finally {
      await bridge.close();
    }
  }
  return {
    name: 'scaling',
    title: `A CPU-bound tool (about 5 ms a call) at 1 to ${threadCounts[threadCounts.length - 1]} threads on ${cores} cores`,
    rows,
    checks: [],
    notes: [
      `Efficiency is the speedup over the threads that have a core to run on (min(threads, ${cores})). Past ${cores} threads the threads share the cores: the speedup stops, and the extra threads only add switching.`,
    ],
    charts: [
      {
        file: 'scaling',
        title: 'Scaling over threads',
        spec: lines('A CPU-bound tool: calls per second by thread count', points, 'threads', 'calls/s'),
      },
    ],
  };
};

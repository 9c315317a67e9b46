/**
 * Batching across tool costs (issue 6, scenario 5): individual concurrent calls vs `batch` vs a micro-batched
 * tool, for tools of 1 µs, 10 µs, 100 µs and 1 ms of CPU. Batching pays most where the tool is cheap and
 * the per-call overhead dominates; at 1 ms the tool's own time dominates and the three converge.
 */
import { createBridge } from '../../src/index.js';
import { bars } from '../charts.js';
import { fmtRatio, ratios, spread, throughputRounds } from '../harness.js';
import type { Scenario } from '../scenario.js';
import { COSTS_US } from '../cost-tools.js';

const costTools = new URL('../cost-tools.js', import.meta.url);

export const costs: Scenario = async ({ tiny, full, threads }) => {
  const bridge = await createBridge({
    minThreads: threads,
    maxThreads: threads,
    maxQueue: Infinity,
    tools: [costTools],
  });
  const rows: Array<Record<string, string | number>> = [];
  const chart: Array<{ category: string; series: string; value: number }> = [];
  const roundsCount = tiny ? 1 : full ? 5 : 1;
  try {
    for (const us of COSTS_US) {
      // A tenth of a second of tool work per mode and round, at least 200 calls (at most 20,000; 3,000 quick).
      const n = tiny ? 50 : Math.max(200, Math.min(full ? 20_000 : 3_000, Math.round((100_000 * threads) / us)));
      const calls = Array.from({ length: n }, (_, i) => ({ tool: `cost.us${us}`, args: i }));
      const modes: Record<string, () => Promise<unknown>> = {
        individual: () => Promise.all(calls.map((c) => bridge.call(c.tool, c.args))),
        batch: () => bridge.batch(calls),
        'micro-batched': () => Promise.all(calls.map((c) => bridge.call(`cost.micro${us}`, c.args))),
      };
      const throughput = await throughputRounds(modes, n, roundsCount);
      const names = Object.keys(modes);
      const median = (name: string) => Math.round(spread(throughput[name]!).median);
      rows.push({
        'tool cost': us >= 1000 ? `${us / 1000} ms` : `${us} µs`,
        calls: n,
        'individual calls/s': median('individual'),
        'batch calls/s': median('batch'),
        'micro-batched calls/s': median('micro-batched'),
        'batch / individual': fmtRatio(spread(ratios(throughput.batch!, throughput.individual!))),
        'micro / individual': fmtRatio(spread(ratios(throughput['micro-batched']!, throughput.individual!))),
        ceiling: Math.round((threads * 1_000_000) / us),
      });
      for (const name of names) chart.push({ category: `${us} µs`, series: name, value: median(name) });
    }
  } finally {
    await bridge.close();
  }
  return {
    name: 'costs',
    title: `Individual calls vs batch vs micro-batching across tool costs; ${threads} threads`,
    rows,
    checks: [],
    notes: [
      `Medians over ${roundsCount} rounds, modes in turn. "ceiling" is what ${threads} threads could do if a call cost only the tool's time.`,
    ],
    charts: [
      {
        file: 'costs',
        title: 'Batching across tool costs',
        spec: bars('Calls per second by tool cost and mode (log scale)', chart, 'calls/s', true),
      },
    ],
  };
};

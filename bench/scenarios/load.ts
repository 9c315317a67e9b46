/**
 * Load scenarios (issue 6, scenario 6), open loop: calls are issued on a fixed schedule at a target rate
 * whatever the latency, and each call's latency counts from its scheduled time, so queueing shows (no
 * coordinated omission).
 * - high_frequency_single: one no-op tool at rising rates, until p99 passes 100 ms or calls fail;
 * - multi_tool_moderate: ten tools from 20 µs to 5 ms of CPU, picked round-robin, at a moderate rate;
 * - large_payload: five tools reading arguments of 16 to 256 MiB (shared memory).
 * Each reports avg, p50, p95, p99, achieved throughput and errors.
 */
import { performance } from 'node:perf_hooks';
import { createBridge, shared, type Bridge } from '../../src/index.js';
import { WORK_COSTS_US } from '../load-tools.js';
import { lines } from '../charts.js';
import { fmt, summarize } from '../harness.js';
import type { Check, Scenario } from '../scenario.js';

const loadTools = new URL('../load-tools.js', import.meta.url);
const MiB = 1024 * 1024;

interface LoadResult {
  target: number;
  achieved: number;
  errors: number;
  calls: number;
  avg: number;
  p50: number;
  p95: number;
  p99: number;
}

/**
 * Issues `rate` calls per second for `seconds`, on schedule (a 1 ms timer issues every call whose time has
 * come), and waits for them all. Latency counts from each call's scheduled time.
 */
async function openLoop(rate: number, seconds: number, call: (i: number) => Promise<unknown>): Promise<LoadResult> {
  const total = Math.max(1, Math.round(rate * seconds));
  const latencies: number[] = [];
  let errors = 0;
  const pending: Array<Promise<void>> = [];
  const start = performance.now();
  let issued = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (issued < total && start + (issued * 1000) / rate <= now) {
        const due = start + (issued * 1000) / rate;
        const i = issued++;
        pending.push(
          call(i).then(
            () => void latencies.push(performance.now() - due),
            () => void errors++,
          ),
        );
      }
      if (issued < total) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  await Promise.all(pending);
  // Over the schedule's span at least (the last call is due at (total - 1) / rate).
  const elapsed = Math.max((performance.now() - start) / 1000, total / rate);
  const s = summarize(latencies.length > 0 ? latencies : [NaN]);
  return {
    target: rate,
    achieved: latencies.length / elapsed,
    errors,
    calls: total,
    avg: s.mean,
    p50: s.p50,
    p95: latencies.length > 0 ? [...latencies].sort((a, b) => a - b)[Math.ceil(0.95 * latencies.length) - 1]! : NaN,
    p99: s.p99,
  };
}

const row = (scenario: string, r: LoadResult): Record<string, string | number> => ({
  scenario,
  'target calls/s': r.target,
  'achieved calls/s': Math.round(r.achieved),
  avg: fmt(r.avg),
  p50: fmt(r.p50),
  p95: fmt(r.p95),
  p99: fmt(r.p99),
  errors: r.errors,
});

export const load: Scenario = async ({ tiny, full, threads }) => {
  const seconds = tiny ? 0.3 : full ? 4 : 1;
  const bridge: Bridge = await createBridge({ minThreads: threads, maxThreads: threads, tools: [loadTools] });
  const rows: Array<Record<string, string | number>> = [];
  const checks: Check[] = [];
  const points: Array<{ x: number; series: string; value: number }> = [];
  const notes: string[] = [];
  try {
    // high_frequency_single: double the rate until p99 passes 100 ms (or calls fail).
    let rate = tiny ? 500 : 1_000;
    let lastGood: LoadResult | undefined;
    for (let step = 0; step < (tiny ? 1 : 8); step++) {
      const r = await openLoop(rate, seconds, () => bridge.call('load.work0'));
      rows.push(row('high_frequency_single', r));
      points.push({ x: rate, series: 'p50', value: r.p50 }, { x: rate, series: 'p99', value: r.p99 });
      if (r.p99 > 100 || r.errors > 0) {
        notes.push(
          `high_frequency_single: p99 passed 100 ms (or calls failed) at ${rate} calls/s; the last rate under it was ${lastGood ? `${lastGood.target} calls/s (achieved ${Math.round(lastGood.achieved)})` : 'none'}.`,
        );
        break;
      }
      lastGood = r;
      rate *= 2;
    }
    // multi_tool_moderate: ten tools of mixed cost, round-robin, at a quarter of what the threads could do
    // at the tools' mean cost (the main thread and the machine's other work share the cores).
    const meanCostMs = WORK_COSTS_US.reduce((a, b) => a + b, 0) / WORK_COSTS_US.length / 1000;
    const moderate = Math.max(10, Math.round((0.25 * threads * 1000) / (meanCostMs + 0.1)));
    const multi = await openLoop(tiny ? 50 : moderate, seconds, (i) => bridge.call(`load.work${i % 10}`));
    rows.push(row('multi_tool_moderate', multi));
    // large_payload: five tools, arguments of 16 to 256 MiB in shared memory.
    const payloadSizes = tiny ? [1, 1, 2, 2, 4] : [16, 32, 64, 128, 256];
    const arrays = payloadSizes.map((mb) => shared(Float64Array, (mb * MiB) / 8).fill(1));
    const largeRate = tiny ? 50 : 200;
    const large = await openLoop(largeRate, seconds, (i) => bridge.call(`load.read${i % 5}`, { x: arrays[i % 5]! }));
    rows.push(row('large_payload', large));
    checks.push({
      criterion: 'large_payload (16-256 MiB args) and multi_tool_moderate: calls that failed',
      measured: String(large.errors + multi.errors),
      target: '0',
      pass: large.errors + multi.errors === 0,
    });
    notes.push(
      `Each step runs ${seconds} s. multi_tool_moderate issues ${tiny ? 50 : moderate} calls/s${tiny ? '' : ` (a quarter of what ${threads} threads could do at the tools' mean cost)`}; large_payload ${largeRate} calls/s over ${payloadSizes.join(', ')} MiB arguments.`,
    );
  } finally {
    await bridge.close();
  }
  return {
    name: 'load',
    title: `Open-loop load: latency from each call's scheduled time; ${threads} threads`,
    rows,
    checks,
    notes,
    charts: [
      {
        file: 'load',
        title: 'high_frequency_single',
        spec: lines('One no-op tool at rising rates, open loop: latency (ms)', points, 'target calls/s', 'ms'),
      },
    ],
  };
};

/**
 * Worker lifecycle (issue 4), end to end:
 * - soak: a tool that leaks 1 MiB of heap per call, 5,000 calls from 4 concurrent callers, `maxHeapMb: 64`,
 *   two threads: every call succeeds with the right result, >= 50 recycles, process RSS stays under 1 GiB.
 * - chaos: 10,000 calls from 8 concurrent callers, 1% ending their worker, 1% spinning past a 200 ms time
 *   limit, 1% throwing: every healthy call succeeds, every faulty one rejects with its code, and the pool
 *   ends at its configured size.
 * - startup: time from `createBridge` to the first call served, for pools of 1, 2, 4 and 8 workers with the
 *   built-in tools loaded.
 * The full suite runs these sizes; the quick one 1,000 soak calls (>= 10 recycles) and 1,500 chaos calls.
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBridge, type Bridge, type ToolBridgeError } from '../../src/index.js';
import { fmt, spread } from '../harness.js';
import { toolsModule, type Check, type Scenario } from '../scenario.js';

const MiB = 2 ** 20;

/** Peak process RSS while `fn` runs, sampled every 10 ms. */
async function peakRss<T>(fn: () => Promise<T>): Promise<{ value: T; peakMb: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10);
  try {
    const value = await fn();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { value, peakMb: peak / MiB };
  } finally {
    clearInterval(timer);
  }
}

/** `callers` loops sharing one counter: each takes the next index until `n` calls are made. */
async function callers(count: number, n: number, call: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: count }, async () => {
      while (next < n) await call(next++);
    }),
  );
}

/** Waits until the bridge's workers are `size`, all ready (or 10 s pass); returns what it saw last. */
async function settledSize(bridge: Bridge, size: number): Promise<number> {
  const until = performance.now() + 10_000;
  for (;;) {
    const workers = bridge.stats().memory.workers;
    const ready = workers.filter((worker) => worker.state === 'ready').length;
    if ((workers.length === size && ready === size) || performance.now() > until) return ready;
    await sleep(20);
  }
}

export const soak: Scenario = async ({ tiny, full }) => {
  // The quick suite runs 1,000 calls; the full one the 5,000 of the target.
  const n = tiny ? 300 : full ? 5_000 : 1_000;
  const maxHeapMb = tiny ? 32 : 64;
  const bridge = await createBridge({ maxThreads: 2, tools: [toolsModule], memory: { maxHeapMb } });
  try {
    let wrong = 0;
    let failed = 0;
    const start = performance.now();
    const { peakMb } = await peakRss(() =>
      callers(4, n, async (i) => {
        try {
          if ((await bridge.call('bench.leak', i)) !== i * 2) wrong++;
        } catch {
          failed++;
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    const { recycles } = bridge.stats();
    const ok = n - wrong - failed;
    // >= 50 recycles for 5,000 calls: one per 100 calls.
    const minRecycles = n / 100;
    const checks: Check[] = [
      {
        criterion: `${n} leaking calls (1 MiB each), 4 callers, maxHeapMb ${maxHeapMb}: calls right`,
        measured: `${ok} of ${n} (${failed} failed, ${wrong} wrong)`,
        target: 'all',
        pass: ok === n,
      },
      {
        criterion: 'heap recycles',
        measured: String(recycles.byReason.heap),
        target: `>= ${minRecycles}`,
        pass: recycles.byReason.heap >= minRecycles,
      },
      {
        criterion: 'peak process RSS',
        measured: `${Math.round(peakMb)} MiB`,
        target: '< 1024 MiB',
        pass: peakMb < 1024,
      },
    ];
    return {
      name: 'soak',
      title: `A tool leaking 1 MiB of heap per call: ${n} calls, 4 callers, 2 threads, maxHeapMb ${maxHeapMb}`,
      rows: [
        {
          calls: n,
          succeeded: ok,
          recycles: recycles.total,
          'heap recycles': recycles.byReason.heap,
          'peak RSS (MiB)': Math.round(peakMb),
          seconds: Number(seconds.toFixed(1)),
          'calls/s': Math.round(n / seconds),
        },
      ],
      checks,
      notes: [
        'Every recycle is graceful: the worker is drained, its replacement started first, and it stops once its call is done.',
      ],
    };
  } finally {
    await bridge.close();
  }
};

type Mode = 'ok' | 'exit' | 'hang' | 'throw';
const EXPECTED: Record<Exclude<Mode, 'ok'>, string> = { exit: 'WORKER_CRASHED', hang: 'TIMEOUT', throw: 'TOOL_FAILED' };

/** 1% of calls each end their worker, hang, or throw, spread evenly. */
function modeOf(i: number): Mode {
  const k = i % 100;
  return k === 17 ? 'exit' : k === 53 ? 'hang' : k === 71 ? 'throw' : 'ok';
}

export const chaos: Scenario = async ({ tiny, full }) => {
  const n = tiny ? 500 : full ? 10_000 : 1_500;
  const threads = 2;
  const bridge = await createBridge({ maxThreads: threads, tools: [toolsModule] });
  try {
    const tally: Record<Mode, { right: number; total: number }> = {
      ok: { right: 0, total: 0 },
      exit: { right: 0, total: 0 },
      hang: { right: 0, total: 0 },
      throw: { right: 0, total: 0 },
    };
    const start = performance.now();
    await callers(8, n, async (i) => {
      const mode = modeOf(i);
      tally[mode].total++;
      try {
        const value = await bridge.call('bench.chaos', { mode, value: i }, mode === 'hang' ? { timeoutMs: 200 } : {});
        if (mode === 'ok' && value === i + 1) tally.ok.right++;
      } catch (error) {
        if (mode !== 'ok' && (error as ToolBridgeError).code === EXPECTED[mode]) tally[mode].right++;
      }
    });
    const seconds = (performance.now() - start) / 1000;
    const ready = await settledSize(bridge, threads);
    const { recycles } = bridge.stats();
    const checks: Check[] = (['ok', 'exit', 'hang', 'throw'] as const).map((mode) => ({
      criterion:
        mode === 'ok' ? `healthy calls succeed (${n} calls, 8 callers)` : `${mode} calls reject with ${EXPECTED[mode]}`,
      measured: `${tally[mode].right} of ${tally[mode].total}`,
      target: 'all',
      pass: tally[mode].right === tally[mode].total,
    }));
    checks.push({
      criterion: 'workers ready at the end',
      measured: String(ready),
      target: `${threads} (the configured size)`,
      pass: ready === threads,
    });
    return {
      name: 'chaos',
      title: `${n} calls from 8 callers: 1% end their worker, 1% hang past a 200 ms limit, 1% throw; 2 threads`,
      rows: (['ok', 'exit', 'hang', 'throw'] as const).map((mode) => ({
        calls: mode,
        total: tally[mode].total,
        'as expected': tally[mode].right,
        expected: mode === 'ok' ? 'value' : EXPECTED[mode],
      })),
      checks,
      notes: [
        `${Math.round(n / seconds)} calls/s over ${seconds.toFixed(1)} s, with ${recycles.byReason.crash} crash and ${recycles.byReason.timeout} timeout replacements of workers.`,
      ],
    };
  } finally {
    await bridge.close();
  }
};

/** Start-up times published for a pool of Python workers (Snakepit), by pool size, in ms. */
const SNAKEPIT_MS: Record<number, number> = { 1: 150, 4: 580, 16: 2200 };

export const startup: Scenario = async ({ tiny, full }) => {
  const sizes = tiny ? [1, 2] : [1, 2, 4, 8];
  const roundsCount = tiny ? 1 : full ? 7 : 2;
  const times: Record<number, number[]> = Object.fromEntries(sizes.map((size) => [size, []]));
  const x = new Float64Array(16).fill(1);
  for (let r = 0; r < roundsCount; r++) {
    for (const size of sizes) {
      const t = performance.now();
      const bridge = await createBridge({ maxThreads: size });
      await bridge.call('vector.dot', { a: x, b: x });
      times[size]!.push(performance.now() - t);
      await bridge.close();
    }
  }
  const rows = sizes.map((size) => {
    const s = spread(times[size]!);
    return {
      workers: size,
      'to first call (median)': fmt(s.median),
      min: fmt(s.min),
      max: fmt(s.max),
      'Snakepit (published)': SNAKEPIT_MS[size] ? `${SNAKEPIT_MS[size]} ms` : '',
    };
  });
  return {
    name: 'startup',
    title: 'Time from createBridge() until a pool of N workers (built-in tools loaded) has served its first call',
    rows,
    checks: [],
    notes: [
      `Median, min and max over ${roundsCount} rounds. createBridge resolves once every worker has loaded its tools, so the time grows with the pool (this machine has ${availableParallelism()} cores).`,
      'Snakepit figures are published ones for a pool of Python worker processes (1, 4, 16 workers), not measured here.',
    ],
  };
};

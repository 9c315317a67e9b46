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
import { createBridge, shared, type Bridge, type ToolBridgeError } from '../../src/index.js';
import { Piscina } from 'piscina';
import { fmt, fmtRatio, ratios, spread } from '../harness.js';
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

/** What one chaos run saw. */
interface ChaosRun {
  tally: Record<Mode, { right: number; total: number }>;
  /** Healthy calls that failed with TIMEOUT without ever starting: their limit passed while they waited. */
  healthyTimedOutQueued: number;
  /** Healthy calls that started just before their limit and answered after it: TIMEOUT too. */
  healthyTimedOutLate: number;
  /** Healthy calls that failed with anything but their own TIMEOUT. */
  healthyLost: number;
  /** Workers stopped for a call that ran past its limit, less the hanging calls that did: needless stops. */
  needlessStops: number;
  ready: number;
  seconds: number;
  crashes: number;
  stops: number;
}

/**
 * `n` calls from 8 callers on 2 threads; with `limitAll`, every call has the 200 ms limit (not only the
 * hanging ones), so healthy calls queued behind a hang can pass theirs.
 */
async function runChaos(n: number, limitAll: boolean): Promise<ChaosRun> {
  const threads = 2;
  const bridge = await createBridge({ maxThreads: threads, tools: [toolsModule] });
  try {
    const tally: ChaosRun['tally'] = {
      ok: { right: 0, total: 0 },
      exit: { right: 0, total: 0 },
      hang: { right: 0, total: 0 },
      throw: { right: 0, total: 0 },
    };
    // Per mode, how many calls started in a worker (the tool counts itself).
    const started = shared(Int32Array, 4);
    let healthyTimeouts = 0;
    let healthyOther = 0;
    const start = performance.now();
    await callers(8, n, async (i) => {
      const mode = modeOf(i);
      tally[mode].total++;
      const options = limitAll || mode === 'hang' ? { timeoutMs: 200 } : {};
      try {
        const value = await bridge.call('bench.chaos', { mode, value: i, started }, options);
        if (mode === 'ok' && value === i + 1) tally.ok.right++;
      } catch (error) {
        const code = (error as ToolBridgeError).code;
        if (mode !== 'ok' && code === EXPECTED[mode]) tally[mode].right++;
        if (mode === 'ok' && code === 'TIMEOUT') healthyTimeouts++;
        else if (mode === 'ok') healthyOther++;
      }
    });
    const seconds = (performance.now() - start) / 1000;
    const ready = await settledSize(bridge, threads);
    const { recycles } = bridge.stats();
    // A healthy call that started answers within microseconds: if it timed out, it started in the last
    // moments before its limit (the limit working); the others timed out without starting.
    const healthyTimedOutLate = Math.max(0, started[0]! - tally.ok.right - healthyOther);
    return {
      tally,
      healthyTimedOutQueued: healthyTimeouts - healthyTimedOutLate,
      healthyTimedOutLate,
      healthyLost: healthyOther,
      needlessStops: Math.max(0, recycles.byReason.timeout - started[2]!),
      ready,
      seconds,
      crashes: recycles.byReason.crash,
      stops: recycles.byReason.timeout,
    };
  } finally {
    await bridge.close();
  }
}

export const chaos: Scenario = async ({ tiny, full }) => {
  const n = tiny ? 500 : full ? 10_000 : 1_500;
  const threads = 2;
  const variants = [
    { name: 'hanging calls limited', run: await runChaos(n, false) },
    { name: 'every call limited', run: await runChaos(n, true) },
  ];
  const checks: Check[] = [];
  const rows: Array<Record<string, string | number>> = [];
  for (const { name, run } of variants) {
    const { tally } = run;
    for (const mode of ['ok', 'exit', 'hang', 'throw'] as const) {
      rows.push({
        variant: name,
        calls: mode,
        total: tally[mode].total,
        'as expected': tally[mode].right,
        expected: mode === 'ok' ? 'value' : EXPECTED[mode],
      });
      if (mode === 'ok' && name === 'every call limited') {
        // Healthy calls may miss a 200 ms limit while they wait behind hanging ones: that is the limit
        // working. What must not happen is a healthy call lost, or a worker stopped, for no hang.
        continue;
      }
      checks.push({
        criterion: `${name}: ${mode === 'ok' ? `healthy calls succeed (${n} calls, 8 callers)` : `${mode} calls reject with ${EXPECTED[mode]}`}`,
        measured: `${tally[mode].right} of ${tally[mode].total}`,
        target: 'all',
        pass: tally[mode].right === tally[mode].total,
      });
    }
    checks.push(
      {
        criterion: `${name}: workers stopped beyond the hanging calls (needless stops), and healthy calls failed other than by their own limit`,
        measured: `${run.needlessStops} stops, ${run.healthyLost} calls`,
        target: '0 and 0',
        pass: run.healthyLost === 0 && run.needlessStops === 0,
      },
      {
        criterion: `${name}: workers ready at the end`,
        measured: String(run.ready),
        target: `${threads} (the configured size)`,
        pass: run.ready === threads,
      },
    );
  }
  const limited = variants[1]!.run;
  return {
    name: 'chaos',
    title: `${n} calls from 8 callers: 1% end their worker, 1% hang past a 200 ms limit, 1% throw; 2 threads`,
    rows,
    checks,
    notes: variants
      .map(
        ({ name, run }) =>
          `${name}: ${Math.round(n / run.seconds)} calls/s over ${run.seconds.toFixed(1)} s, ${run.crashes} crash and ${run.stops} timeout replacements of workers.`,
      )
      .concat(
        `every call limited: ${limited.tally.ok.right} of ${limited.tally.ok.total} healthy calls succeeded; the others got TIMEOUT, which their limit explains: ${limited.healthyTimedOutQueued} waited behind hanging calls past their 200 ms and never started, ${limited.healthyTimedOutLate} started in the last moments before it and answered after; ${limited.healthyLost} failed otherwise.`,
      ),
  };
};

/** The smallest raw Piscina worker: what a pool of plain Piscina threads loads before its first call. */
const noopWorker = new URL('../workers/noop.cjs', import.meta.url).href;

export const startup: Scenario = async ({ tiny, full }) => {
  const sizes = tiny ? [1, 2] : [1, 2, 4, 8];
  const roundsCount = tiny ? 1 : full ? 9 : 5;
  const times: Record<string, number[]> = {};
  const x = new Float64Array(16).fill(1);
  for (let r = 0; r < roundsCount; r++) {
    for (const size of sizes) {
      // In turn, the order alternating per round, so that neither always runs on a warmer disk cache.
      const order = r % 2 === 0 ? (['toolbridge', 'piscina'] as const) : (['piscina', 'toolbridge'] as const);
      for (const system of order) {
        const t = performance.now();
        if (system === 'toolbridge') {
          const bridge = await createBridge({ maxThreads: size });
          await bridge.call('vector.dot', { a: x, b: x });
          (times[`toolbridge ${size}`] ??= []).push(performance.now() - t);
          await bridge.close();
        } else {
          const pool = new Piscina({ filename: noopWorker, minThreads: size, maxThreads: size });
          await pool.run(null);
          (times[`piscina ${size}`] ??= []).push(performance.now() - t);
          await pool.destroy();
        }
      }
    }
  }
  const rows = sizes.map((size) => {
    const ours = spread(times[`toolbridge ${size}`]!);
    const theirs = spread(times[`piscina ${size}`]!);
    return {
      workers: size,
      'toolbridge (median)': fmt(ours.median),
      'raw Piscina (median)': fmt(theirs.median),
      'toolbridge / Piscina': fmtRatio(spread(ratios(times[`toolbridge ${size}`]!, times[`piscina ${size}`]!))),
      'toolbridge min / max': `${fmt(ours.min)} / ${fmt(ours.max)}`,
    };
  });
  return {
    name: 'startup',
    title: 'Time from start until a pool of N workers has served its first call: toolbridge against raw Piscina',
    rows,
    // The call-path target: start-up to a first call within 1.5x raw Piscina's, with 1 and 4 workers.
    checks: sizes
      .filter((size) => size === 1 || size === 4)
      .map((size) => {
        const ratio = spread(ratios(times[`toolbridge ${size}`]!, times[`piscina ${size}`]!));
        return {
          criterion: `start-up to a first call, ${size} worker${size > 1 ? 's' : ''}: toolbridge / raw Piscina`,
          measured: fmtRatio(ratio),
          target: '<= 1.5x',
          pass: ratio.median <= 1.5,
        };
      }) satisfies Check[],
    notes: [
      `Median, min and max over ${roundsCount} rounds, the two systems in turn. toolbridge: createBridge() (which resolves once the first worker has loaded the built-in tools and the codecs; the others go on starting, as Piscina's do) and one vector.dot call. Raw Piscina: a pool of the same size on a no-op worker module, and its first call, which the first thread to start answers. This machine has ${availableParallelism()} cores.`,
    ],
  };
};

/**
 * The built-in kernels against the references a user would reach for, in alternating rounds in one run:
 * `matrix.multiply` (1024^2 f64) and `vector.topk` (100k x 384 f32, k = 10, cosine) through the bridge with
 * `threads` workers and with 1, against one-thread numpy/OpenBLAS (bench/peers/numpy_ref.py, started with
 * OPENBLAS_NUM_THREADS=1) and a plain JS loop on the main thread. Times are the call's, end to end for the
 * bridge, the operation's alone for numpy. The same product kernel also runs on bare worker threads (1, and
 * `threads` on equal row blocks, no toolbridge), in the same rounds: how far the machine itself scales it,
 * beside how far one call through the bridge does. Run it on a larger machine with `--threads N` to see a
 * call spread over more workers (`npm run bench -- --only kernels --threads 8`).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { createBridge, shared, type Bridge } from '../../src/index.js';
import { fmtRatio, ratios, spread } from '../harness.js';
import type { Check, Scenario } from '../scenario.js';
import { kernelFlavour, simdPeakGflops } from '../../workers/kernels/kernels.js';
import type { BareProduct } from '../workers/bare-gemm.js';

const numpyScript = new URL('../../../bench/peers/numpy_ref.py', import.meta.url).pathname;
const bareWorker = new URL('../workers/bare-gemm.js', import.meta.url);

/** Bare worker threads running the product kernel (bench/workers/bare-gemm.ts). */
async function startBare(count: number) {
  const threads = Array.from({ length: count }, () => new Worker(bareWorker));
  const part = async (thread: Worker, message: BareProduct) => {
    thread.postMessage(message);
    await once(thread, 'message');
  };
  return {
    /** `a` times `b` (n x n) into a new shared product, on the first `used` threads, equal row blocks each. */
    multiply(a: Float64Array, b: Float64Array, n: number, used: number): Promise<unknown> {
      const c = new Float64Array(new SharedArrayBuffer(n * n * 8));
      const rowOf = (i: number) => Math.round((n * i) / used);
      return Promise.all(
        threads
          .slice(0, used)
          .map((thread, i) => part(thread, { a, b, c, n, rowStart: rowOf(i), rowEnd: rowOf(i + 1) })),
      );
    },
    close: () => Promise.all(threads.map((thread) => thread.terminate())),
  };
}

interface NumpyPeer {
  ask(command: Record<string, unknown>): Promise<Record<string, unknown>>;
  close(): void;
}

/** The numpy reference process, or the reason it cannot run here. */
async function startNumpy(): Promise<NumpyPeer | string> {
  const child = spawn('python3', [numpyScript], {
    env: { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const failed = new Promise<never>((_, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`python3 exited with ${code}: ${stderr.trim()}`)));
  });
  failed.catch(() => undefined);
  const peer: NumpyPeer = {
    async ask(command) {
      child.stdin.write(`${JSON.stringify(command)}\n`);
      const line = await Promise.race([lines.next(), failed]);
      if (line.done) throw new Error(`python3 closed its output: ${stderr.trim()}`);
      return JSON.parse(line.value) as Record<string, unknown>;
    },
    close: () => child.kill(),
  };
  try {
    await peer.ask({ op: 'config' });
    return peer;
  } catch (error) {
    peer.close();
    return `numpy reference not run: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** The plain loops a user would write: i-p-j product, and a cosine scan with a sorted top list. */
function jsMultiply(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < n; p++) {
      const aip = a[i * n + p]!;
      const bRow = p * n;
      const cRow = i * n;
      for (let j = 0; j < n; j++) c[cRow + j] = c[cRow + j]! + aip * b[bRow + j]!;
    }
  }
  return c;
}

function jsTopk(matrix: Float32Array, query: Float32Array, k: number): number[] {
  const dim = query.length;
  let qq = 0;
  for (let j = 0; j < dim; j++) qq += query[j]! * query[j]!;
  const best: Array<{ row: number; score: number }> = [];
  for (let row = 0; row < matrix.length / dim; row++) {
    let d = 0;
    let rr = 0;
    for (let j = 0; j < dim; j++) {
      const v = matrix[row * dim + j]!;
      d += v * query[j]!;
      rr += v * v;
    }
    const score = d / Math.sqrt(qq * rr);
    if (best.length < k || score > best[best.length - 1]!.score) {
      best.push({ row, score });
      best.sort((x, y) => y.score - x.score);
      if (best.length > k) best.pop();
    }
  }
  return best.map((b) => b.row);
}

export const kernels: Scenario = async ({ tiny, full, threads }) => {
  const n = tiny ? 128 : 1024;
  const rows = tiny ? 4_000 : 100_000;
  const dim = tiny ? 64 : 384;
  const k = 10;
  const roundsCount = tiny ? 1 : full ? 15 : 9;
  const flops = 2 * n ** 3;
  const matrixBytes = rows * dim * 4;

  const a = shared(Float64Array, n * n);
  const b = shared(Float64Array, n * n);
  for (let i = 0; i < a.length; i++) {
    a[i] = Math.random();
    b[i] = Math.random();
  }
  const matrix = shared(Float32Array, rows * dim);
  for (let i = 0; i < matrix.length; i++) matrix[i] = Math.random() - 0.5;
  const query = new Float32Array(dim).map(() => Math.random() - 0.5);

  // One core's f64 multiply-add rate at 128-bit SIMD (what WebAssembly issues), measured before the pools start.
  const peak = simdPeakGflops(tiny ? 200_000 : 2_000_000);
  const numpy = await startNumpy();
  const notes: string[] = [];
  let blas = '';
  if (typeof numpy === 'string') notes.push(numpy);
  else {
    const config = await numpy.ask({ op: 'config' });
    blas = String(config.blas);
    notes.push(`numpy ${String(config.numpy)} with ${blas}, OPENBLAS_NUM_THREADS=1.`);
    await numpy.ask({ op: 'setup', n, rows, dim, seed: 1 });
  }
  const pools: Array<[string, Bridge]> = [];
  const sizes = [...new Set([1, threads])];
  for (const size of sizes) {
    const bridge = await createBridge({ minThreads: size, maxThreads: size, cache: false });
    pools.push([`toolbridge, ${size} worker${size > 1 ? 's' : ''}`, bridge]);
  }
  const bare = await startBare(threads);
  const bareName = (used: number) => `bare worker_threads, ${used} thread${used > 1 ? 's' : ''} (no toolbridge)`;
  try {
    const times: Record<string, number[]> = {};
    const record = (name: string, ms: number) => (times[name] ??= []).push(ms);
    const timed = async (name: string, fn: () => unknown) => {
      const start = performance.now();
      await fn();
      record(name, performance.now() - start);
    };
    const bridgeOps = (bridge: Bridge) => ({
      matmul: () => bridge.call('matrix.multiply', { a, b, m: n, k: n, n }),
      topk: () => bridge.call('vector.topk', { query, matrix, k }),
    });
    // Warm-up: every worker compiles its kernels, numpy touches its data.
    for (const [, bridge] of pools) {
      for (let w = 0; w < 3; w++) await Promise.all([bridgeOps(bridge).matmul(), bridgeOps(bridge).topk()]);
    }
    for (let w = 0; w < 3; w++) await bare.multiply(a, b, n, threads);
    for (let round = 0; round < roundsCount; round++) {
      for (const op of ['matmul', 'topk'] as const) {
        for (const [name, bridge] of pools) await timed(`${op} ${name}`, bridgeOps(bridge)[op]);
        if (op === 'matmul') {
          for (const used of sizes) await timed(`matmul ${bareName(used)}`, () => bare.multiply(a, b, n, used));
        }
        if (typeof numpy !== 'string') {
          record(`${op} numpy/OpenBLAS, 1 thread`, (await numpy.ask({ op, k })).ms as number);
        }
        // The plain loop is slow: a single round is enough to place it.
        if (round === 0) {
          await timed(`${op} plain JS loop (main thread)`, () =>
            op === 'matmul' ? jsMultiply(a, b, n) : jsTopk(matrix, query, k),
          );
        }
      }
      if (typeof numpy !== 'string') record('read numpy', (await numpy.ask({ op: 'read' })).ms as number);
    }

    const rowsOut: Array<Record<string, string | number>> = [];
    for (const [key, samples] of Object.entries(times)) {
      if (key === 'read numpy') continue;
      const [op, ...rest] = key.split(' ');
      const { median, min, max } = spread(samples);
      const cores = Number(/(\d+) (?:workers?|threads?) /.exec(`${rest.join(' ')} `)?.[1] ?? 1);
      const gflops = flops / median / 1e6;
      const rate =
        op === 'matmul'
          ? `${gflops.toFixed(2)} GFLOP/s, ${Math.round((100 * gflops) / (peak * cores))}% of peak`
          : `${(matrixBytes / median / 1e6).toFixed(2)} GB/s`;
      rowsOut.push({
        tool: op === 'matmul' ? `matrix.multiply ${n}^2 f64` : `vector.topk ${rows} x ${dim} f32, k=${k}`,
        system: rest.join(' '),
        'median ms': Math.round(median * 100) / 100,
        'min / max ms': `${min.toFixed(1)} / ${max.toFixed(1)}`,
        rate,
      });
    }

    const checks: Check[] = [];
    const ours = `toolbridge, ${threads} worker${threads > 1 ? 's' : ''}`;
    if (typeof numpy !== 'string') {
      checks.push({
        criterion: 'numpy links OpenBLAS (not a reference BLAS)',
        measured: blas,
        target: 'OpenBLAS',
        pass: /openblas/i.test(blas),
      });
      const matmul = spread(ratios(times[`matmul ${ours}`]!, times['matmul numpy/OpenBLAS, 1 thread']!));
      checks.push({
        criterion: `matrix.multiply ${n}^2 f64, ${threads} workers: time / one-thread OpenBLAS`,
        measured: fmtRatio(matmul),
        target: '<= 2x',
        pass: matmul.median <= 2,
      });
      const topk = spread(ratios(times[`topk ${ours}`]!, times['topk numpy/OpenBLAS, 1 thread']!));
      checks.push({
        criterion: `vector.topk ${rows} x ${dim} f32, ${threads} workers: time / one-thread numpy`,
        measured: fmtRatio(topk),
        target: '<= 1x',
        pass: topk.median <= 1,
      });
      const read = spread(times['read numpy']!).median;
      notes.push(
        `Memory read bandwidth (numpy sum over the same ${(matrixBytes / 2 ** 20).toFixed(0)} MiB, one thread): ${(matrixBytes / read / 1e6).toFixed(2)} GB/s; vector.topk through the bridge: ${(matrixBytes / spread(times[`topk ${ours}`]!).median / 1e6).toFixed(2)} GB/s.`,
      );
    }
    if (threads > 1) {
      const scale = spread(ratios(times['matmul toolbridge, 1 worker']!, times[`matmul ${ours}`]!));
      checks.push({
        criterion: `matrix.multiply ${n}^2: one call on ${threads} workers against 1 (speedup)`,
        measured: fmtRatio(scale),
        target: threads === 2 ? '>= 1.8x' : `>= ${(0.9 * threads).toFixed(1)}x`,
        pass: scale.median >= 0.9 * threads,
      });
      const bareScales = ratios(times[`matmul ${bareName(1)}`]!, times[`matmul ${bareName(threads)}`]!);
      const callScales = ratios(times['matmul toolbridge, 1 worker']!, times[`matmul ${ours}`]!);
      notes.push(
        `The machine's own scaling of the product kernel: bare worker threads (no toolbridge, equal row blocks, a fresh shared product each time) went ${fmtRatio(spread(bareScales))} faster on ${threads} threads than on 1, in the same rounds; one call through the bridge reached ${fmtRatio(spread(callScales.map((s, i) => s / bareScales[i]!)))} of that speedup, round by round.`,
      );
    }
    notes.push(
      `Peak: one core's f64 multiply-add rate at 128-bit SIMD, ${peak.toFixed(1)} GFLOP/s, measured by a register-only loop of 12 independent multiply-adds in the kernels' WebAssembly module (${kernelFlavour()}: ${kernelFlavour() === 'relaxed-simd' ? 'fused multiply-adds' : 'a multiply and an add each; relaxed-SIMD fused multiply-adds need Node 22 or later'}); "% of peak" is against that times the workers (1 for numpy). OpenBLAS issues 256-bit AVX2 FMAs, up to twice that rate, so its figure may pass 100%.`,
    );
    notes.push(
      `Median, min and max over ${roundsCount} rounds, the systems in turn. A call through the bridge splits over the pool's workers (matrix.multiply by row blocks, vector.topk by row ranges, merged); the plain JS loop runs once, on the main thread.`,
    );
    return {
      name: 'kernels',
      title: `Built-in kernels against one-thread numpy/OpenBLAS and plain JS, ${threads} workers`,
      rows: rowsOut,
      checks,
      notes,
    };
  } finally {
    if (typeof numpy !== 'string') numpy.close();
    await bare.close();
    await Promise.all(pools.map(([, bridge]) => bridge.close()));
  }
};

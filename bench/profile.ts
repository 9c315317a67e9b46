/**
 * `node --cpu-prof --cpu-prof-dir=prof dist/bench/profile.js <case>`: runs one call pattern long enough to
 * profile it, and prints what it measured, beside raw Piscina doing the same in one process for `shared` and
 * `noop64` (`batch` prints toolbridge's throughput alone: the batching scenario compares it).
 * Cases: `shared` (a 1 MiB shared Float64Array argument, sequential calls), `batch` (bridge.batch of 100,000
 * `{ a, b }` adds), `noop64` (no-op calls with an object argument, 64 in flight).
 * The profiles (one file per thread) show where the time goes; BENCHMARKS.md reports what they showed.
 */
import { Piscina } from 'piscina';
import { createBridge, shared } from '../src/index.js';
import { closedLoop } from './scenarios/dispatch.js';
import { rawPiscinaWorker, toolsModule } from './scenario.js';

const which = process.argv[2] ?? 'shared';
const bridge = await createBridge({ maxThreads: which === 'shared' ? 1 : 2, tools: [toolsModule] });
const pool = new Piscina({ filename: rawPiscinaWorker, minThreads: 1, maxThreads: which === 'shared' ? 1 : 2 });
const perCallUs = async (n: number, call: () => PromiseLike<unknown>) => {
  const start = performance.now();
  for (let i = 0; i < n; i++) await call();
  return ((performance.now() - start) / n) * 1000;
};
try {
  for (let round = 0; round < 5; round++) {
    if (which === 'shared') {
      const x = shared(Float64Array, 131_072);
      const ours = await perCallUs(5_000, () => bridge.call('bench.first', { x }));
      const raw = await perCallUs(5_000, () => pool.run({ kind: 'first', x }));
      console.log(`round ${round}: toolbridge ${ours.toFixed(1)} µs a call, raw Piscina ${raw.toFixed(1)} µs`);
    } else if (which === 'noop64') {
      const args = { kind: 'noop' };
      const ours = await closedLoop(() => bridge.call('bench.noop', args), 64, 20_000);
      const raw = await closedLoop(() => pool.run(args), 64, 20_000);
      console.log(`round ${round}: toolbridge ${Math.round(ours)} calls/s, raw Piscina ${Math.round(raw)} calls/s`);
    } else {
      const calls = Array.from({ length: 100_000 }, (_, i) => ({ tool: 'bench.add', args: { a: i, b: 1 } }));
      const start = performance.now();
      await bridge.batch(calls);
      console.log(`round ${round}: bridge.batch ${Math.round(100_000 / ((performance.now() - start) / 1000))} calls/s`);
    }
  }
} finally {
  await bridge.close();
  await pool.destroy();
}

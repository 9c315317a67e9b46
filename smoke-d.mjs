import { Piscina } from 'piscina';
import { createBridge } from 'toolbridge';
const p = new Piscina({ filename: '/tmp/smoke/noop-worker.mjs', minThreads: 2, maxThreads: 2 });
const bridge = await createBridge({
  tools: [new URL('file:///work/main/test/fixtures/basic-tools.js')],
  maxThreads: 2,
});
await p.run(1);
const N = 5000;
for (let r = 0; r < 4; r++) {
  let t1 = performance.now();
  for (let i = 0; i < N; i++) await p.run({});
  const raw = ((performance.now() - t1) / N) * 1000;
  t1 = performance.now();
  for (let i = 0; i < N; i++) await bridge.call('test.noop', {});
  const ours = ((performance.now() - t1) / N) * 1000;
  console.log('raw', raw.toFixed(1), 'bridge', ours.toFixed(1), 'ratio', (ours / raw).toFixed(2));
}
await p.destroy();
await bridge.close();

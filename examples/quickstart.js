// Run with `node examples/quickstart.js` (after `npm run build` in a clone, or from an installed package).
import { createBridge, shared, ToolBridgeError } from 'toolbridge';

const bridge = await createBridge({ tools: [new URL('./tools.js', import.meta.url)], maxThreads: 2 });
try {
  // 80 MB in shared memory: the worker reads these bytes where they are.
  const x = shared(Float64Array, 10_000_000).fill(1.5);
  const y = await bridge.call('example.scale', { x, k: 2 });
  console.log(`scaled ${y.length} values: y[0] = ${y[0]}`);

  const dot = await bridge.call('vector.dot', { a: x, b: y });
  console.log(`built-in vector.dot: ${dot}`);

  // A time limit: the caller gets a typed error at the deadline, and the cooperative tool stops.
  try {
    await bridge.call('example.simulate', { ms: 10_000 }, { timeoutMs: 100 });
  } catch (error) {
    if (!(error instanceof ToolBridgeError)) throw error;
    console.log(`simulate: ${error.code}`);
  }

  const { tools, bytes } = bridge.stats();
  console.log(`example.scale calls: ${tools['example.scale'].calls}, bytes copied: ${bytes.copied}`);
} finally {
  await bridge.close();
}

// A tool module: runs in the workers. Plain JavaScript, so Node imports it as it is.
import { setImmediate } from 'node:timers/promises';
import { defineTool, shared } from 'toolbridge/tool';

/** Scales a vector into a new shared array: nothing is copied either way. */
export const scale = defineTool({
  name: 'example.scale',
  description: 'Multiply every element by k',
  run({ x, k }) {
    const out = shared(Float64Array, x.length);
    for (let i = 0; i < x.length; i++) out[i] = x[i] * k;
    return out;
  },
});

/** A cooperative long computation (`ms` of work in 10 ms steps): stops at its deadline or on abort. */
export const simulate = defineTool({
  name: 'example.simulate',
  async run({ ms }, ctx) {
    let steps = 0;
    for (const end = performance.now() + ms; performance.now() < end; steps++) {
      ctx.signal.throwIfAborted();
      const stepEnd = performance.now() + 10;
      while (performance.now() < stepEnd); // 10 ms of work
      await setImmediate(); // lets an abort in
    }
    return steps;
  },
});

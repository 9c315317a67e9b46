/**
 * Tools of known CPU cost, for the batching cost sweep and the scaling scenario: `cost.us<N>` spins N µs;
 * `cost.micro<N>` is the same tool micro-batched.
 */
import { defineTool } from '../src/tool/index.js';

export const COSTS_US = [1, 10, 100, 1000] as const;

function spin(us: number): number {
  const until = performance.now() + us / 1000;
  let n = 0;
  while (performance.now() < until) n++;
  return n;
}

/** A fixed amount of arithmetic (not time): what scaling over threads measures. */
export function crunch(iterations: number): number {
  let x = 0;
  for (let i = 0; i < iterations; i++) x += Math.sqrt(i) * 1e-9;
  return x;
}

export default [
  ...COSTS_US.map((us) => defineTool({ name: `cost.us${us}`, run: () => spin(us) })),
  ...COSTS_US.map((us) =>
    defineTool({ name: `cost.micro${us}`, batch: { maxSize: 256, maxWaitMs: 1 }, run: () => spin(us) }),
  ),
  defineTool({ name: 'cost.crunch', run: ({ iterations }: { iterations: number }) => crunch(iterations) }),
];

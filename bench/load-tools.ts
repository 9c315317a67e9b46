/** Tools of the load scenarios: ten tools of mixed cost, and five that read one element of a large argument. */
import { defineTool } from '../src/tool/index.js';

/** Busy for `us` microseconds: a CPU-bound tool of known cost. */
function spin(us: number): number {
  const until = performance.now() + us / 1000;
  let n = 0;
  while (performance.now() < until) n++;
  return n;
}

/** Costs of the ten `load.work*` tools, in microseconds: from a lookup to a small model. */
export const WORK_COSTS_US = [20, 50, 100, 200, 300, 500, 800, 1000, 2000, 5000] as const;

const work = WORK_COSTS_US.map((us, i) =>
  defineTool({ name: `load.work${i}`, description: `${us} µs of CPU`, run: () => spin(us) }),
);

/** Five tools reading one element of a large argument (each its own name, as five services would have). */
const readers = [0, 1, 2, 3, 4].map((i) =>
  defineTool({ name: `load.read${i}`, run: ({ x }: { x: Float64Array }) => x[x.length - 1] }),
);

/** Registered as a default export: a module may export an array of tools that way. */
export default [...work, ...readers];

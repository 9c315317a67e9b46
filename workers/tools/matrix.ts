import { defineTool } from '../../src/tool/define.js';
import { shared } from '../../src/tool/shared.js';
import { floatArray, invalid, positiveInteger, record } from './checks.js';

/** `matrix.multiply`: row-major `m x k` times `k x n`, into a row-major `m x n` Float64Array in shared memory. */
export const multiply = defineTool({
  name: 'matrix.multiply',
  description: 'Matrix product of row-major a (m x k) and b (k x n): { a, b, m, k, n } -> Float64Array (m x n)',
  idempotent: true,
  run(args: unknown): Float64Array {
    const input = record('matrix.multiply', args);
    const a = floatArray('matrix.multiply', 'a', input.a);
    const b = floatArray('matrix.multiply', 'b', input.b);
    const m = positiveInteger('matrix.multiply', 'm', input.m);
    const k = positiveInteger('matrix.multiply', 'k', input.k);
    const n = positiveInteger('matrix.multiply', 'n', input.n);
    if (a.length !== m * k) invalid('matrix.multiply', 'a', `has length ${a.length}, expected m * k = ${m * k}`);
    if (b.length !== k * n) invalid('matrix.multiply', 'b', `has length ${b.length}, expected k * n = ${k * n}`);
    const c = shared(Float64Array, m * n);
    // i-p-j order walks b and c row by row, which keeps the inner loop on contiguous memory.
    for (let i = 0; i < m; i++) {
      const cRow = i * n;
      const aRow = i * k;
      for (let p = 0; p < k; p++) {
        const aip = a[aRow + p]!;
        const bRow = p * n;
        for (let j = 0; j < n; j++) c[cRow + j] = c[cRow + j]! + aip * b[bRow + j]!;
      }
    }
    return c;
  },
});

import { expect, test } from 'vitest';
import { gemm, kernelFlavour } from '../../workers/kernels/kernels.js';

test('the relaxed-SIMD module is chosen where the runtime has relaxed SIMD (Node 22 and later)', () => {
  const major = Number(process.versions.node.split('.')[0]);
  const flagged = process.execArgv.includes('--experimental-wasm-relaxed-simd');
  expect(kernelFlavour()).toBe(major >= 22 || flagged ? 'relaxed-simd' : 'simd128');
});

test('f64 products on every edge of the register tile equal the plain loop', () => {
  // m from 1 to 13 crosses the 4- and 6-row panels, n the 4-column panels, k the 128-deep blocks.
  for (const [m, k, n] of [
    [1, 1, 1],
    [5, 3, 7],
    [6, 130, 4],
    [7, 129, 9],
    [13, 257, 5],
  ] as const) {
    const a = Float64Array.from({ length: m * k }, (_, i) => ((i * 37) % 17) - 8);
    const b = Float64Array.from({ length: k * n }, (_, i) => ((i * 11) % 13) - 6);
    const c = new Float64Array(m * n);
    gemm(a, b, c, m, k, n);
    const plain = new Float64Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) plain[i * n + j]! += a[i * k + p]! * b[p * n + j]!;
    }
    // Small integers: every sum is exact, fused or not.
    expect(c).toEqual(plain);
  }
});

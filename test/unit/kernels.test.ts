import { expect, test } from 'vitest';
import {
  dotProduct,
  gemm,
  kernelFlavour,
  scanRows,
  ScanMode,
  setWideTiles,
  tiling,
} from '../../workers/kernels/kernels.js';
import {
  claimSlot,
  KERNEL_MEMORY_MIN_BYTES,
  memoryOf,
  releaseSlot,
  slotCount,
} from '../../src/memory/kernel-memory.js';
import { allocateForViews } from '../../src/memory/ledger.js';

test('the relaxed-SIMD module is chosen where the runtime has relaxed SIMD (Node 22 and later)', () => {
  const major = Number(process.versions.node.split('.')[0]);
  const flagged = process.execArgv.includes('--experimental-wasm-relaxed-simd');
  expect(kernelFlavour()).toBe(major >= 22 || flagged ? 'relaxed-simd' : 'simd128');
});

test('f64 products use 6 x 4 tiles only with fused multiply-adds on V8 13 and later (older ones spill them)', () => {
  const v8 = Number(process.versions.v8.split('.')[0]);
  expect(tiling(false, 8, 8).mr).toBe(kernelFlavour() === 'relaxed-simd' && v8 >= 13 ? 6 : 4);
  expect(tiling(true, 8, 8)).toMatchObject({ mr: 4, nr: 8 });
});

test('f64 and f32 products on every edge of the register tile equal the plain loop', () => {
  productEdges();
});

test('f64 products with the other f64 tile than this runtime picks equal the plain loop too', () => {
  const usual = tiling(false, 8, 8).mr === 6;
  setWideTiles(!usual);
  try {
    expect(tiling(false, 8, 8).mr).toBe(usual ? 4 : 6);
    productEdges([Float64Array]);
  } finally {
    setWideTiles(undefined);
  }
});

function productEdges(
  kinds: ReadonlyArray<Float64ArrayConstructor | Float32ArrayConstructor> = [Float64Array, Float32Array],
) {
  // m from 1 to 13 crosses the 4- and 6-row panels, n the 4- and 8-column panels, k the 128-deep blocks.
  for (const Kind of kinds) {
    for (const [m, k, n] of [
      [1, 1, 1],
      [5, 3, 7],
      [6, 130, 4],
      [7, 129, 9],
      [13, 257, 5],
      [9, 33, 17],
      // Rows in two steps (a step's packed A and C stay under 8 MiB).
      [300, 4000, 3],
    ] as const) {
      const a = new Kind(m * k).map((_, i) => ((i * 37) % 17) - 8);
      const b = new Kind(k * n).map((_, i) => ((i * 11) % 13) - 6);
      const c = new Kind(m * n);
      gemm(a, b, c, m, k, n);
      const plain = new Kind(m * n);
      for (let i = 0; i < m; i++) {
        for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) plain[i * n + j]! += a[i * k + p]! * b[p * n + j]!;
      }
      // Small integers: every sum is exact (within f32's 24 bits here too), fused or not.
      expect(c, `${Kind.name} ${m} x ${k} x ${n}`).toEqual(plain);
      // Some rows only (a split's part): the others are left as they were.
      const part = new Kind(m * n).fill(-1);
      gemm(a, b, part, m, k, n, 1, m);
      expect(part.subarray(0, n).every((v) => v === -1)).toBe(true);
      expect(part.subarray(n)).toEqual(plain.subarray(n));
    }
  }
}

test('row scans equal the plain loop in every mode, for every length around the 8- and 4-value steps', () => {
  for (const Matrix of [Float32Array, Float64Array]) {
    for (let dim = 1; dim <= 19; dim++) {
      const rows = 5;
      // Small integers (and halves): every product and sum is exact in f64, whatever the order.
      const matrix = new Matrix(rows * dim).map((_, i) => (((i * 37) % 17) - 8) / 2);
      const query = new Matrix(dim).map((_, i) => ((i * 11) % 13) - 6);
      for (const mode of [ScanMode.DotAndNorm, ScanMode.Dot, ScanMode.SquaredDistance]) {
        const seen: number[] = [];
        scanRows(matrix, query, mode, 1, rows, (out, first, count) => {
          expect(first).toBe(1);
          seen.push(...out.subarray(0, count * (mode === ScanMode.DotAndNorm ? 2 : 1)));
        });
        const expected: number[] = [];
        for (let r = 1; r < rows; r++) {
          let dot = 0;
          let norm = 0;
          let distance = 0;
          for (let j = 0; j < dim; j++) {
            const x = matrix[r * dim + j]!;
            dot += x * query[j]!;
            norm += x * x;
            distance += (x - query[j]!) ** 2;
          }
          if (mode === ScanMode.DotAndNorm) expected.push(dot, norm);
          else expected.push(mode === ScanMode.Dot ? dot : distance);
        }
        expect(seen, `${Matrix.name} dim ${dim} mode ${mode}`).toEqual(expected);
      }
    }
  }
});

test('dot products of f32 and f64 arrays, across scan blocks, equal the plain loop', () => {
  for (const length of [1, 7, 8, 9, 5000, 40_003]) {
    for (const Kind of [Float32Array, Float64Array]) {
      const a = new Kind(length).map((_, i) => (i % 7) - 3);
      const b = new Kind(length).map((_, i) => (i % 5) - 2);
      let plain = 0;
      for (let i = 0; i < length; i++) plain += a[i]! * b[i]!;
      expect(dotProduct(a, b), `${Kind.name} ${length}`).toBe(plain);
    }
  }
});

/** Scratch slots of a kernel memory held now (by claiming every free one, then letting them go). */
function heldSlots(buffer: SharedArrayBuffer): number {
  const free: number[] = [];
  for (let slot = claimSlot(buffer); slot >= 0; slot = claimSlot(buffer)) free.push(slot);
  for (const slot of free) releaseSlot(buffer, slot);
  return slotCount(buffer) - free.length;
}

/** Every block's results of a scan, and how many scratch slots of `buffer` were held during each visit. */
function scanAll(
  matrix: Float32Array | Float64Array,
  query: Float32Array | Float64Array,
  mode: ScanMode,
  rowStart: number,
  rowEnd: number,
  buffer: SharedArrayBuffer,
) {
  const values: number[] = [];
  const held = new Set<number>();
  let next = rowStart;
  scanRows(matrix, query, mode, rowStart, rowEnd, (out, first, count) => {
    expect(first).toBe(next);
    next = first + count;
    held.add(heldSlots(buffer));
    values.push(...out.subarray(0, count * (mode === ScanMode.DotAndNorm ? 2 : 1)));
  });
  expect(next).toBe(rowEnd);
  return { values, held: [...held] };
}

test('a matrix in kernel memory is scanned in place, in a scratch slot, with the results of a copied scan', () => {
  const buffer = allocateForViews(KERNEL_MEMORY_MIN_BYTES);
  expect(memoryOf(buffer)).toBeDefined();
  for (const Matrix of [Float32Array, Float64Array]) {
    // Rows past several result blocks for small dims (a slot holds ~2,000 rows' results), from a row offset.
    for (const [dim, rows] of [
      [1, 9_000],
      [3, 5_000],
      [17, 3_000],
      [384, 300],
    ] as const) {
      const offset = 40 * Matrix.BYTES_PER_ELEMENT;
      const matrix =
        Matrix === Float32Array
          ? new Float32Array(buffer, offset, rows * dim)
          : new Float64Array(buffer, offset, rows * dim);
      matrix.set(matrix.map((_, i) => (((i * 37) % 17) - 8) / 2));
      const copy = matrix.slice();
      const query = new Matrix(dim).map((_, i) => ((i * 11) % 13) - 6);
      for (const mode of [ScanMode.DotAndNorm, ScanMode.Dot, ScanMode.SquaredDistance]) {
        const inPlace = scanAll(matrix, query, mode, 7, rows, buffer);
        const copied = scanAll(copy, query, mode, 7, rows, buffer);
        const label = `${Matrix.name} dim ${dim} mode ${mode}`;
        expect(inPlace.held, label).toEqual([1]);
        expect(copied.held, label).toEqual([0]);
        expect(inPlace.values, label).toEqual(copied.values);
      }
    }
  }
  expect(heldSlots(buffer)).toBe(0);
});

test('a scan copies as before when no slot is free, the rows need widening, or the query outgrows a slot', () => {
  const buffer = allocateForViews(KERNEL_MEMORY_MIN_BYTES);
  const dim = 9;
  const rows = 50;
  const matrix = new Float32Array(buffer, 0, rows * dim);
  matrix.set(matrix.map((_, i) => (i % 11) - 5));
  const query = new Float32Array(dim).map((_, i) => i - 4);
  const expected = scanAll(matrix.slice(), query, ScanMode.Dot, 0, rows, buffer).values;

  const taken = Array.from({ length: slotCount(buffer) }, () => claimSlot(buffer));
  const busy = scanAll(matrix, query, ScanMode.Dot, 0, rows, buffer);
  expect(busy.held).toEqual([taken.length]);
  expect(busy.values).toEqual(expected);
  for (const slot of taken) releaseSlot(buffer, slot);

  // f32 rows against an f64 query are widened to f64 by the copy.
  const widened = scanAll(matrix, Float64Array.from(query), ScanMode.Dot, 0, rows, buffer);
  expect(widened.held).toEqual([0]);
  expect(widened.values).toEqual(expected);

  // A query of 2,048 f64 values fills a 16 KiB slot, leaving no room for results.
  const wide = new Float64Array(buffer, 0, 2048 * 2).fill(1);
  const scanned = scanAll(wide, new Float64Array(2048).fill(2), ScanMode.Dot, 0, 2, buffer);
  expect(scanned.held).toEqual([0]);
  expect(scanned.values).toEqual([4096, 4096]);
});

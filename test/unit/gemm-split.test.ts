import { expect, test, vi } from 'vitest';
import { gemm } from '../../workers/kernels/kernels.js';
import { multiplyPart, splitWorkspace } from '../../workers/kernels/gemm-split.js';
import { memoryOf } from '../../src/memory/kernel-memory.js';

/** Small integers: every sum is exact, so any order of additions gives the same bits. */
const operands = (Kind: Float32ArrayConstructor | Float64ArrayConstructor, m: number, k: number, n: number) => ({
  a: new Kind(m * k).map((_, i) => ((i * 37) % 17) - 8),
  b: new Kind(k * n).map((_, i) => ((i * 11) % 13) - 6),
});

/** The first index where two products differ, or -1 (quicker than a deep equality over a million values). */
const firstDifference = (x: ArrayLike<number>, y: ArrayLike<number>) => {
  if (x.length !== y.length) return 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
};

test('parts sharing one packing of b give the product of one worker, f64 and f32', () => {
  // Shapes whose workspace is a kernel memory (8 MiB and more): b of 8 MiB, rows past one step of a part.
  for (const [Kind, m, k, n] of [
    [Float64Array, 301, 1024, 1024],
    [Float32Array, 150, 1000, 2100],
  ] as const) {
    const { a, b } = operands(Kind, m, k, n);
    const whole = new Kind(m * n);
    gemm(a, b, whole, m, k, n);
    for (const parts of [2, 3]) {
      const workspace = splitWorkspace(Kind === Float32Array, m, k, n, parts)!;
      expect(workspace, `${Kind.name} ${parts} parts`).toBeDefined();
      expect(memoryOf(workspace.buffer)).toBeDefined();
      const c = new Kind(m * n).fill(-1);
      // One after another here: the first packs every group of b and takes every block of rows.
      for (let i = parts - 1; i >= 0; i--) multiplyPart(a, b, c, m, k, n, workspace, i, parts);
      expect(firstDifference(c, whole), `${Kind.name} ${parts} parts`).toBe(-1);
    }
  }
});

test('a part that starts once the others have taken every block of rows does nothing', () => {
  const [m, k, n] = [200, 1024, 1024];
  const { a, b } = operands(Float64Array, m, k, n);
  const workspace = splitWorkspace(false, m, k, n, 2)!;
  const c = new Float64Array(m * n);
  multiplyPart(a, b, c, m, k, n, workspace, 0, 2);
  const whole = new Float64Array(m * n);
  gemm(a, b, whole, m, k, n);
  expect(firstDifference(c, whole)).toBe(-1);
  const untouched = new Float64Array(m * n).fill(-1);
  multiplyPart(a, b, untouched, m, k, n, workspace, 1, 2);
  expect(untouched.every((v) => v === -1)).toBe(true);
});

test('a workspace is reused once every part of its product has run, not before', () => {
  const [m, k, n] = [64, 1024, 1024];
  const { a, b } = operands(Float64Array, m, k, n);
  const first = splitWorkspace(false, m, k, n, 2)!;
  const c = new Float64Array(m * n);
  multiplyPart(a, b, c, m, k, n, first, 0, 2);
  // One part still to run: the next product gets a workspace of its own, for that product alone.
  const second = splitWorkspace(false, m, k, n, 2)!;
  expect(second.buffer).not.toBe(first.buffer);
  multiplyPart(a, b, c, m, k, n, first, 1, 2);
  for (const i of [0, 1]) multiplyPart(a, b, c, m, k, n, second, i, 2);
  // Both done: the worker's kept workspace serves the next product, its flags cleared.
  const third = splitWorkspace(false, m, k, n, 2)!;
  expect(third.buffer).toBe(first.buffer);
  const fresh = new Float64Array(m * n);
  for (const i of [0, 1]) multiplyPart(a, b, fresh, m, k, n, third, i, 2);
  const whole = new Float64Array(m * n);
  gemm(a, b, whole, m, k, n);
  expect(firstDifference(fresh, whole)).toBe(-1);
});

test('a kept workspace whose product lost a part is given up after a while: the next new one is kept', () => {
  const [m, k, n] = [64, 1024, 1024];
  const { a, b } = operands(Float64Array, m, k, n);
  const c = new Float64Array(m * n);
  const stuck = splitWorkspace(false, m, k, n, 2)!;
  // Its part 1 never runs (its worker died): the kept workspace stays in use.
  multiplyPart(a, b, c, m, k, n, stuck, 0, 2);
  const alone = splitWorkspace(false, m, k, n, 2)!;
  expect(alone.buffer).not.toBe(stuck.buffer);
  for (const i of [0, 1]) multiplyPart(a, b, c, m, k, n, alone, i, 2);
  // The next product still finds the kept one in use; a while later, its new workspace is kept instead.
  expect(splitWorkspace(false, m, k, n, 2)!.buffer).not.toBe(stuck.buffer);
  const later = performance.now() + 60_000;
  const clock = vi.spyOn(performance, 'now').mockReturnValue(later);
  try {
    const kept = splitWorkspace(false, m, k, n, 2)!;
    expect(kept.buffer).not.toBe(stuck.buffer);
    for (const i of [0, 1]) multiplyPart(a, b, c, m, k, n, kept, i, 2);
    expect(splitWorkspace(false, m, k, n, 2)!.buffer).toBe(kept.buffer);
  } finally {
    clock.mockRestore();
  }
});

test('a group of b left half-packed by a part that died is packed again by the part that waits for it', () => {
  const [m, k, n] = [48, 1024, 1024];
  const { a, b } = operands(Float64Array, m, k, n);
  const workspace = splitWorkspace(false, m, k, n, 2)!;
  // Group 5 claimed ("packing") by a part that never finishes it.
  // Flags: [0] parts running, [1] next block of rows, [2 + g] group g.
  const flags = new Int32Array(workspace.buffer, workspace.byteOffset, 2 + Math.ceil(k / 32));
  Atomics.store(flags, 2 + 5, 1);
  const c = new Float64Array(m * n);
  multiplyPart(a, b, c, m, k, n, workspace, 1, 2);
  const whole = new Float64Array(m * n);
  gemm(a, b, whole, m, k, n);
  expect(firstDifference(c, whole)).toBe(-1);
  expect(Atomics.load(flags, 2 + 5)).toBe(2);
  // The other part never ran: the workspace still counts it, so it is not reused.
  expect(Atomics.load(flags, 0)).toBe(1);
  expect(splitWorkspace(false, m, k, n, 2)!.buffer).not.toBe(workspace.buffer);
});

test('products too small for a kernel memory get no workspace (each part packs b itself)', () => {
  expect(splitWorkspace(false, 300, 260, 280, 2)).toBeUndefined();
});

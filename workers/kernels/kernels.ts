/**
 * The built-in tools' WebAssembly kernels (kernels.wat): compiled once per worker on first use, with one
 * linear memory per worker that grows as a call needs and is let go after a call that needed more than
 * {@link KEEP_BYTES}. WebAssembly reads only its own memory, so operands are copied in (matrices packed into
 * the panels the kernels read, scans in blocks that stay in cache) and results copied out. A scan over an
 * array that lives in a kernel memory (src/memory/kernel-memory.ts: large shared arrays do) reads it in
 * place instead, through an instance of the module built to import that memory.
 */
import {
  KERNELS_WASM,
  KERNELS_WASM_RELAXED,
  KERNELS_WASM_SHARED,
  KERNELS_WASM_SHARED_RELAXED,
} from './kernels-wasm.js';
import { claimSlot, memoryOf, releaseSlot, SLOT_BYTES, type SharedMemory } from '../../src/memory/kernel-memory.js';

export type FloatArray = Float32Array | Float64Array;

/** The part of the WebAssembly JS API used here (the project's TypeScript libs carry no DOM types). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  compile(bytes: Uint8Array): Promise<object>;
  Instance: new (module: object, imports?: object) => { exports: unknown };
  validate(bytes: Uint8Array): boolean;
};

export interface KernelExports {
  memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  dgemm(
    ap: number,
    bp: number,
    c: number,
    mp: number,
    np: number,
    k: number,
    kc: number,
    mc: number,
    mr6: number,
  ): void;
  sgemm(ap: number, bp: number, c: number, mp: number, np: number, k: number, kc: number, mc: number): void;
  packB(src: number, dst: number, rows: number, rowBytes: number, k: number, p0: number): void;
  packA(src: number, dst: number, count: number, k: number, mr: number, size: number): void;
  scan32(m: number, q: number, rows: number, dim: number, out: number, mode: number): void;
  scan64(m: number, q: number, rows: number, dim: number, out: number, mode: number): void;
  peak(rounds: number): number;
}

const PAGE = 65_536;
/** A worker keeps at most this much kernel memory between calls. */
export const KEEP_BYTES = 64 * 2 ** 20;
/** Kernel memory one call may use (addresses are 32-bit; V8 allows up to 4 GiB). */
const MAX_BYTES = 2 ** 31;
/** Matrix blocking: k block (rows of a packed panel that stay in L1) and row block (4-row panels in L2). */
const KC = 128;
const MC_PANELS = 32;
/** Rows of one matrix product step: packed A and C for this many rows stay under ~8 MiB. */
const STEP_BYTES = 8 * 2 ** 20;
/** Rows of b spread into panels at a time. */
export const PACK_ROWS = 32;
/** Bytes of rows scanned per kernel call: small enough to stay in L2 between the copy and the scan. */
const SCAN_BLOCK_BYTES = 128 * 1024;

let compiled: object | undefined;
let compiledShared: object | undefined;
let instance: KernelExports | undefined;
/** This thread's instances over kernel memories it received. */
const sharedInstances = new WeakMap<SharedMemory, KernelExports>();

/**
 * The module's bytes: with relaxed-SIMD multiply-adds (fused where the CPU has FMA) where the runtime
 * validates them (Node 22 and later), else SIMD128 alone; with `imported`, the build that reads an imported
 * shared memory.
 */
function kernelBytes(imported = false): Uint8Array {
  const relaxed = kernelFlavour() === 'relaxed-simd';
  const base64 = imported
    ? relaxed
      ? KERNELS_WASM_SHARED_RELAXED
      : KERNELS_WASM_SHARED
    : relaxed
      ? KERNELS_WASM_RELAXED
      : KERNELS_WASM;
  return Buffer.from(base64, 'base64');
}

let flavour: 'relaxed-simd' | 'simd128' | undefined;

/** Which module this runtime runs: `'relaxed-simd'` or `'simd128'`. */
export function kernelFlavour(): 'relaxed-simd' | 'simd128' {
  flavour ??= WebAssembly.validate(Buffer.from(KERNELS_WASM_RELAXED, 'base64')) ? 'relaxed-simd' : 'simd128';
  return flavour;
}

/**
 * The f64 multiply-add rate of one core through this module, in GFLOP/s: 12 independent two-lane
 * multiply-adds a round, registers only (the best the kernels could do; for the bench's "% of peak").
 */
export function simdPeakGflops(rounds = 2_000_000): number {
  const { peak } = kernels(0);
  // Enough calls for the optimizing compiler to take the function over from the baseline one.
  for (let i = 0; i < 200; i++) peak(10_000);
  let best = 0;
  for (let run = 0; run < 3; run++) {
    const start = performance.now();
    peak(rounds);
    best = Math.max(best, (48 * rounds) / (performance.now() - start) / 1e6);
  }
  return best;
}

/**
 * Compiles the module in the background (V8 compiles WebAssembly off the thread), so that a worker's first
 * kernel call does not wait for it. The worker runtime calls it once its tools have loaded.
 */
export function prepareKernels(): void {
  // A failure shows where the module is first needed, compiled there.
  if (compiled === undefined) {
    WebAssembly.compile(kernelBytes()).then((module) => {
      compiled ??= module;
    }, ignore);
  }
  if (compiledShared === undefined) {
    WebAssembly.compile(kernelBytes(true)).then((module) => {
      compiledShared ??= module;
    }, ignore);
  }
}

const ignore = () => undefined;

/** The kernels, with at least `bytes` of memory. */
function kernels(bytes: number): KernelExports {
  if (bytes > MAX_BYTES) throw new RangeError(`a kernel call needs ${bytes} bytes, more than ${MAX_BYTES}`);
  compiled ??= new WebAssembly.Module(kernelBytes());
  instance ??= new WebAssembly.Instance(compiled).exports as unknown as KernelExports;
  const have = instance.memory.buffer.byteLength;
  if (bytes > have) instance.memory.grow(Math.ceil((bytes - have) / PAGE));
  return instance;
}

/** The kernels over a kernel memory: they address it from its start, and write only in a claimed slot. */
export function kernelsOver(memory: SharedMemory): KernelExports {
  let exports = sharedInstances.get(memory);
  if (exports === undefined) {
    compiledShared ??= new WebAssembly.Module(kernelBytes(true));
    exports = new WebAssembly.Instance(compiledShared, { env: { memory } }).exports as KernelExports;
    sharedInstances.set(memory, exports);
  }
  return exports;
}

/** After a call: a memory grown past {@link KEEP_BYTES} is left to the garbage collector. */
function done(): void {
  if (instance && instance.memory.buffer.byteLength > KEEP_BYTES) instance = undefined;
}

export const align = (bytes: number) => Math.ceil(bytes / 16) * 16;

/** A product's register tile (mr rows of A by nr columns of B), element size, and packed B's size. */
export interface Tiling {
  single: boolean;
  size: 4 | 8;
  mr: 4 | 6;
  nr: 4 | 8;
  /** B's panels (of nr columns). */
  np: number;
  bBytes: number;
}

/**
 * Whether f64 products use 6 x 4 tiles: with fused multiply-adds, on V8 13 (Node 24) and later. Their twelve
 * accumulators cover the multiply-adds' latency, but V8 12 (Node 22), and 11 (Node 20 with
 * `--experimental-wasm-relaxed-simd`), keep four of them on the stack inside the loop: a 1024^2 product
 * took 1.5-1.8x the time of 4 x 4 tiles there, and 0.9x on Node 24.
 */
let wideTiles: boolean | undefined;
const wide = () =>
  (wideTiles ??= kernelFlavour() === 'relaxed-simd' && Number(process.versions.v8.split('.')[0]) >= 13);

/** For tests: force the f64 tile (true: 6 x 4, false: 4 x 4), or undefined to choose as the runtime would. */
export function setWideTiles(on: boolean | undefined): void {
  wideTiles = on;
}

export function tiling(single: boolean, k: number, n: number): Tiling {
  // f64 6 x 4 where {@link wide}, else 4 x 4 (a multiply and an add need a register more); f32 4 x 8.
  const mr = !single && wide() ? 6 : 4;
  const nr = single ? 8 : 4;
  const np = Math.ceil(n / nr);
  return { single, size: single ? 4 : 8, mr, nr, np, bBytes: align(np * nr * k * (single ? 4 : 8)) };
}

/** Where one worker's product steps keep their operands, in bytes from its kernel memory's start. */
export interface StepPlace {
  /** The kernel memory's buffer. */
  heap: ArrayBufferLike;
  /** Rows of one step (a multiple of mr). */
  rows: number;
  /** Rows of a (or of b, while packing) copied in as they are, which the kernels spread into panels. */
  stage: number;
  /** A step's packed A, packed B, the step's C (rows x np * nr). */
  a: number;
  b: number;
  c: number;
}

/** Bytes of a step's staging area: a step's rows of a, or {@link PACK_ROWS} rows of b. */
export const stageBytes = (t: Tiling, rows: number, k: number, n: number) =>
  align(Math.max(rows * k, PACK_ROWS * n) * t.size);

/** A view of the product's element type over a kernel memory. */
const viewOf = (t: Tiling, heap: ArrayBufferLike, at: number, length: number): FloatArray =>
  t.single ? new Float32Array(heap, at, length) : new Float64Array(heap, at, length);

/** Rows `p0..` (one group of {@link PACK_ROWS}) of b into the panels of packed B. */
export function packRowsOfB(
  ex: KernelExports,
  t: Tiling,
  at: StepPlace,
  b: FloatArray,
  k: number,
  n: number,
  p0: number,
) {
  const p1 = Math.min(k, p0 + PACK_ROWS);
  viewOf(t, at.heap, at.stage, (p1 - p0) * n).set(b.subarray(p0 * n, p1 * n));
  ex.packB(at.stage, at.b, p1 - p0, n * t.size, k, p0);
}

/** `c[rowStart..rowEnd)` from rows of `a` and B packed at `at.b`, a step of `at.rows` rows at a time. */
export function multiplyRows(
  ex: KernelExports,
  t: Tiling,
  at: StepPlace,
  a: FloatArray,
  c: FloatArray,
  k: number,
  n: number,
  rowStart: number,
  rowEnd: number,
): void {
  const ldc = t.np * t.nr;
  const cp = viewOf(t, at.heap, at.c, at.rows * ldc);
  for (let i0 = rowStart; i0 < rowEnd; i0 += at.rows) {
    const count = Math.min(at.rows, rowEnd - i0);
    const panels = Math.ceil(count / t.mr);
    // A's rows as panels of mr, each p-major; rows past the block are zero.
    viewOf(t, at.heap, at.stage, count * k).set(a.subarray(i0 * k, (i0 + count) * k));
    ex.packA(at.stage, at.a, count, k, t.mr, t.size);
    if (t.single) ex.sgemm(at.a, at.b, at.c, panels, t.np, k, KC, MC_PANELS);
    else ex.dgemm(at.a, at.b, at.c, panels, t.np, k, KC, MC_PANELS, t.mr === 6 ? 1 : 0);
    for (let i = 0; i < count; i++) c.set(cp.subarray(i * ldc, i * ldc + n), (i0 + i) * n);
  }
}

/**
 * `c[rowStart..rowEnd)` = rows of `a` (`m x k`, row-major) times `b` (`k x n`), into `c` (`m x n`). With `c`
 * a Float32Array (and `a`, `b` too) the sums are f32, else f64. `b` is packed once per call, in this
 * worker's own kernel memory (a split product's parts share one packing instead: gemm-split.ts).
 */
export function gemm(
  a: FloatArray,
  b: FloatArray,
  c: FloatArray,
  m: number,
  k: number,
  n: number,
  rowStart = 0,
  rowEnd = m,
): void {
  const t = tiling(c instanceof Float32Array, k, n);
  const rowBytes = (k + t.np * t.nr) * t.size;
  const stepRows = Math.max(t.mr, Math.floor(STEP_BYTES / rowBytes / t.mr) * t.mr);
  const rows = Math.min(stepRows, Math.ceil((rowEnd - rowStart) / t.mr) * t.mr);
  const aBytes = align(rows * k * t.size);
  const cBytes = align(rows * t.np * t.nr * t.size);
  // Packed B at 0, then packed A, the step's C, and the staging area.
  const stage = t.bBytes + aBytes + cBytes;
  const ex = kernels(stage + stageBytes(t, rows, k, n));
  const at: StepPlace = { heap: ex.memory.buffer, rows, b: 0, a: t.bBytes, c: t.bBytes + aBytes, stage };
  try {
    // B as panels of nr columns, each p-major (columns past n are zero), a few rows of b at a time.
    for (let p0 = 0; p0 < k; p0 += PACK_ROWS) packRowsOfB(ex, t, at, b, k, n, p0);
    multiplyRows(ex, t, at, a, c, k, n, rowStart, rowEnd);
  } finally {
    done();
  }
}

/** What a row scan computes for each row against the query. */
export const ScanMode = {
  /** The dot product and the row's squared norm: two values a row. */
  DotAndNorm: 0,
  Dot: 1,
  /** The squared Euclidean distance. */
  SquaredDistance: 2,
} as const;
export type ScanMode = (typeof ScanMode)[keyof typeof ScanMode];

/**
 * Scans the rows `rowStart..rowEnd` of `matrix` (row-major, `query.length` columns) against `query`, a block of
 * rows at a time: `visit(out, first, count)` gets the block's results (`out[i]`, or `out[2i]` and `out[2i+1]`
 * for {@link ScanMode.DotAndNorm}) for rows `first..first+count`. Sums are kept in f64. `out` is valid only
 * during the visit.
 */
export function scanRows(
  matrix: FloatArray,
  query: FloatArray,
  mode: ScanMode,
  rowStart: number,
  rowEnd: number,
  visit: (out: Float64Array, first: number, count: number) => void,
): void {
  const dim = query.length;
  // Same element types: f32 rows against the query widened to f64 once (the kernel widens each row's values);
  // otherwise both as f64, so no value loses precision.
  const single = matrix instanceof Float32Array && query instanceof Float32Array;
  if (scanInPlace(matrix, query, mode, rowStart, rowEnd, visit, single)) return;
  const size = single ? 4 : 8;
  const blockRows = Math.max(1, Math.floor(SCAN_BLOCK_BYTES / (dim * size)));
  const qBytes = align(dim * 8);
  const blockBytes = align(blockRows * dim * size);
  const perRow = mode === ScanMode.DotAndNorm ? 2 : 1;
  const ex = kernels(qBytes + blockBytes + blockRows * perRow * 8);
  try {
    const memory = ex.memory.buffer;
    new Float64Array(memory, 0, dim).set(query);
    const rowsView = single
      ? new Float32Array(memory, qBytes, blockRows * dim)
      : new Float64Array(memory, qBytes, blockRows * dim);
    const out = new Float64Array(memory, qBytes + blockBytes, blockRows * perRow);
    const scan = single ? ex.scan32 : ex.scan64;
    for (let first = rowStart; first < rowEnd; first += blockRows) {
      const count = Math.min(blockRows, rowEnd - first);
      rowsView.set(matrix.subarray(first * dim, (first + count) * dim));
      scan(qBytes, 0, count, dim, qBytes + blockBytes, mode);
      visit(out, first, count);
    }
  } finally {
    done();
  }
}

/**
 * {@link scanRows} over a matrix in a kernel memory, read where it is: the query and each block's results
 * go in a scratch slot of that memory. Returns false, having done nothing, when the matrix is not in one,
 * its rows would need widening (f32 rows, f64 query), the query does not fit a slot, or no slot is free.
 */
function scanInPlace(
  matrix: FloatArray,
  query: FloatArray,
  mode: ScanMode,
  rowStart: number,
  rowEnd: number,
  visit: (out: Float64Array, first: number, count: number) => void,
  single: boolean,
): boolean {
  const buffer = matrix.buffer;
  const memory = memoryOf(buffer);
  if (memory === undefined || !(single || matrix instanceof Float64Array)) return false;
  const dim = query.length;
  const qBytes = align(dim * 8);
  const perRow = mode === ScanMode.DotAndNorm ? 2 : 1;
  const blockRows = Math.floor((SLOT_BYTES - qBytes) / (perRow * 8));
  if (blockRows < 1) return false;
  const slot = claimSlot(memory.buffer);
  if (slot < 0) return false;
  try {
    const ex = kernelsOver(memory);
    new Float64Array(memory.buffer, slot, dim).set(query);
    const out = new Float64Array(memory.buffer, slot + qBytes, blockRows * perRow);
    const scan = single ? ex.scan32 : ex.scan64;
    const rowBytes = dim * matrix.BYTES_PER_ELEMENT;
    for (let first = rowStart; first < rowEnd; first += blockRows) {
      const count = Math.min(blockRows, rowEnd - first);
      scan(matrix.byteOffset + first * rowBytes, slot, count, dim, slot + qBytes, mode);
      visit(out, first, count);
    }
  } finally {
    releaseSlot(memory.buffer, slot);
  }
  return true;
}

/** The dot product of two same-length arrays, summed in f64 (in blocks that stay in cache). */
export function dotProduct(a: FloatArray, b: FloatArray): number {
  const n = a.length;
  // Two same-length vectors are one "row" each: a block of a against the same block of b (for f32, b's block
  // widened to f64, as the scan reads its query).
  const single = a instanceof Float32Array && b instanceof Float32Array;
  const size = single ? 4 : 8;
  const block = Math.min(n, Math.floor(SCAN_BLOCK_BYTES / 8 / 2 / 4) * 4);
  const leftBytes = align(block * size);
  const rightBytes = align(block * 8);
  const ex = kernels(leftBytes + rightBytes + 16);
  try {
    const memory = ex.memory.buffer;
    const left = single ? new Float32Array(memory, 0, block) : new Float64Array(memory, 0, block);
    const right = new Float64Array(memory, leftBytes, block);
    const out = new Float64Array(memory, leftBytes + rightBytes, 1);
    const scan = single ? ex.scan32 : ex.scan64;
    let sum = 0;
    for (let start = 0; start < n; start += block) {
      const count = Math.min(block, n - start);
      left.set(a.subarray(start, start + count));
      right.set(b.subarray(start, start + count));
      // The query (b's block) at leftBytes, the row (a's block) at 0.
      scan(0, leftBytes, 1, count, leftBytes + rightBytes, ScanMode.Dot);
      sum += out[0]!;
    }
    return sum;
  } finally {
    done();
  }
}

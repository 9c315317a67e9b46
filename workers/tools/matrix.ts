import { defineTool } from '../../src/tool/define.js';
import { shared } from '../../src/tool/shared.js';
import { gemm } from '../kernels/kernels.js';
import { multiplyPart, splitWorkspace } from '../kernels/gemm-split.js';
import { floatArray, invalid, positiveInteger, record, type FloatArray } from './checks.js';

export interface MultiplyArgs {
  a: FloatArray;
  b: FloatArray;
  m: number;
  k: number;
  n: number;
}

/**
 * A product is split over workers from this many floating-point operations (2 m k n) up: below it, the
 * extra messages cost more than they save (see bench/scenarios/kernels.ts).
 */
const MIN_SPLIT_FLOPS = 2 ** 25;
/** Fewest rows of a part. */
const MIN_SPLIT_ROWS = 16;

/** The first row of part `index` of `parts`: blocks of whole 4-row panels, as even as they go. */
const rowOf = (m: number, index: number, parts: number) =>
  Math.min(m, Math.round((Math.ceil(m / 4) * index) / parts) * 4);

function multiplyArgs(args: unknown): MultiplyArgs {
  const input = record('matrix.multiply', args);
  const a = floatArray('matrix.multiply', 'a', input.a);
  const b = floatArray('matrix.multiply', 'b', input.b);
  const m = positiveInteger('matrix.multiply', 'm', input.m);
  const k = positiveInteger('matrix.multiply', 'k', input.k);
  const n = positiveInteger('matrix.multiply', 'n', input.n);
  if (a.length !== m * k) invalid('matrix.multiply', 'a', `has length ${a.length}, expected m * k = ${m * k}`);
  if (b.length !== k * n) invalid('matrix.multiply', 'b', `has length ${b.length}, expected k * n = ${k * n}`);
  return { a, b, m, k, n };
}

/** The product's type: f32 when both operands are, else f64. */
function product({ a, b, m, n }: MultiplyArgs): FloatArray {
  return a instanceof Float32Array && b instanceof Float32Array
    ? shared(Float32Array, m * n)
    : shared(Float64Array, m * n);
}

/**
 * `matrix.multiply`: row-major `m x k` times `k x n`, into a row-major `m x n` array in shared memory:
 * Float32Array when `a` and `b` both are (f32 sums, as BLAS sgemm), else Float64Array. Blocked,
 * register-tiled WebAssembly SIMD.
 */
export const multiply = defineTool({
  name: 'matrix.multiply',
  description:
    'Matrix product of row-major a (m x k) and b (k x n): { a, b, m, k, n } -> Float64Array (Float32Array when a and b are) (m x n)',
  idempotent: true,
  inputSchema: {
    type: 'object',
    properties: {
      a: {
        type: 'array',
        items: { type: 'number' },
        'x-typedArray': ['Float64Array', 'Float32Array'],
        description: 'row-major m x k',
      },
      b: {
        type: 'array',
        items: { type: 'number' },
        'x-typedArray': ['Float64Array', 'Float32Array'],
        description: 'row-major k x n',
      },
      m: { type: 'integer', minimum: 1 },
      k: { type: 'integer', minimum: 1 },
      n: { type: 'integer', minimum: 1 },
    },
    required: ['a', 'b', 'm', 'k', 'n'],
  },
  outputSchema: { type: 'array', items: { type: 'number' }, description: 'row-major m x n' },
  run(args: unknown): FloatArray {
    const input = multiplyArgs(args);
    const c = product(input);
    gemm(input.a, input.b, c, input.m, input.k, input.n);
    return c;
  },
  // Row blocks of the product on several workers, each writing its rows of the shared result, which is the
  // call's result once all are in (no merge task). Large ones pack b once between the parts, in a workspace
  // (gemm-split.ts).
  split: {
    plan(args: unknown, { workers }) {
      const input = multiplyArgs(args);
      const { m, k, n } = input;
      const parts = Math.min(workers, Math.floor(m / MIN_SPLIT_ROWS));
      if (parts < 2 || 2 * m * k * n < MIN_SPLIT_FLOPS) return { parts: 1 };
      const c = product(input);
      const workspace = splitWorkspace(c instanceof Float32Array, m, k, n, parts);
      return { parts, shared: { c, workspace }, result: c };
    },
    part(args: unknown, { index, count }, { c, workspace }: { c: FloatArray; workspace?: Uint8Array }) {
      const { a, b, m, k, n } = multiplyArgs(args);
      if (workspace) multiplyPart(a, b, c, m, k, n, workspace, index, count);
      else gemm(a, b, c, m, k, n, rowOf(m, index, count), rowOf(m, index + 1, count));
    },
  },
});

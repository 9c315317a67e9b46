import { defineTool } from '../../src/tool/define.js';
import { floatArray, invalid, positiveInteger, record } from './checks.js';

/** `vector.dot`: the dot product of two same-length float arrays. */
export const dot = defineTool({
  name: 'vector.dot',
  description: 'Dot product of two same-length float arrays: { a, b } -> number',
  idempotent: true,
  run(args: unknown): number {
    const { a: rawA, b: rawB } = record('vector.dot', args);
    const a = floatArray('vector.dot', 'a', rawA);
    const b = floatArray('vector.dot', 'b', rawB);
    if (a.length !== b.length) invalid('vector.dot', 'b', `has length ${b.length}, but a has length ${a.length}`);
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    const n = a.length;
    const end = n - (n % 4);
    for (let i = 0; i < end; i += 4) {
      s0 += a[i]! * b[i]!;
      s1 += a[i + 1]! * b[i + 1]!;
      s2 += a[i + 2]! * b[i + 2]!;
      s3 += a[i + 3]! * b[i + 3]!;
    }
    for (let i = end; i < n; i++) s0 += a[i]! * b[i]!;
    return s0 + s1 + s2 + s3;
  },
});

export interface TopK {
  indices: Int32Array;
  scores: Float64Array;
}

/**
 * `vector.topk`: the `k` rows of a row-major matrix most similar to a query by cosine similarity, best
 * first (ties: lower row first). Rows of zero norm score 0. Returns `min(k, rows)` entries.
 */
export const topk = defineTool({
  name: 'vector.topk',
  description: 'Top-k rows by cosine similarity: { query, matrix, k } -> { indices, scores }',
  idempotent: true,
  run(args: unknown): TopK {
    const input = record('vector.topk', args);
    const query = floatArray('vector.topk', 'query', input.query);
    const matrix = floatArray('vector.topk', 'matrix', input.matrix);
    const k = positiveInteger('vector.topk', 'k', input.k);
    const dim = query.length;
    if (dim === 0) invalid('vector.topk', 'query', 'must not be empty');
    if (matrix.length % dim !== 0) {
      invalid('vector.topk', 'matrix', `has length ${matrix.length}, not a multiple of query.length (${dim})`);
    }
    let qq = 0;
    for (let j = 0; j < dim; j++) qq += query[j]! * query[j]!;
    if (qq === 0) invalid('vector.topk', 'query', 'has zero norm');
    const qNorm = Math.sqrt(qq);
    const rows = matrix.length / dim;
    const size = Math.min(k, rows);
    // A min-heap of the best `size` rows seen so far: heap[0] is the weakest kept row.
    const heapScore = new Float64Array(size);
    const heapIndex = new Int32Array(size);
    let count = 0;
    const worse = (i: number, j: number) =>
      heapScore[i]! < heapScore[j]! || (heapScore[i] === heapScore[j] && heapIndex[i]! > heapIndex[j]!);
    const swap = (i: number, j: number) => {
      const s = heapScore[i]!;
      heapScore[i] = heapScore[j]!;
      heapScore[j] = s;
      const x = heapIndex[i]!;
      heapIndex[i] = heapIndex[j]!;
      heapIndex[j] = x;
    };
    const siftDown = (start: number) => {
      let i = start;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < count && worse(l, m)) m = l;
        if (r < count && worse(r, m)) m = r;
        if (m === i) return;
        swap(i, m);
        i = m;
      }
    };
    for (let row = 0, base = 0; row < rows; row++, base += dim) {
      let d = 0;
      let rr = 0;
      for (let j = 0; j < dim; j++) {
        const v = matrix[base + j]!;
        d += v * query[j]!;
        rr += v * v;
      }
      const score = rr === 0 ? 0 : d / (qNorm * Math.sqrt(rr));
      if (count < size) {
        heapScore[count] = score;
        heapIndex[count] = row;
        let i = count++;
        while (i > 0) {
          const parent = (i - 1) >> 1;
          if (!worse(i, parent)) break;
          swap(i, parent);
          i = parent;
        }
      } else if (score > heapScore[0]!) {
        heapScore[0] = score;
        heapIndex[0] = row;
        siftDown(0);
      }
    }
    // Pop the heap from weakest to best into the output, back to front.
    const indices = new Int32Array(size);
    const scores = new Float64Array(size);
    for (let out = size - 1; out >= 0; out--) {
      indices[out] = heapIndex[0]!;
      scores[out] = heapScore[0]!;
      count--;
      swap(0, count);
      siftDown(0);
    }
    return { indices, scores };
  },
});

import { defineTool } from '../../src/tool/define.js';
import { describeValue } from '../../src/errors.js';
import { dotProduct, scanRows, ScanMode } from '../kernels/kernels.js';
import { floatArray, invalid, positiveInteger, record, type FloatArray } from './checks.js';

/** A float array argument: a Float64Array or Float32Array, or (from JSON) an array of numbers, made a Float64Array. */
const floats = (description: string) => ({
  type: 'array',
  items: { type: 'number' },
  'x-typedArray': ['Float64Array', 'Float32Array'],
  description,
});

/** `vector.dot`: the dot product of two same-length float arrays, summed in f64. */
export const dot = defineTool({
  name: 'vector.dot',
  description: 'Dot product of two same-length float arrays: { a, b } -> number',
  idempotent: true,
  inputSchema: {
    type: 'object',
    properties: { a: floats('a vector'), b: floats('a vector of the same length') },
    required: ['a', 'b'],
  },
  outputSchema: { type: 'number' },
  run(args: unknown): number {
    const { a: rawA, b: rawB } = record('vector.dot', args);
    const a = floatArray('vector.dot', 'a', rawA);
    const b = floatArray('vector.dot', 'b', rawB);
    if (a.length !== b.length) invalid('vector.dot', 'b', `has length ${b.length}, but a has length ${a.length}`);
    return dotProduct(a, b);
  },
});

export interface TopK {
  indices: Int32Array;
  scores: Float64Array;
}

export type Metric = 'cosine' | 'dot' | 'l2';
const METRICS: readonly Metric[] = ['cosine', 'dot', 'l2'];

export interface TopKArgs {
  query: FloatArray;
  matrix: FloatArray;
  k: number;
  metric: Metric;
  rows: number;
}

export function topkArgs(args: unknown): TopKArgs {
  const input = record('vector.topk', args);
  const query = floatArray('vector.topk', 'query', input.query);
  const matrix = floatArray('vector.topk', 'matrix', input.matrix);
  const k = positiveInteger('vector.topk', 'k', input.k);
  const metric = input.metric ?? 'cosine';
  if (!METRICS.includes(metric as Metric)) {
    invalid('vector.topk', 'metric', `must be 'cosine', 'dot' or 'l2', got ${describeValue(metric)}`);
  }
  const dim = query.length;
  if (dim === 0) invalid('vector.topk', 'query', 'must not be empty');
  if (matrix.length % dim !== 0) {
    invalid('vector.topk', 'matrix', `has length ${matrix.length}, not a multiple of query.length (${dim})`);
  }
  return { query, matrix, k, metric: metric as Metric, rows: matrix.length / dim };
}

/**
 * A bounded selection of the best `size` rows: a min-heap on a key where larger is better (the score, or
 * minus the squared distance), ties going to the lower row.
 */
class Best {
  readonly keys: Float64Array;
  readonly rows: Int32Array;
  count = 0;

  constructor(size: number) {
    this.keys = new Float64Array(size);
    this.rows = new Int32Array(size);
  }

  #worse(i: number, j: number): boolean {
    const { keys, rows } = this;
    return keys[i]! < keys[j]! || (keys[i] === keys[j] && rows[i]! > rows[j]!);
  }

  #swap(i: number, j: number): void {
    const { keys, rows } = this;
    const key = keys[i]!;
    keys[i] = keys[j]!;
    keys[j] = key;
    const row = rows[i]!;
    rows[i] = rows[j]!;
    rows[j] = row;
  }

  #siftDown(start: number): void {
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.count && this.#worse(l, m)) m = l;
      if (r < this.count && this.#worse(r, m)) m = r;
      if (m === i) return;
      this.#swap(i, m);
      i = m;
    }
  }

  offer(key: number, row: number): void {
    const size = this.keys.length;
    if (this.count < size) {
      this.keys[this.count] = key;
      this.rows[this.count] = row;
      let i = this.count++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!this.#worse(i, parent)) break;
        this.#swap(i, parent);
        i = parent;
      }
    } else if (key > this.keys[0]! || (key === this.keys[0] && row < this.rows[0]!)) {
      this.keys[0] = key;
      this.rows[0] = row;
      this.#siftDown(0);
    }
  }

  /** The rows kept, best first; `score` turns a key back into the score reported. */
  drain(score: (key: number) => number): TopK {
    const size = this.count;
    const indices = new Int32Array(size);
    const scores = new Float64Array(size);
    for (let out = size - 1; out >= 0; out--) {
      indices[out] = this.rows[0]!;
      scores[out] = score(this.keys[0]!);
      this.count--;
      this.#swap(0, this.count);
      this.#siftDown(0);
    }
    return { indices, scores };
  }
}

const scoreOfKey = (metric: Metric) => (metric === 'l2' ? (key: number) => Math.sqrt(-key) : (key: number) => key);

/** The best `k` of rows `rowStart..rowEnd`, best first. */
export function topkOfRows({ query, matrix, k, metric }: TopKArgs, rowStart: number, rowEnd: number): TopK {
  const best = new Best(Math.max(0, Math.min(k, rowEnd - rowStart)));
  if (metric === 'cosine') {
    let qq = 0;
    for (let j = 0; j < query.length; j++) qq += query[j]! * query[j]!;
    if (qq === 0) invalid('vector.topk', 'query', 'has zero norm');
    const qNorm = Math.sqrt(qq);
    scanRows(matrix, query, ScanMode.DotAndNorm, rowStart, rowEnd, (out, first, count) => {
      for (let i = 0; i < count; i++) {
        const rr = out[2 * i + 1]!;
        // Rows of zero norm score 0.
        best.offer(rr === 0 ? 0 : out[2 * i]! / (qNorm * Math.sqrt(rr)), first + i);
      }
    });
  } else {
    const mode = metric === 'dot' ? ScanMode.Dot : ScanMode.SquaredDistance;
    const sign = metric === 'dot' ? 1 : -1;
    scanRows(matrix, query, mode, rowStart, rowEnd, (out, first, count) => {
      for (let i = 0; i < count; i++) best.offer(sign * out[i]!, first + i);
    });
  }
  return best.drain(scoreOfKey(metric));
}

/** The best `k` of several partial top-k lists (each of them best first). */
export function mergeTopK(parts: readonly TopK[], k: number, metric: Metric): TopK {
  const total = parts.reduce((sum, part) => sum + part.indices.length, 0);
  const best = new Best(Math.min(k, total));
  const keyOf = metric === 'l2' ? (score: number) => -(score * score) : (score: number) => score;
  for (const part of parts) {
    for (let i = 0; i < part.indices.length; i++) best.offer(keyOf(part.scores[i]!), part.indices[i]!);
  }
  return best.drain(scoreOfKey(metric));
}

/**
 * `vector.topk`: the `k` rows of a row-major matrix nearest a query, best first (ties: lower row first):
 * by cosine similarity (the default; rows of zero norm score 0), dot product, or Euclidean distance
 * (`metric: 'l2'`, scores are distances, smallest first). Returns `min(k, rows)` entries.
 */
export const topk = defineTool({
  name: 'vector.topk',
  description: "Top-k rows by similarity: { query, matrix, k, metric?: 'cosine'|'dot'|'l2' } -> { indices, scores }",
  idempotent: true,
  inputSchema: {
    type: 'object',
    properties: {
      query: floats('the query vector'),
      matrix: floats('row-major rows of query.length values'),
      k: { type: 'integer', minimum: 1, description: 'how many rows to return' },
      metric: { enum: ['cosine', 'dot', 'l2'], description: "'cosine' (default), 'dot' or 'l2'" },
    },
    required: ['query', 'matrix', 'k'],
  },
  outputSchema: {
    type: 'object',
    properties: {
      indices: { type: 'array', items: { type: 'integer' } },
      scores: { type: 'array', items: { type: 'number' } },
    },
  },
  run(args: unknown): TopK {
    const input = topkArgs(args);
    return topkOfRows(input, 0, input.rows);
  },
  // Row blocks scanned on several workers; their top-k lists merged.
  split: {
    plan(args: unknown, { workers }) {
      const { matrix, rows } = topkArgs(args);
      if (workers < 2 || matrix.byteLength < MIN_SPLIT_BYTES) return { parts: 1 };
      return { parts: Math.min(workers, rows) };
    },
    part(args: unknown, { index, count }): TopK {
      const input = topkArgs(args);
      return topkOfRows(input, rowOf(input.rows, index, count), rowOf(input.rows, index + 1, count));
    },
    merge(args: unknown, results: TopK[]): TopK {
      const { k, metric } = topkArgs(args);
      return mergeTopK(results, k, metric);
    },
  },
});

/**
 * A scan is split over workers from this many bytes of matrix up: below it, the extra messages cost more
 * than they save (see bench/scenarios/kernels.ts).
 */
const MIN_SPLIT_BYTES = 4 * 2 ** 20;

const rowOf = (rows: number, index: number, parts: number) => Math.round((rows * index) / parts);

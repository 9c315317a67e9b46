// A tool module: runs in the workers. Plain JavaScript, so Node imports it as it is.
import { setImmediate } from 'node:timers/promises';
import { defineSession, defineTool, shared } from 'toolbridge/tool';

/** Scales a vector into a new shared array: nothing is copied either way. */
export const scale = defineTool({
  name: 'example.scale',
  description: 'Multiply every element by k',
  run({ x, k }) {
    const out = shared(Float64Array, x.length);
    for (let i = 0; i < x.length; i++) out[i] = x[i] * k;
    return out;
  },
});

/** A cooperative long computation (`ms` of work in 10 ms steps): stops at its deadline or on abort. */
export const simulate = defineTool({
  name: 'example.simulate',
  async run({ ms }, ctx) {
    let steps = 0;
    for (const end = performance.now() + ms; performance.now() < end; steps++) {
      ctx.signal.throwIfAborted();
      const stepEnd = performance.now() + 10;
      while (performance.now() < stepEnd); // 10 ms of work
      await setImmediate(); // lets an abort in
    }
    return steps;
  },
});

/**
 * A session: an embeddings index kept in one worker. Row norms are computed once, at open; each query then
 * scans the rows once (the stateless `vector.topk` tool recomputes the norms on every call).
 */
export const index = defineSession({
  name: 'example.index',
  description: 'Cosine top-k over a fixed embeddings matrix, norms computed once',
  create({ matrix, dim }) {
    const rows = matrix.length / dim;
    const norms = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let j = r * dim; j < (r + 1) * dim; j++) s += matrix[j] * matrix[j];
      norms[r] = Math.sqrt(s) || 1;
    }
    return {
      query(q, k) {
        let qn = 0;
        for (let j = 0; j < dim; j++) qn += q[j] * q[j];
        qn = Math.sqrt(qn) || 1;
        const best = [];
        for (let r = 0; r < rows; r++) {
          let dot = 0;
          for (let j = 0, base = r * dim; j < dim; j++) dot += matrix[base + j] * q[j];
          const score = dot / (norms[r] * qn);
          if (best.length < k || score > best[best.length - 1].score) {
            best.push({ row: r, score });
            best.sort((a, b) => b.score - a.score);
            if (best.length > k) best.pop();
          }
        }
        return best;
      },
      size: () => rows,
    };
  },
});

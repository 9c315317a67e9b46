/**
 * The vector-index work of the `sessions` scenario, shared by every contender so that they differ only in
 * where the state lives and how a query reaches it: row norms of a `rows x dim` f32 matrix, and a cosine
 * top-k scan that uses them.
 */
export function rowNorms(matrix: Float32Array, dim: number): Float32Array {
  const rows = matrix.length / dim;
  const norms = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = r * dim, end = j + dim; j < end; j++) s += matrix[j]! * matrix[j]!;
    norms[r] = Math.sqrt(s);
  }
  return norms;
}

/** Indices of the `k` rows most similar to `q` by cosine, best first. */
export function topk(matrix: Float32Array, norms: Float32Array, dim: number, q: Float32Array, k: number): number[] {
  let qn = 0;
  for (let j = 0; j < dim; j++) qn += q[j]! * q[j]!;
  qn = Math.sqrt(qn) || 1;
  const best: Array<[number, number]> = [];
  let floor = -Infinity;
  for (let r = 0, base = 0; r < norms.length; r++, base += dim) {
    let dot = 0;
    for (let j = 0; j < dim; j++) dot += matrix[base + j]! * q[j]!;
    const score = dot / ((norms[r]! || 1) * qn);
    if (best.length < k || score > floor) {
      best.push([r, score]);
      best.sort((a, b) => b[1] - a[1]);
      if (best.length > k) best.pop();
      floor = best[best.length - 1]![1];
    }
  }
  return best.map(([r]) => r);
}

/** The index object a session (or a comlink worker) keeps: norms computed once. */
export function makeIndex(matrix: Float32Array, dim: number) {
  const norms = rowNorms(matrix, dim);
  return {
    query: (q: Float32Array, k: number) => topk(matrix, norms, dim, q, k),
    ping: () => 0,
  };
}

/**
 * `npm start`: heavy numeric tools through the bridge, on data generated here in shared memory.
 *
 * - a 100,000 x 128 float32 embedding matrix (49 MiB): vector.topk, vector.dot, matrix.multiply
 * - a 1,000,000-row Arrow table (5 columns, 29 MiB): frame.describe, frame.groupby
 *
 * It prints each result, the main thread's event-loop delay meanwhile, and the bridge's stats: latency per
 * tool and how many bytes crossed by reference versus by copy.
 */
import { Dictionary, Float64, Int32, Int8, Table, Utf8, makeData, makeVector, vectorFromArray } from 'apache-arrow';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { createBridge, shared, toShared, type BridgeStats } from 'toolbridge';

/** Deterministic pseudo-random numbers (mulberry32), so every run shows the same data. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MiB = 1024 * 1024;
const fmt = (n: number, digits = 2) => n.toFixed(digits);
const mib = (bytes: number) => `${fmt(bytes / MiB, 1)} MiB`;

function embeddings(rows: number, dim: number): Float32Array<SharedArrayBuffer> {
  const next = random(42);
  const matrix = shared(Float32Array, rows * dim);
  for (let i = 0; i < matrix.length; i++) matrix[i] = next() * 2 - 1;
  return matrix;
}

function salesTable(rows: number): Table {
  const next = random(7);
  const regions = ['north', 'south', 'east', 'west', 'central', 'islands'];
  const products = ['bolts', 'nuts', 'gears', 'springs', 'valves', 'pumps', 'belts', 'chains'];
  const region = shared(Int8Array, rows);
  const product = shared(Int32Array, rows);
  const units = shared(Int32Array, rows);
  const price = shared(Float64Array, rows);
  const discount = shared(Float64Array, rows);
  const valid = shared(Uint8Array, Math.ceil(rows / 8));
  let nulls = 0;
  for (let i = 0; i < rows; i++) {
    region[i] = Math.floor(next() * regions.length);
    product[i] = Math.floor(next() * products.length);
    units[i] = 1 + Math.floor(next() * 20);
    price[i] = Math.round((5 + next() * 95) * 100) / 100;
    if (next() < 0.1) nulls++;
    else {
      discount[i] = Math.round(next() * 30) / 100;
      valid[i >> 3] = valid[i >> 3]! | (1 << (i & 7));
    }
  }
  const dictionary = <T extends Int8 | Int32>(indices: Int8Array | Int32Array, words: string[], indexType: T) =>
    makeVector(
      makeData({
        type: new Dictionary(new Utf8(), indexType),
        length: rows,
        data: indices,
        dictionary: vectorFromArray(words, new Utf8()),
      }),
    );
  const table = new Table({
    region: dictionary(region, regions, new Int8()),
    product: dictionary(product, products, new Int32()),
    units: makeVector(units),
    price: makeVector(price),
    discount: makeVector(
      makeData({ type: new Float64(), length: rows, nullCount: nulls, nullBitmap: valid, data: discount }),
    ),
  });
  // The column buffers are already shared; this copies only the two small dictionaries of words.
  return toShared(table);
}

function printStats(stats: BridgeStats): void {
  const rows = Object.entries(stats.tools).map(([tool, s]) => ({
    tool,
    calls: s.calls,
    errors: s.errors,
    'p50 ms': fmt(s.latency.p50),
    'p95 ms': fmt(s.latency.p95),
    'p99 ms': fmt(s.latency.p99),
  }));
  console.table(rows);
  console.log(`bytes shared: ${mib(stats.bytes.shared)}   bytes copied: ${mib(stats.bytes.copied)}`);
}

async function main(): Promise<void> {
  const t0 = performance.now();
  // The built-in tools, and examples/tools.js (a session among them). From dist/examples/ or examples/.
  const tools = new URL(`${import.meta.url.includes('/dist/') ? '../../' : '../'}examples/tools.js`, import.meta.url);
  const bridge = await createBridge({ tools: [tools] });
  console.log(
    `bridge ready in ${fmt(performance.now() - t0, 0)} ms with tools: ${bridge
      .tools()
      .map((t) => t.name)
      .join(', ')}`,
  );

  const rows = 100_000;
  const dim = 128;
  const matrix = embeddings(rows, dim);
  const table = salesTable(1_000_000);
  console.log(`generated ${rows} x ${dim} embeddings (${mib(matrix.byteLength)}) and a ${table.numRows}-row table`);

  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();

  // Search: a query close to row 31337 should find that row first.
  const target = 31_337;
  const query = shared(Float32Array, dim);
  const noise = random(1);
  for (let j = 0; j < dim; j++) query[j] = matrix[target * dim + j]! + (noise() - 0.5) * 0.1;
  let t = performance.now();
  const top = await bridge.call<{ indices: Int32Array; scores: Float64Array }>('vector.topk', { query, matrix, k: 5 });
  console.log(`\nvector.topk over ${rows} x ${dim} in ${fmt(performance.now() - t)} ms`);
  top.indices.forEach((row, i) => console.log(`  #${i + 1} row ${row}  cosine ${fmt(top.scores[i]!, 4)}`));

  // The same search on an index kept in a session: the row norms are computed once, at open, in one worker.
  t = performance.now();
  const index = await bridge.open<{ query(q: Float32Array, k: number): Array<{ row: number; score: number }> }>(
    'example.index',
    { matrix, dim },
  );
  const opened = performance.now() - t;
  t = performance.now();
  let hits: Array<{ row: number; score: number }> = [];
  for (let i = 0; i < 3; i++) hits = await index.query(query, 5);
  console.log(
    `session example.index: opened in ${fmt(opened)} ms, then 3 queries in ${fmt(performance.now() - t)} ms; best row ${hits[0]!.row} (cosine ${fmt(hits[0]!.score, 4)})`,
  );
  await index.close();

  // Dot product of two rows, passed as zero-copy subarrays of the big matrix.
  const a = matrix.subarray(0, dim);
  const b = matrix.subarray(target * dim, (target + 1) * dim);
  console.log(`\nvector.dot(row 0, row ${target}) = ${fmt(await bridge.call<number>('vector.dot', { a, b }), 6)}`);

  // Matrix product: the first 512 embedding rows (a view, no copy) times a 128 x 64 projection.
  const projection = shared(Float64Array, dim * 64);
  const next = random(3);
  for (let i = 0; i < projection.length; i++) projection[i] = next() - 0.5;
  t = performance.now();
  const product = await bridge.call<Float64Array>('matrix.multiply', {
    a: matrix.subarray(0, 512 * dim),
    b: projection,
    m: 512,
    k: dim,
    n: 64,
  });
  console.log(
    `\nmatrix.multiply 512 x ${dim} by ${dim} x 64 in ${fmt(performance.now() - t)} ms; c[0][0..3] = ${[...product.subarray(0, 4)].map((v) => fmt(v, 4)).join(', ')}`,
  );

  // Data frames: statistics and a group-by over a million rows, all in parallel.
  t = performance.now();
  const [summary, byRegion, byProduct] = await Promise.all([
    bridge.call<Record<string, Record<string, number>>>('frame.describe', { table }),
    bridge.call<Table>('frame.groupby', {
      table,
      by: 'region',
      aggs: { units: 'sum', price: 'mean', discount: 'count' },
    }),
    bridge.call<Table>('frame.groupby', { table, by: ['product'], aggs: { price: 'max', units: 'mean' } }),
  ]);
  console.log(
    `\nframe.describe + 2 x frame.groupby over ${table.numRows} rows in ${fmt(performance.now() - t)} ms (in parallel)`,
  );
  console.table(
    Object.fromEntries(
      Object.entries(summary).map(([column, s]) => [
        column,
        { count: s.count, nulls: s.nulls, mean: fmt(s.mean!, 3), std: fmt(s.std!, 3), min: s.min, max: s.max },
      ]),
    ),
  );
  console.log('units, mean price and discounted sales by region:');
  console.table(byRegion.toArray().map((row) => row.toJSON()));
  console.log('max price and mean units by product:');
  console.table(byProduct.toArray().map((row) => row.toJSON()));

  loop.disable();
  console.log(
    `\nmain thread event-loop delay meanwhile: p99 ${fmt(loop.percentile(99) / 1e6)} ms, max ${fmt(loop.max / 1e6)} ms`,
  );

  console.log('\nbridge.stats():');
  printStats(bridge.stats());
  await bridge.close();
}

await main();

/**
 * Sessions (`bridge.open`): a cosine top-k query on an index kept in a worker (norms of a 100k x 384 f32
 * matrix computed once, at open), against the same query as a stateless tool call that must compute the
 * norms again each time, and against the same index behind comlink over a raw worker thread (no toolbridge).
 * Latency call by call in turn; throughput with one session (or raw worker) per thread; and the cost of a
 * method call that does nothing.
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import { wrap, type Endpoint, type Remote } from 'comlink';
import { createBridge, shared } from '../../src/index.js';
import { fmt, fmtRatio, ratios, rounds, spread, throughputRounds } from '../harness.js';
import { toolsModule, type Scenario } from '../scenario.js';

interface Index {
  query(q: Float32Array, k: number): number[];
  ping(): number;
}

const comlinkWorker = new URL('../workers/comlink-index.js', import.meta.url);

/** A raw worker thread holding the index, and its comlink remote. */
async function rawIndex(matrix: Float32Array, dim: number): Promise<{ remote: Remote<Index>; worker: Worker }> {
  const worker = new Worker(comlinkWorker);
  const { port1, port2 } = new MessageChannel();
  const ready = new Promise((resolve) => port1.once('message', resolve));
  worker.postMessage({ matrix, dim, port: port2 }, [port2]);
  await ready;
  return { remote: wrap<Index>(port1 as unknown as Endpoint), worker };
}

export const sessions: Scenario = async ({ tiny, full, threads }) => {
  const rows = tiny ? 2_000 : 100_000;
  const dim = tiny ? 64 : 384;
  const k = 10;
  const matrix = shared(Float32Array, rows * dim);
  let seed = 1;
  for (let i = 0; i < matrix.length; i++) matrix[i] = ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
  const q = shared(Float32Array, dim);
  q.set(matrix.subarray(dim * 42, dim * 43));
  const bridge = await createBridge({ minThreads: threads, maxThreads: threads, tools: [toolsModule] });
  const raws = await Promise.all(Array.from({ length: threads }, () => rawIndex(matrix, dim)));
  try {
    const indexes = await Promise.all(
      Array.from({ length: threads }, () => bridge.open<Index>('bench.index', { matrix, dim })),
    );
    const session = indexes[0]!;
    const raw = raws[0]!.remote;
    const rebuild = () => bridge.call<number[]>('bench.rebuildTopk', { matrix, dim, q, k });
    const expected = await raw.query(q, k);
    for (const got of [await session.query(q, k), await rebuild()]) {
      if (JSON.stringify(got) !== JSON.stringify(expected)) throw new Error('sessions: contenders disagree');
    }

    const latency = await rounds(
      [
        { name: 'session', run: () => session.query(q, k) },
        { name: 'stateless tool (norms per call)', run: rebuild },
        { name: 'comlink, raw worker', run: () => raw.query(q, k) },
      ],
      tiny ? { rounds: 2, perRound: 2, warmup: 1 } : { rounds: full ? 12 : 8, perRound: 4, warmup: 3 },
    );
    const p50 = (name: string) => spread(latency.p50s[name]!).median;
    const overhead = await rounds(
      [
        { name: 'session', run: () => session.ping() },
        { name: 'comlink', run: () => raw.ping() },
      ],
      tiny ? { rounds: 2, perRound: 10, warmup: 10 } : { rounds: full ? 30 : 20, perRound: 300, warmup: 3_000 },
    );
    // Throughput: `threads` queries in flight, one per session (or raw worker, or tool call).
    const calls = tiny ? threads * 2 : threads * 12;
    const parallel = (one: (i: number) => Promise<unknown>) => async () => {
      let next = 0;
      await Promise.all(
        Array.from({ length: threads }, async (_, lane) => {
          while (next++ < calls) await one(lane);
        }),
      );
    };
    const qps = await throughputRounds(
      {
        session: parallel((lane) => indexes[lane]!.query(q, k)),
        'stateless tool': parallel(() => rebuild()),
        'comlink, raw worker': parallel((lane) => raws[lane]!.remote.query(q, k)),
      },
      calls,
      tiny ? 1 : full ? 6 : 4,
    );
    const perSecond = (name: string) => spread(qps[name]!).median;
    const vsRebuild = spread(ratios(latency.p50s.session!, latency.p50s['stateless tool (norms per call)']!));
    const vsComlink = spread(ratios(latency.p50s.session!, latency.p50s['comlink, raw worker']!));
    const pingRatio = spread(ratios(overhead.p50s.session!, overhead.p50s.comlink!));
    const stats = bridge.stats().sessions['bench.index']!;
    return {
      name: 'sessions',
      title: `Sessions: cosine top-${k} over ${rows.toLocaleString('en')} x ${dim} f32 (${((rows * dim * 4) / 2 ** 20).toFixed(0)} MiB shared), ${threads} threads`,
      rows: [
        ...Object.keys(latency.p50s).map((name) => ({ measure: `query p50, ${name}`, value: fmt(p50(name)) })),
        ...Object.keys(qps).map((name) => ({
          measure: `queries/s, ${threads} in flight, ${name}`,
          value: perSecond(name).toFixed(1),
        })),
        { measure: 'no-op method p50, session', value: fmt(spread(overhead.p50s.session!).median) },
        { measure: 'no-op method p50, comlink', value: fmt(spread(overhead.p50s.comlink!).median) },
        { measure: 'bytes copied by the sessions (open + every query)', value: stats.bytes.copied },
      ],
      checks: [
        {
          criterion: 'session query / stateless tool rebuilding its norms (p50s, call by call in turn)',
          measured: fmtRatio(vsRebuild),
          target: '< 1x',
          pass: vsRebuild.median < 1,
        },
        {
          criterion: 'session query / the same index behind comlink on a raw worker',
          measured: fmtRatio(vsComlink),
          target: '<= 1.1x',
          pass: vsComlink.median <= 1.1,
        },
        {
          criterion: 'session throughput / comlink raw workers, one per thread',
          measured: `${(perSecond('session') / perSecond('comlink, raw worker')).toFixed(2)}x`,
          target: '>= 0.9x',
          pass: perSecond('session') / perSecond('comlink, raw worker') >= 0.9,
        },
        {
          criterion: 'no-op session method / no-op comlink call (p50s)',
          measured: fmtRatio(pingRatio),
          target: 'reported',
          pass: true,
        },
        {
          criterion: 'bytes copied to carry the shared matrix and the queries',
          measured: String(stats.bytes.copied),
          target: '0',
          pass: stats.bytes.copied === 0,
        },
      ],
    };
  } finally {
    await bridge.close();
    await Promise.all(raws.map(({ worker }) => worker.terminate()));
  }
};

/**
 * Batching and cache (issue 3):
 * 1. 100k calls of a tool that adds `{ a, b }` (object arguments, as callers send them): `batch` throughput
 *    >= 20x that of 100k concurrent individual calls; beside it, the strongest rival a user could write:
 *    the same calls cut by hand into tasks of 1,000 for raw Piscina (same threads), in turn with the batch
 *    alone (apart from the individual calls, whose garbage would land on whichever mode ran next): >= 1x.
 * 2. The same as concurrent calls of a micro-batched tool: >= 5x the individual-call throughput.
 * 3. An idempotent tool computing ~2 ms over a 1 MiB shared argument: a cache hit (hash included) >= 10x
 *    faster than a miss. Also reports the hash throughput next to this machine's memory copy bandwidth.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { hashArgs } from '../../src/cache/content-hash.js';
import { Piscina } from 'piscina';
import { createBridge, shared } from '../../src/index.js';
import { fmt, fmtRatio, ratios, rounds, spread, summarize, throughputRounds } from '../harness.js';
import { bars } from '../charts.js';
import { rawPiscinaWorker, toolsModule, type Check, type Scenario } from '../scenario.js';

/** Calls per task when the calls are cut into chunks by hand for raw Piscina. */
const HAND_CHUNK = 1_000;

const GiB = 2 ** 30;

function bandwidth(bytes: number, repeat: number, fn: () => void): number {
  fn();
  const samples: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const t = performance.now();
    fn();
    samples.push(performance.now() - t);
  }
  return bytes / GiB / (summarize(samples).p50 / 1000);
}

export const batching: Scenario = async ({ tiny, full, threads }) => {
  const n = tiny ? 2_000 : 100_000;
  // 100k calls issued at once: no queue bound, so that the individual calls measure throughput rather than
  // back-pressure (with the default bound most of them would be refused with QUEUE_FULL at once).
  const bridge = await createBridge({
    minThreads: threads,
    maxThreads: threads,
    maxQueue: Infinity,
    tools: [toolsModule],
  });
  const piscina = new Piscina({ filename: rawPiscinaWorker, minThreads: threads, maxThreads: threads });
  const rows: Array<Record<string, string | number>> = [];
  const checks: Check[] = [];
  try {
    const calls = Array.from({ length: n }, (_, i) => ({ tool: 'bench.add', args: { a: i, b: 1 } }));
    const chunks: Array<Array<{ a: number; b: number }>> = [];
    for (let i = 0; i < n; i += HAND_CHUNK) chunks.push(calls.slice(i, i + HAND_CHUNK).map((c) => c.args));
    const rawName = `raw Piscina, ${HAND_CHUNK} per task`;
    const batch = () => bridge.batch(calls);
    const raw = () => Promise.all(chunks.map((items) => piscina.run({ kind: 'addChunk', items })));
    const roundsCount = tiny ? 1 : full ? 5 : 3;
    // Head to head, batch and hand-chunked raw Piscina in turn, and apart from the individual calls: 100k
    // pending promises leave the heap to the garbage collector of whichever mode runs next. A round of each
    // takes ~20-40 ms here, which this VM's noise moves by half: many rounds (after three warm-ups each),
    // so that the median settles.
    const pairRounds = tiny ? 1 : full ? 30 : 16;
    const pair = await throughputRounds({ batch, [rawName]: raw }, n, pairRounds, tiny ? 1 : 3);
    const others = await throughputRounds(
      {
        individual: () => Promise.all(calls.map((c) => bridge.call('bench.add', c.args))),
        batch,
        micro: () => Promise.all(calls.map((c) => bridge.call('bench.addMicro', c.args))),
      },
      n,
      roundsCount,
    );
    const throughput: Record<string, number[]> = {
      individual: others.individual!,
      batch: others.batch!,
      micro: others.micro!,
      'batch (head to head with raw Piscina)': pair.batch!,
      [rawName]: pair[rawName]!,
    };
    for (const [name, values] of Object.entries(throughput)) {
      const s = spread(values);
      rows.push({
        mode: name,
        calls: n,
        'calls/s (median)': Math.round(s.median),
        min: Math.round(s.min),
        max: Math.round(s.max),
      });
    }
    const batchGain = spread(ratios(throughput.batch!, throughput.individual!));
    const microGain = spread(ratios(throughput.micro!, throughput.individual!));
    const againstRaw = spread(ratios(pair.batch!, pair[rawName]!));
    checks.push(
      {
        criterion: `${n} add calls: batch throughput / individual calls`,
        measured: fmtRatio(batchGain),
        target: '>= 20x',
        pass: batchGain.median >= 20,
      },
      {
        criterion: `${n} add calls: batch throughput / the same calls hand-chunked ${HAND_CHUNK} per raw Piscina task`,
        measured: fmtRatio(againstRaw),
        target: '>= 1x',
        pass: againstRaw.median >= 1,
      },
      {
        criterion: `${n} add calls: micro-batched calls / individual calls`,
        measured: fmtRatio(microGain),
        target: '>= 5x',
        pass: microGain.median >= 5,
      },
    );

    // Cache: hits repeat one content; misses change one element so the hash (and the key) changes.
    const x = shared(Float64Array, (1024 * 1024) / 8);
    for (let i = 0; i < x.length; i++) x[i] = i % 97;
    const same = shared(Float64Array, x.length);
    same.set(x);
    let version = 0;
    const varied = shared(Float64Array, x.length);
    varied.set(x);
    const ms = tiny ? 0.2 : 2;
    await bridge.call('bench.compute', { x: same, ms });
    const cache = await rounds(
      [
        { name: 'miss', run: () => ((varied[0] = ++version), bridge.call('bench.compute', { x: varied, ms })) },
        { name: 'hit', run: () => bridge.call('bench.compute', { x: same, ms }) },
      ],
      tiny
        ? { rounds: 1, perRound: 3, warmup: 1, blocks: true }
        : { rounds: 10, perRound: 20, warmup: 5, blocks: true },
    );
    const cacheGain = spread(ratios(cache.p50s.miss!, cache.p50s.hit!));
    rows.push(
      { mode: 'cache miss (1 MiB arg, ~2 ms tool)', p50: fmt(cache.all.miss!.p50) },
      { mode: 'cache hit (hash + copy of the result)', p50: fmt(cache.all.hit!.p50) },
    );
    checks.push({
      criterion: 'idempotent 2 ms tool on a 1 MiB arg: miss p50 / hit p50',
      measured: fmtRatio(cacheGain),
      target: '>= 10x',
      pass: cacheGain.median >= 10,
    });

    const big = shared(Uint8Array, tiny ? 4 * 2 ** 20 : 64 * 2 ** 20);
    const target = new Uint8Array(big.length);
    const hashGiBs = bandwidth(big.length, tiny ? 2 : 10, () => hashArgs(big));
    const copyGiBs = bandwidth(big.length, tiny ? 2 : 10, () => target.set(big));
    const sha1GiBs = bandwidth(big.length, tiny ? 2 : 5, () => createHash('sha1').update(big).digest());
    const notes = [
      `batch against hand-chunked raw Piscina: ${pairRounds} rounds of each, in turn, after ${tiny ? 1 : 3} warm-ups; the other modes: ${roundsCount} rounds.`,
      `content hash (xxHash64, xxhash-wasm): ${hashGiBs.toFixed(2)} GiB/s over ${big.length / 2 ** 20} MiB; ` +
        `memory copy (Uint8Array.set, read + write) on this machine: ${copyGiBs.toFixed(2)} GiB/s; ` +
        `for comparison, node:crypto sha1: ${sha1GiBs.toFixed(2)} GiB/s`,
    ];
    const charts = [
      {
        file: 'batching',
        title: 'Batching',
        spec: bars(
          `${n.toLocaleString('en')} add calls ({ a, b }): calls per second (log scale)`,
          Object.entries(throughput).map(([category, values]) => ({ category, value: spread(values).median })),
          'calls/s',
          true,
        ),
      },
    ];
    return { name: 'batching', title: 'Batches, micro-batching and the result cache', rows, checks, notes, charts };
  } finally {
    await bridge.close();
    await piscina.destroy();
  }
};

/**
 * Payload sweep (issue 6, scenario 2): a Float64Array of 4 KiB to 256 MiB into a tool that reads one element,
 * and the same size coming back as a result the tool made, by every way a user might send it: JSON,
 * @msgpack/msgpack, msgpackr (both over transferred bytes), structured clone, transfer, and toolbridge shared
 * memory. The baselines run on a raw Piscina pool of the same size; contenders run call by call in turn.
 */
import { decode, encode } from '@msgpack/msgpack';
import { Packr } from 'msgpackr';
import { Piscina } from 'piscina';
import { createBridge, shared } from '../../src/index.js';
import { lines } from '../charts.js';
import { fmt, rounds, type Contender } from '../harness.js';
import { toolsModule, type Scenario } from '../scenario.js';
import { float64Of, type Codec } from '../workers/codecs.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const codecsWorker = new URL('../workers/codecs-entry.cjs', import.meta.url).href;
const packr = new Packr({ moreTypes: true });

const LABELS: Record<Codec | 'shared', string> = {
  json: 'JSON',
  msgpack: '@msgpack/msgpack',
  msgpackr: 'msgpackr',
  clone: 'structured clone',
  transfer: 'transfer',
  shared: 'toolbridge shared',
};

/** JSON of 8-byte doubles grows to ~20 bytes a value: past 16 MiB of doubles the string nears V8's limit. */
const JSON_MAX = 16 * MiB;

const sizeLabel = (bytes: number) => (bytes >= MiB ? `${bytes / MiB} MiB` : `${bytes / KiB} KiB`);

export const sweep: Scenario = async ({ tiny, full, threads }) => {
  const sizes = tiny
    ? [4 * KiB, 64 * KiB]
    : full
      ? [4 * KiB, 64 * KiB, MiB, 16 * MiB, 64 * MiB, 256 * MiB]
      : [4 * KiB, MiB, 16 * MiB];
  const bridge = await createBridge({ minThreads: threads, maxThreads: threads, tools: [toolsModule] });
  const piscina = new Piscina({ filename: codecsWorker, minThreads: threads, maxThreads: threads });
  const rows: Array<Record<string, string | number>> = [];
  const points: Record<'in' | 'out', Array<{ x: number; series: string; value: number }>> = { in: [], out: [] };
  const notes: string[] = [];
  try {
    // Warm-up, the same for both pools: on a small machine a pool reaches its steady speed only after a few
    // thousand calls, which the first (smallest) size would otherwise pay.
    const warmX = shared(Float64Array, 512).fill(1.5);
    const warmLocal = new Float64Array(512).fill(1.5);
    for (let i = 0; i < (tiny ? 2 : 1_500); i++) {
      await bridge.call('bench.first', { x: warmX });
      await bridge.call('bench.produce', { length: 512 });
      await piscina.run({ dir: 'in', codec: 'clone', payload: warmLocal });
      await piscina.run({ dir: 'out', codec: 'clone', length: 512 });
    }
    for (const bytes of sizes) {
      const length = bytes / 8;
      const big = bytes >= 64 * MiB;
      const x = shared(Float64Array, length).fill(1.5);
      const local = new Float64Array(length).fill(1.5);
      let bounced = new Float64Array(length).fill(1.5);
      const withJson = bytes <= JSON_MAX;
      const inbound: Contender[] = [
        ...(withJson
          ? [
              {
                name: 'json',
                run: () => piscina.run({ dir: 'in', codec: 'json', payload: JSON.stringify(Array.from(local)) }),
              },
            ]
          : []),
        {
          name: 'msgpack',
          run: () => {
            const payload = encode(local);
            return piscina.run(
              { dir: 'in', codec: 'msgpack', payload },
              { transferList: [payload.buffer as ArrayBuffer] },
            );
          },
        },
        {
          name: 'msgpackr',
          run: () => {
            const payload = new Uint8Array(packr.pack(local));
            return piscina.run({ dir: 'in', codec: 'msgpackr', payload }, { transferList: [payload.buffer] });
          },
        },
        { name: 'clone', run: () => piscina.run({ dir: 'in', codec: 'clone', payload: local }) },
        {
          name: 'transfer',
          run: async () => {
            const payload = bounced;
            bounced = (await piscina.run(
              { dir: 'in', codec: 'transfer', payload },
              { transferList: [payload.buffer] },
            )) as Float64Array<ArrayBuffer>;
            return bounced[0];
          },
        },
        { name: 'shared', run: () => bridge.call('bench.first', { x }) },
      ];
      const outbound: Contender[] = [
        ...(withJson
          ? [
              {
                name: 'json',
                run: async () =>
                  (JSON.parse((await piscina.run({ dir: 'out', codec: 'json', length })) as string) as number[])[0],
              },
            ]
          : []),
        {
          name: 'msgpack',
          run: async () => {
            const bytes = (await piscina.run({ dir: 'out', codec: 'msgpack', length })) as Uint8Array;
            return float64Of(decode(bytes) as Uint8Array)[0];
          },
        },
        {
          name: 'msgpackr',
          run: async () =>
            (
              packr.unpack((await piscina.run({ dir: 'out', codec: 'msgpackr', length })) as Uint8Array) as Float64Array
            )[0],
        },
        {
          name: 'clone',
          run: async () => ((await piscina.run({ dir: 'out', codec: 'clone', length })) as Float64Array)[0],
        },
        {
          name: 'transfer',
          run: async () => ((await piscina.run({ dir: 'out', codec: 'transfer', length })) as Float64Array)[0],
        },
        { name: 'shared', run: async () => (await bridge.call<Float64Array>('bench.produce', { length }))[0] },
      ];
      const options = tiny
        ? { rounds: 1, perRound: 3, warmup: 1 }
        : {
            rounds: big ? 3 : full ? 7 : 2,
            perRound: big ? 2 : bytes >= 16 * MiB ? (full ? 4 : 3) : full ? 30 : 10,
            warmup: big ? 1 : 2,
          };
      const results = { in: await rounds(inbound, options), out: await rounds(outbound, options) };
      for (const dir of ['in', 'out'] as const) {
        const all = results[dir].all;
        const row: Record<string, string | number> = {
          direction: dir === 'in' ? 'argument' : 'result',
          size: sizeLabel(bytes),
        };
        for (const codec of Object.keys(LABELS) as Array<keyof typeof LABELS>) {
          const s = all[codec];
          row[LABELS[codec]] = s ? fmt(s.p50) : 'n/a';
          if (s) points[dir].push({ x: bytes / KiB, series: LABELS[codec], value: s.p50 });
        }
        rows.push(row);
        // Where a peer beats toolbridge at this size, say so.
        const fastest = Object.entries(all).sort((a, b) => a[1].p50 - b[1].p50)[0]!;
        if (fastest[0] !== 'shared') {
          notes.push(
            `${sizeLabel(bytes)} ${dir === 'in' ? 'argument' : 'result'}: ${LABELS[fastest[0] as Codec]} is fastest (${fmt(fastest[1].p50)} against toolbridge's ${fmt(all.shared!.p50)}).`,
          );
        }
      }
    }
  } finally {
    await bridge.close();
    await piscina.destroy();
  }
  notes.push(
    `JSON stops at ${JSON_MAX / MiB} MiB: the text of more doubles nears V8's string limit. Transfer moves the buffer (the sender loses it; here the worker hands it back); results by transfer are made fresh each call, as a tool's result would be.`,
  );
  return {
    name: 'sweep',
    title: 'A Float64Array into a tool and back as a result, by every codec (p50)',
    rows,
    checks: [],
    notes,
    charts: [
      {
        file: 'sweep-in',
        title: 'Arguments by codec',
        spec: lines(
          'A Float64Array argument into a tool that reads one element: p50 (ms)',
          points.in,
          'KiB',
          'p50 (ms)',
        ),
      },
      {
        file: 'sweep-out',
        title: 'Results by codec',
        spec: lines('A Float64Array result the tool made: p50 (ms)', points.out, 'KiB', 'p50 (ms)'),
      },
    ],
  };
};

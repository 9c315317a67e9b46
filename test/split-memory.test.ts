import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createBridge, shared, type Bridge } from 'toolbridge';
import { allReady } from './helpers.js';

// The garbage collector, to see shared memory released when its last handle is collected.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

// A split matrix.multiply packs b once for all its parts, in a workspace of shared memory (b packed, 8 MiB
// here, and each part's staging): the ledger counts it, and the ceiling bounds it.
const [m, k, n] = [200, 1024, 1024];
let a: Float64Array;
let b: Float64Array;
let expected: Float64Array;
/** Reads the process's shared memory in use; one bridge without a ceiling, open throughout. */
let meter: Bridge;
const sharedMb = () => meter.stats().memory.sharedMb;

beforeAll(async () => {
  meter = await createBridge({ maxThreads: 1 });
  a = shared(Float64Array, m * k);
  b = shared(Float64Array, k * n);
  for (let i = 0; i < a.length; i++) a[i] = ((i * 37) % 17) - 8;
  for (let i = 0; i < b.length; i++) b[i] = ((i * 11) % 13) - 6;
  // Small integers: every sum is exact, so a split product has the same bits as one worker's.
  expected = await meter.call<Float64Array>('matrix.multiply', { a, b, m, k, n });
});
afterAll(() => meter.close());

/** Collects garbage until shared memory in use stays put for a few rounds; returns it. */
async function settled(): Promise<number> {
  let last = -1;
  let same = 0;
  for (let round = 0; round < 400 && same < 5; round++) {
    gc();
    await sleep(10);
    const now = sharedMb();
    same = Math.abs(now - last) < 0.01 ? same + 1 : 0;
    last = now;
  }
  return last;
}

async function splitProduct(bridge: Bridge): Promise<void> {
  const before = bridge.stats().tools['matrix.multiply']?.splits ?? 0;
  const c = await bridge.call<Float64Array>('matrix.multiply', { a, b, m, k, n }, { cache: false });
  expect(bridge.stats().tools['matrix.multiply']!.splits).toBe(before + 1);
  expect(c.findIndex((v, j) => v !== expected[j])).toBe(-1);
}

test("a split product's workspace is counted while its worker keeps it, reused, and released when the worker exits", async () => {
  const base = await settled();
  const bridge = await createBridge({ maxThreads: 2 }).then(allReady);
  try {
    await splitProduct(bridge);
    const kept = (await settled()) - base;
    // b packed (8 MiB) and two parts' staging, kept by the worker that planned the split.
    expect(kept).toBeGreaterThan(8);
    expect(kept).toBeLessThan(20);
    // The next split product of the same shape runs in it (or in the other worker's, if that one plans it).
    await splitProduct(bridge);
    await splitProduct(bridge);
    const after = (await settled()) - base;
    expect([kept, 2 * kept].some((mb) => Math.abs(after - mb) < 0.5)).toBe(true);
  } finally {
    await bridge.close();
  }
  expect(await settled()).toBeCloseTo(base, 1);
});

test.each([
  // a, b and c take 11.2 MiB: the workspace would pass the ceiling, so each part packs b itself.
  ['refuses it', 20],
  // It fits, but would leave shared memory in use past half the ceiling: used for the call, not kept.
  ['leaves no room to keep it', 40],
])('under a ceiling that %s, the product is right and nothing stays counted', async (_, maxSharedMb) => {
  const base = await settled();
  const bridge = await createBridge({ maxThreads: 2, memory: { maxSharedMb } }).then(allReady);
  try {
    await splitProduct(bridge);
    expect(await settled()).toBeCloseTo(base, 1);
    await splitProduct(bridge);
    expect(await settled()).toBeCloseTo(base, 1);
  } finally {
    await bridge.close();
  }
});

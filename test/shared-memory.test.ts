import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { QuotaExceededError, createBridge, shared, toShared, type Bridge } from 'toolbridge';
import { fixture, rejection } from './helpers.js';

// The garbage collector, to see shared memory released when its last handle is collected.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const QUOTA_MB = 96;
let bridge: Bridge;
beforeAll(async () => {
  bridge = await createBridge({
    maxThreads: 1,
    tools: [fixture('memory-tools.js')],
    memory: { maxSharedMb: QUOTA_MB },
  });
});
afterAll(() => bridge.close());

const sharedMb = () => bridge.stats().memory.sharedMb;

/** Collects garbage until shared memory in use is back to `mb` (within 1 MiB), or fails after 20 s. */
async function collectedTo(mb: number): Promise<void> {
  const until = performance.now() + 20_000;
  while (Math.abs(sharedMb() - mb) > 1) {
    if (performance.now() > until) throw new Error(`sharedMb stays at ${sharedMb()}, expected ${mb}`);
    gc();
    await sleep(10);
  }
}

describe('stats().memory.sharedMb', () => {
  test('counts shared() and toShared() in the caller until their memory is collected', async () => {
    await collectedTo(0);
    let x: Float64Array | undefined = shared(Float64Array, 2 * 131_072);
    let y: Float64Array | undefined = toShared(new Float64Array(131_072));
    expect(sharedMb()).toBeCloseTo(3, 0);
    expect(x.length + y.length).toBe(3 * 131_072);
    x = y = undefined;
    await collectedTo(0);
  });

  test("a worker's result is the caller's to hold: counted once, released when the caller drops it", async () => {
    await collectedTo(0);
    let y: Float64Array | undefined = await bridge.call<Float64Array>('mem.alloc', { mb: 16, fill: 2 });
    expect(y[0]).toBe(2);
    expect(sharedMb()).toBeCloseTo(16, 0);
    // A copy made by the codec for a non-shared result is counted the same way.
    let z: Float64Array | undefined = await bridge.call<Float64Array>('mem.local', { mb: 8 });
    expect(z.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(sharedMb()).toBeCloseTo(24, 0);
    y = z = undefined;
    await collectedTo(0);
  });

  test('an argument stays the caller’s: passing it to a tool counts nothing more', async () => {
    await collectedTo(0);
    const x = shared(Float64Array, 8 * 131_072).fill(1);
    expect(await bridge.call('mem.sum', { x })).toBe(8 * 131_072);
    expect(sharedMb()).toBeCloseTo(8, 0);
  });

  test("the codec's copies of non-shared arguments are let go as soon as their call is over", async () => {
    await collectedTo(0);
    const x = new Float64Array(16 * 131_072).fill(1);
    const copied = bridge.stats().bytes.copied;
    expect(await bridge.call('mem.sum', { x })).toBe(16 * 131_072);
    const entries = await bridge.batch([1, 2, 3].map(() => ({ tool: 'mem.sum', args: { x } })));
    expect(entries.every((entry) => entry.ok)).toBe(true);
    // One copy for the call, one for the batch's chunk (the same array three times is copied once).
    expect(bridge.stats().bytes.copied - copied).toBe(2 * 16 * 2 ** 20);
    // No garbage collection needed: the copies were the codec's own.
    expect(sharedMb()).toBeLessThan(1);
  });

  test('memory a worker keeps is counted, and released when the worker exits', async () => {
    await collectedTo(0);
    await bridge.call('mem.keep', { mb: 32 });
    expect(sharedMb()).toBeCloseTo(32, 0);
    expect((await rejection(bridge.call('mem.exit'))).code).toBe('WORKER_CRASHED');
    await collectedTo(0);
  });
});

describe('memory.maxSharedMb', () => {
  test('shared() past the ceiling throws QUOTA_EXCEEDED; within it, allocations go on', async () => {
    await collectedTo(0);
    const held = shared(Float64Array, 64 * 131_072);
    let error: unknown;
    try {
      shared(Float64Array, 64 * 131_072);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(QuotaExceededError);
    const quota = error as QuotaExceededError;
    expect(quota.code).toBe('QUOTA_EXCEEDED');
    expect(quota.detail).toMatchObject({ requestedBytes: 64 * 2 ** 20, limitMb: QUOTA_MB });
    expect(quota.detail!.inUseMb).toBeCloseTo(64, 0);
    expect(quota.message).toContain('memory.maxSharedMb');
    // The refused allocation is not counted; a smaller one fits.
    expect(sharedMb()).toBeCloseTo(64, 0);
    expect(shared(Float64Array, 16 * 131_072).length).toBe(16 * 131_072);
    expect(held.length).toBe(64 * 131_072);
  });

  test('a tool allocating past it rejects with QUOTA_EXCEEDED, and the pool keeps serving', async () => {
    await collectedTo(0);
    const held = shared(Float64Array, 80 * 131_072);
    const error = await rejection(bridge.call('mem.alloc', { mb: 32 }));
    expect(error).toBeInstanceOf(QuotaExceededError);
    expect(error.code).toBe('QUOTA_EXCEEDED');
    expect(error.message).toContain('mem.alloc');
    // A result the codec would copy into shared memory past the ceiling is refused the same way.
    expect((await rejection(bridge.call('mem.local', { mb: 32 }))).code).toBe('QUOTA_EXCEEDED');
    // Arguments copied into shared memory on the way in: the call is refused before it is sent.
    expect((await rejection(bridge.call('mem.sum', { x: new Float64Array(32 * 131_072) }))).code).toBe(
      'QUOTA_EXCEEDED',
    );
    expect(await bridge.call('mem.sum', { x: new Float64Array([1, 2, 3]) })).toBe(6);
    expect(held.length).toBe(80 * 131_072);
  });

  test('the ceiling holds with more than 65,536 buffers alive: every one is counted', async () => {
    await collectedTo(0);
    // 1 KiB buffers, kept alive: the 96 MiB ceiling is reached after about 98,000 of them.
    const held: Uint8Array[] = [];
    let error: unknown;
    try {
      for (let i = 0; i < 150_000; i++) held.push(shared(Uint8Array, 1024));
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(QuotaExceededError);
    expect(held.length).toBeGreaterThan(65_536);
    expect(held.length).toBeLessThanOrEqual(QUOTA_MB * 1024);
    expect(sharedMb()).toBeGreaterThan(QUOTA_MB - 1);
    // A worker still reads the newest of them through the grown ledger.
    const last = held.at(-1)!.fill(3);
    expect(await bridge.call('mem.sum', { x: last })).toBe(3 * 1024);
    held.length = 0;
    await collectedTo(0);
  });

  test('closing the bridge lifts its ceiling', async () => {
    const other = await createBridge({ maxThreads: 1, memory: { maxSharedMb: 1 } });
    expect(() => shared(Float64Array, 2 * 131_072)).toThrow(QuotaExceededError);
    await other.close();
    // The first bridge's ceiling (96 MiB) applies again.
    expect(shared(Float64Array, 2 * 131_072).length).toBe(2 * 131_072);
  });
});

import { tableFromArrays } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createBridge, shared, type Bridge, type BridgeOptions } from 'toolbridge';
import { fixture, rejection } from './helpers.js';

const cacheBridge = (options: BridgeOptions = {}) =>
  createBridge({ maxThreads: 2, tools: [fixture('cache-tools.js')], ...options });

type Tokened = { token: number };

let bridge: Bridge;
beforeAll(async () => {
  bridge = await cacheBridge();
});
afterAll(() => bridge.close());

const token = async (args: unknown, options?: { cache?: boolean }) =>
  (await bridge.call<Tokened>('cache.token', args, options)).token;

describe('result cache of idempotent tools', () => {
  test('a repeated call is answered from the cache; other args miss', async () => {
    const before = bridge.stats().cache;
    const first = await token({ q: 'alpha', k: 3 });
    expect(await token({ q: 'alpha', k: 3 })).toBe(first);
    expect(await token({ q: 'alpha', k: 4 })).not.toBe(first);
    const after = bridge.stats().cache;
    expect(after.hits - before.hits).toBe(1);
    expect(after.misses - before.misses).toBe(2);
    expect(after.hitRate).toBeGreaterThan(0);
  });

  test('Error arguments with other messages are other keys (each gets the result computed for it)', async () => {
    const first = await bridge.call<{ token: number; args: { error: Error } }>('cache.token', {
      error: new RangeError('first'),
    });
    const second = await bridge.call<{ token: number; args: { error: Error } }>('cache.token', {
      error: new RangeError('second'),
    });
    expect(second.token).not.toBe(first.token);
    expect(second.args.error.message).toBe('second');
    expect(await token({ error: new RangeError('first') })).toBe(first.token);
  });

  test('keys follow content, not identity: typed arrays and tables by their bytes, objects by sorted keys', async () => {
    const a = shared(Float64Array, 1000).fill(1.5);
    const b = shared(Float64Array, 1000).fill(1.5);
    const viaA = await token({ x: a });
    expect(await token({ x: b })).toBe(viaA); // another array with the same bytes
    b[999] = 2;
    expect(await token({ x: b })).not.toBe(viaA); // the same array with other bytes

    const t1 = tableFromArrays({ v: Float64Array.from([1, 2, 3]), s: ['a', 'b', 'c'] });
    const t2 = tableFromArrays({ v: Float64Array.from([1, 2, 3]), s: ['a', 'b', 'c'] });
    expect(await token({ t: t2 })).toBe(await token({ t: t1 }));

    expect(await token({ p: 1, q: 2 })).toBe(await token({ q: 2, p: 1 }));
    expect(await token([1, 2])).not.toBe(await token([2, 1]));
    expect(await token(new Float32Array([1]))).not.toBe(await token(new Int32Array([1065353216]))); // same bytes, other type
  });

  test('cache: false skips the cache both ways', async () => {
    const cached = await token('bypass');
    const before = bridge.stats().cache;
    expect(await token('bypass', { cache: false })).not.toBe(cached);
    expect(bridge.stats().cache.hits).toBe(before.hits);
    expect(bridge.stats().cache.misses).toBe(before.misses);
  });

  test('tools that are not idempotent are never cached', async () => {
    expect(await bridge.call('cache.plain', 1)).not.toBe(await bridge.call('cache.plain', 1));
  });

  test('concurrent identical calls share one execution', async () => {
    const before = bridge.stats().cache;
    const results = await Promise.all(Array.from({ length: 5 }, () => bridge.call('cache.slowToken', { ms: 50 })));
    expect(new Set(results).size).toBe(1);
    const after = bridge.stats().cache;
    expect(after.misses - before.misses).toBe(1);
    expect(after.hits - before.hits).toBe(4);
    expect(after.timeSavedMs).toBeGreaterThan(before.timeSavedMs);
  });

  test('errors are never cached', async () => {
    const first = await rejection(bridge.call('cache.fails'));
    const second = await rejection(bridge.call('cache.fails'));
    expect(first.code).toBe('TOOL_FAILED');
    expect(second.message).not.toBe(first.message); // it ran again
  });

  test("cached shared-memory results are copies: one caller's writes reach no other", async () => {
    const original = await bridge.call<Float64Array>('cache.filled', { n: 100, value: 7 });
    const hit1 = await bridge.call<Float64Array>('cache.filled', { n: 100, value: 7 });
    hit1[0] = -1;
    original[1] = -2;
    const hit2 = await bridge.call<Float64Array>('cache.filled', { n: 100, value: 7 });
    expect(hit2[0]).toBe(7);
    expect(hit2[1]).toBe(7);
    expect(hit1.buffer).not.toBe(hit2.buffer);
    expect(hit2.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  test('bridge.cache.clear() empties it', async () => {
    const before = await token('to be cleared');
    bridge.cache.clear();
    expect(bridge.stats().cache.entries).toBe(0);
    expect(bridge.stats().cache.bytes).toBe(0);
    expect(await token('to be cleared')).not.toBe(before);
  });
});

describe('cache bounds', () => {
  test('entries expire after ttlMs', async () => {
    const own = await cacheBridge({ maxThreads: 1, cache: { ttlMs: 60 } });
    try {
      const first = (await own.call<Tokened>('cache.token', 'ttl')).token;
      expect((await own.call<Tokened>('cache.token', 'ttl')).token).toBe(first);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect((await own.call<Tokened>('cache.token', 'ttl')).token).not.toBe(first);
    } finally {
      await own.close();
    }
  });

  test('least recently used entries go first past maxEntries', async () => {
    const own = await cacheBridge({ maxThreads: 1, cache: { maxEntries: 2 } });
    try {
      const call = async (k: string) => (await own.call<Tokened>('cache.token', k)).token;
      const a = await call('a');
      const b = await call('b');
      expect(await call('a')).toBe(a); // a is now the most recent
      await call('c'); // evicts b
      expect(own.stats().cache).toMatchObject({ entries: 2, evictions: 1 });
      expect(await call('a')).toBe(a);
      expect(await call('b')).not.toBe(b);
    } finally {
      await own.close();
    }
  });

  test('results are evicted to stay within maxBytes', async () => {
    const own = await cacheBridge({ maxThreads: 1, cache: { maxBytes: 100_000 } });
    try {
      for (let value = 0; value < 4; value++) await own.call('cache.filled', { n: 5_000, value }); // 40 kB each
      const stats = own.stats().cache;
      expect(stats.bytes).toBeLessThanOrEqual(100_000);
      expect(stats.entries).toBe(2);
      expect(stats.evictions).toBe(2);
    } finally {
      await own.close();
    }
  });

  test('cache: false turns it off', async () => {
    const own = await cacheBridge({ maxThreads: 1, cache: false });
    try {
      const first = (await own.call<Tokened>('cache.token', 'x')).token;
      expect((await own.call<Tokened>('cache.token', 'x')).token).not.toBe(first);
      expect(own.stats().cache).toEqual({
        hits: 0,
        misses: 0,
        hitRate: 0,
        entries: 0,
        bytes: 0,
        evictions: 0,
        timeSavedMs: 0,
        skipped: 0,
      });
    } finally {
      await own.close();
    }
  });

  test('args with more than maxArgBytes of data skip the cache, without being hashed', async () => {
    const own = await cacheBridge({ maxThreads: 1, cache: { maxArgBytes: 4096 } });
    try {
      const small = shared(Float64Array, 100).fill(1); // 800 bytes
      const large = shared(Float64Array, 1000).fill(1); // 8000 bytes
      const first = (await own.call<Tokened>('cache.token', { x: small })).token;
      expect((await own.call<Tokened>('cache.token', { x: small })).token).toBe(first);
      const big1 = (await own.call<Tokened>('cache.token', { x: large })).token;
      expect((await own.call<Tokened>('cache.token', { x: large })).token).not.toBe(big1);
      expect(own.stats().cache).toMatchObject({ hits: 1, misses: 1, skipped: 2 });
    } finally {
      await own.close();
    }
  });

  test('cache options are checked', async () => {
    expect((await rejection(cacheBridge({ cache: { maxEntries: 0 } }))).message).toBe(
      'options.cache.maxEntries must be a positive integer, got 0 (number)',
    );
    expect((await rejection(cacheBridge({ cache: 'big' as never }))).code).toBe('INVALID_OPTIONS');
  });
});

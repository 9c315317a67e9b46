import { describe, expect, test } from 'vitest';
import { ResultCache } from '../../src/cache/result-cache.js';
import { resolveOptions } from '../../src/options.js';
import { Distribution } from '../../src/telemetry/distribution.js';
import { judgeHealth, type HealthInputs } from '../../src/telemetry/health.js';
import { StatsRecorder, type BridgeStats } from '../../src/telemetry/stats.js';

const NO_POOLS = {
  recycles: [],
  workers: [],
  pools: {},
  codecs: { shared: 0, arrow: 0, clone: 0, msgpack: 0, copied: 0 },
};
const cacheOptions = () => resolveOptions().cache!;

describe('options', () => {
  test('defaults, and every pool resolved', () => {
    const options = resolveOptions({ maxThreads: 3, pools: { heavy: { maxThreads: 1, minThreads: 0 } } });
    expect(options.pools.get('default')).toMatchObject({ maxThreads: 3, minThreads: 3 });
    expect(options.pools.get('heavy')).toMatchObject({ maxThreads: 1, minThreads: 0 });
    expect(options.timeoutMs).toBe(Infinity);
  });

  test.each([
    [{ maxThread: 2 }, 'did you mean maxThreads?'],
    [{ timeout: 5 }, 'did you mean timeoutMs?'],
    [{ memory: { maxHeapMB: 5 } }, 'did you mean maxHeapMb?'],
    [{ minThreads: 4, maxThreads: 2 }, 'must not exceed'],
    [{ timeoutMs: -1 }, 'options.timeoutMs'],
  ])('%j is INVALID_OPTIONS: %s', (options, message) => {
    expect(() => resolveOptions(options as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
    expect(() => resolveOptions(options as never)).toThrow(message);
  });
});

describe('stats', () => {
  test('counts calls, errors and bytes per tool, and summarises latency', () => {
    const stats = new StatsRecorder(true);
    for (let i = 1; i <= 100; i++) stats.call('t', i, i % 10 === 0);
    stats.bytes('t', 800, 16);
    const snapshot = stats.snapshot(new ResultCache(cacheOptions()).stats(), NO_POOLS);
    const t = snapshot.tools.t!;
    expect(t).toMatchObject({ calls: 100, errors: 10, errorRate: 0.1 });
    expect(t.latency.p50).toBeGreaterThanOrEqual(49);
    expect(t.latency.p50).toBeLessThanOrEqual(52);
    expect(t.latency.max).toBeGreaterThanOrEqual(99);
    expect(snapshot.bytes).toEqual({ shared: 800, copied: 16 });
  });

  test('disabled telemetry still counts calls but records no distributions', () => {
    const stats = new StatsRecorder(false);
    stats.call('t', 5, false);
    const t = stats.snapshot(new ResultCache(cacheOptions()).stats(), NO_POOLS).tools.t!;
    expect(t.calls).toBe(1);
    expect(t.latency).toMatchObject({ p50: 0, max: 0 });
  });
});

describe('distribution', () => {
  test('the recent window rotates out into the total, which the summary keeps', () => {
    const d = new Distribution();
    const t0 = performance.now();
    expect(d.summary()).toMatchObject({ p50: 0, max: 0 });
    expect(d.recentPercentile(50, t0)).toBeUndefined();
    d.record(10, t0);
    d.record(10, t0 + 1);
    // A minute on: the first window becomes the older one, still recent.
    d.record(100, t0 + 61_000);
    expect(d.recentPercentile(100, t0 + 61_000)).toBeCloseTo(100, 0);
    expect(d.recentPercentile(1, t0 + 61_000)).toBeCloseTo(10, 0);
    // Two more minutes of silence: nothing is recent, everything is in the total.
    expect(d.recentPercentile(50, t0 + 200_000)).toBeUndefined();
    const all = d.summary();
    expect(all.max).toBeCloseTo(100, 0);
    expect(all.p50).toBeCloseTo(10, 0);
    expect(all.mean).toBeCloseTo(40, 6);
    expect(d.count).toBe(3);
  });
});

describe('health', () => {
  const budgets = { p99Ms: 100, errorRate: 0.05, queueDepth: undefined, heapRatio: 0.9 };
  const inputs = (overrides: Partial<HealthInputs> = {}): HealthInputs => ({
    stats: { pools: {}, memory: { workers: [] } } as unknown as BridgeStats,
    recent: [],
    failing: [],
    closed: false,
    ...overrides,
  });

  test('healthy with nothing over budget', () => {
    expect(judgeHealth(inputs({ recent: [{ tool: 't', calls: 50, errors: 1, p99: 40 }] }), budgets)).toEqual({
      status: 'healthy',
      reasons: [],
    });
  });

  test('over budget is degraded, over twice the budget unhealthy; too few calls are not judged', () => {
    const slow = judgeHealth(inputs({ recent: [{ tool: 't', calls: 50, errors: 0, p99: 150 }] }), budgets);
    expect(slow.status).toBe('degraded');
    expect(slow.reasons[0]).toMatchObject({ check: 'latency', subject: 't', value: 150, budget: 100 });
    const failing = judgeHealth(inputs({ recent: [{ tool: 't', calls: 50, errors: 10, p99: 1 }] }), budgets);
    expect(failing.status).toBe('unhealthy');
    const few = judgeHealth(inputs({ recent: [{ tool: 't', calls: 5, errors: 5, p99: 1 }] }), budgets);
    expect(few.status).toBe('healthy');
  });

  test('a closed bridge and a pool that cannot serve are unhealthy', () => {
    expect(judgeHealth(inputs({ closed: true }), budgets).status).toBe('unhealthy');
    const report = judgeHealth(inputs({ failing: ['default'] }), budgets);
    expect(report.status).toBe('unhealthy');
    expect(report.reasons[0]).toMatchObject({ check: 'workers', subject: 'default' });
  });
});

describe('result cache', () => {
  test('a hit returns a copy; concurrent identical calls run once; LRU eviction by entries', async () => {
    const cache = new ResultCache({ ...cacheOptions(), maxEntries: 2 });
    let runs = 0;
    const compute = (value: number[]) => async () => (runs++, value);
    const first = (await cache.get('a', compute([1]))) as number[];
    first.push(99); // the caller's copy: the cache's own is untouched
    expect(await cache.get('a', compute([0]))).toEqual([1]);
    const [x, y] = await Promise.all([cache.get('b', compute([2])), cache.get('b', compute([3]))]);
    expect([x, y]).toEqual([[2], [2]]);
    expect(runs).toBe(2);
    await cache.get('c', compute([4])); // evicts the least recently used: 'a'
    expect(await cache.get('a', compute([5]))).toEqual([5]);
    expect(cache.stats()).toMatchObject({ hits: 2, misses: 4, entries: 2, evictions: 2 });
  });

  test('a failed computation is not stored', async () => {
    const cache = new ResultCache(cacheOptions());
    await expect(cache.get('k', () => Promise.reject(new Error('no')))).rejects.toThrow('no');
    expect(await cache.get('k', async () => 1)).toBe(1);
    expect(cache.stats().entries).toBe(1);
  });
});

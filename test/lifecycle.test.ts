import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { createBridge, type Bridge, type BridgeOptions, type RecycleEvent, type WorkerExitEvent } from 'toolbridge';
import { allReady, fixture, rejection } from './helpers.js';

interface Who {
  threadId: number;
  value?: unknown;
}

const open: Bridge[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((bridge) => bridge.close()));
});

/** A bridge with the lifecycle tools (and their `heavy` pool), recording its recycle and exit events. */
async function lifeBridge(options: BridgeOptions = {}) {
  const bridge = await createBridge({
    maxThreads: 1,
    tools: [fixture('lifecycle-tools.js')],
    pools: { heavy: { maxThreads: 1, minThreads: 0 } },
    ...options,
  });
  open.push(bridge);
  await allReady(bridge);
  const recycles: RecycleEvent[] = [];
  const exits: WorkerExitEvent[] = [];
  bridge.on('recycle', (event) => recycles.push(event));
  bridge.on('workerExit', (event) => exits.push(event));
  return { bridge, recycles, exits };
}

const who = (bridge: Bridge, args: { ms?: number; value?: unknown } = {}) => bridge.call<Who>('life.whoami', args);

/** Waits until `check` passes, polling; fails after `ms`. */
async function eventually(check: () => boolean, ms = 20_000): Promise<void> {
  const until = performance.now() + ms;
  while (!check()) {
    if (performance.now() > until) throw new Error('condition not met in time');
    await sleep(20);
  }
}

describe('recycling past a threshold', () => {
  test('maxTasksPerWorker: a worker serves that many calls, then a fresh one takes over', async () => {
    const { bridge, recycles, exits } = await lifeBridge({ memory: { maxTasksPerWorker: 3 } });
    const ids: number[] = [];
    for (let i = 0; i < 7; i++) ids.push((await who(bridge)).threadId);
    expect(ids[0]).toBe(ids[2]);
    expect(ids[3]).not.toBe(ids[2]);
    expect(ids[3]).toBe(ids[5]);
    expect(ids[6]).not.toBe(ids[5]);
    expect(recycles.map((event) => event.reason)).toEqual(['tasks', 'tasks']);
    expect(recycles[0]).toMatchObject({ pool: 'default', workerId: ids[0] });
    await eventually(() => exits.length >= 2);
    expect(exits.slice(0, 2).map((event) => [event.workerId, event.reason])).toEqual([
      [ids[0], 'tasks'],
      [ids[3], 'tasks'],
    ]);
    const { recycles: counted } = bridge.stats();
    expect(counted.total).toBe(2);
    expect(counted.byReason).toEqual({
      heap: 0,
      external: 0,
      tasks: 2,
      age: 0,
      rss: 0,
      manual: 0,
      crash: 0,
      timeout: 0,
    });
  });

  test('maxHeapMb: a worker whose heap passes it is recycled, reporting its heap; every call succeeds', async () => {
    const { bridge, recycles } = await lifeBridge({ memory: { maxHeapMb: 40 } });
    const baseline = bridge.stats().memory.workers[0]!.heapMb;
    expect(baseline).toBeGreaterThan(0);
    expect(baseline).toBeLessThan(40);
    const values: unknown[] = [];
    for (let i = 0; i < 20; i++) values.push(await bridge.call('life.leak', { mb: 4, value: i }));
    expect(values).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(recycles.length).toBeGreaterThanOrEqual(1);
    for (const event of recycles) {
      expect(event.reason).toBe('heap');
      expect(event.heapMb).toBeGreaterThan(40);
    }
    expect(bridge.stats().recycles.byReason.heap).toBe(recycles.length);
  });

  test('maxExternalMb: a typed-array leak, which maxHeapMb cannot see, recycles its worker', async () => {
    const { bridge, recycles } = await lifeBridge({ memory: { maxHeapMb: 200, maxExternalMb: 40 } });
    const values: unknown[] = [];
    for (let i = 0; i < 20; i++) values.push(await bridge.call('life.leakTyped', { mb: 8, value: i }));
    expect(values).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(recycles.length).toBeGreaterThanOrEqual(1);
    expect(recycles.every((event) => event.reason === 'external')).toBe(true);
    const { byReason } = bridge.stats().recycles;
    expect(byReason).toMatchObject({ external: recycles.length, heap: 0 });
    for (const worker of bridge.stats().memory.workers) expect(worker.externalMb).toBeLessThan(100);
  });

  test('maxWorkerAgeMs: a worker older than that is recycled by the periodic check', async () => {
    const { bridge, recycles } = await lifeBridge({ memory: { maxWorkerAgeMs: 300, checkIntervalMs: 50 } });
    const first = (await who(bridge)).threadId;
    await eventually(() => recycles.some((event) => event.reason === 'age'));
    expect(recycles[0]!.workerId).toBe(first);
    await eventually(() => bridge.stats().memory.workers.some((worker) => worker.state === 'ready'));
    const next = await who(bridge);
    expect(next.threadId).not.toBe(first);
    expect(bridge.stats().memory.workers.every((worker) => worker.ageMs < 5_000)).toBe(true);
  });

  test('maxRssMb: past the ceiling the worker with the largest heap goes first, one at a time', async () => {
    // A ceiling 250 MiB above the RSS now: the workers start well below it, one worker's leak passes it.
    const ceiling = Math.ceil(process.memoryUsage.rss() / 2 ** 20) + 250;
    const { bridge, recycles } = await lifeBridge({
      maxThreads: 2,
      memory: { maxRssMb: ceiling, checkIntervalMs: 50 },
    });
    const draining: number[] = [];
    bridge.on('recycle', () =>
      draining.push(bridge.stats().memory.workers.filter((w) => w.state === 'draining').length),
    );
    expect(recycles).toEqual([]);
    // Sequential calls go to the first idle worker: one worker grows to ~300 MiB of heap.
    for (let i = 0; i < 10 && recycles.length === 0; i++) await bridge.call('life.leak', { mb: 32, value: i });
    await eventually(() => recycles.length > 0);
    const [first] = recycles;
    expect(first!.reason).toBe('rss');
    const heaps = bridge.stats().memory.workers.filter((w) => w.id !== first!.workerId);
    for (const other of heaps) expect(other.heapMb).toBeLessThan(first!.heapMb);
    expect(first!.heapMb).toBeGreaterThan(100);
    expect(Math.max(...draining)).toBeLessThanOrEqual(1);
    expect((await who(bridge, { value: 'serving' })).value).toBe('serving');
  });
});

describe('graceful recycling', () => {
  test('recycle() replaces every worker; calls in flight complete', async () => {
    const { bridge, recycles, exits } = await lifeBridge({ maxThreads: 2 });
    const before = new Set(bridge.stats().memory.workers.map((worker) => worker.id));
    const inFlight = Array.from({ length: 6 }, (_, i) => who(bridge, { ms: 40, value: i }));
    await bridge.recycle();
    const results = await Promise.all(inFlight);
    expect(results.map((r) => r.value)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(
      recycles
        .filter((event) => event.reason === 'manual')
        .map((event) => event.workerId)
        .sort(),
    ).toEqual([...before].sort());
    expect(exits.filter((event) => event.reason === 'manual')).toHaveLength(2);
    const after = bridge.stats().memory.workers;
    expect(after).toHaveLength(2);
    for (const worker of after) {
      expect(before.has(worker.id)).toBe(false);
      expect(worker.state).toBe('ready');
    }
  });

  test('under steady load no call is lost while workers recycle every 20 tasks', async () => {
    const { bridge, recycles } = await lifeBridge({ maxThreads: 2, memory: { maxTasksPerWorker: 20 } });
    const callers = Array.from({ length: 8 }, async (_, c) => {
      const values: unknown[] = [];
      for (let i = 0; i < 50; i++) values.push((await who(bridge, { ms: 1, value: c * 1000 + i })).value);
      return values;
    });
    const results = await Promise.all(callers);
    results.forEach((values, c) => expect(values).toEqual(Array.from({ length: 50 }, (_, i) => c * 1000 + i)));
    expect(recycles.length).toBeGreaterThanOrEqual(15);
    expect(recycles.every((event) => event.reason === 'tasks')).toBe(true);
    expect(bridge.stats().tools['life.whoami']).toMatchObject({ calls: 400, errors: 0 });
    await eventually(() => bridge.stats().memory.workers.filter((w) => w.state !== 'draining').length === 2);
  });

  test('close() during a recycle still resolves every call', async () => {
    const { bridge } = await lifeBridge({ maxThreads: 2 });
    const inFlight = Array.from({ length: 10 }, (_, i) => who(bridge, { ms: 30, value: i }));
    const recycled = bridge.recycle();
    await bridge.close();
    expect((await Promise.all(inFlight)).map((r) => r.value)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await recycled;
  });
});

describe('workers that die', () => {
  test('a crash under load fails only its calls, is counted, and an idempotent call is retried', async () => {
    const { bridge, recycles } = await lifeBridge({ maxThreads: 2 });
    const bystanders = Array.from({ length: 20 }, (_, i) => who(bridge, { ms: 5, value: i }));
    const crashes = [1, 2, 3].map(() => rejection(bridge.call('life.exit')));
    for (const error of await Promise.all(crashes)) expect(error.code).toBe('WORKER_CRASHED');
    expect((await Promise.all(bystanders)).map((r) => r.value)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(recycles.filter((event) => event.reason === 'crash')).toHaveLength(3);

    // Idempotent: `life.crashOn` ends the worker it is given, then succeeds on the retry elsewhere.
    const single = await lifeBridge();
    const target = (await who(single.bridge)).threadId;
    const ranOn = await single.bridge.call<number>('life.crashOn', { threadId: target });
    expect(ranOn).not.toBe(target);
    expect(single.bridge.stats().recycles.byReason.crash).toBe(1);
    await eventually(() => bridge.stats().memory.workers.filter((w) => w.state === 'ready').length === 2);
  });

  test('a call stopped at its time limit recycles its worker with reason "timeout"', async () => {
    const { bridge, recycles } = await lifeBridge();
    const error = await rejection(bridge.call('life.spin', { ms: 5_000 }, { timeoutMs: 100 }));
    expect(error.code).toBe('TIMEOUT');
    await eventually(() => recycles.length > 0);
    expect(recycles[0]!.reason).toBe('timeout');
    expect((await who(bridge, { value: 'after' })).value).toBe('after');
    expect(bridge.stats().recycles.byReason.timeout).toBe(1);
  });

  test('a module that crashes workers at start-up: backed off, the calls told which module, then recovery', async () => {
    const marker = join(tmpdir(), `toolbridge-crash-${process.pid}-${Date.now()}`);
    process.env.TOOLBRIDGE_TEST_CRASH_FILE = marker;
    try {
      const bridge = await createBridge({ maxThreads: 1, tools: [fixture('crashes-on-load-when.js')] });
      open.push(bridge);
      const exits: WorkerExitEvent[] = [];
      bridge.on('workerExit', (event) => exits.push(event));
      expect(typeof (await bridge.call('flaky.whoami'))).toBe('number');

      await writeFile(marker, '');
      expect((await rejection(bridge.call('flaky.exit'))).code).toBe('WORKER_CRASHED');
      // Its replacement dies while loading the module; the pool backs off instead of respawning at once.
      await eventually(() => exits.length >= 2);
      const error = await rejection(bridge.call('flaky.whoami'));
      expect(error.code).toBe('TOOL_LOAD_FAILED');
      expect(error.message).toContain('crashes-on-load-when.js');
      await sleep(1_000);
      // 100 ms, 200 ms, 400 ms, 800 ms...: a handful of tries in a second, not a storm.
      expect(exits.length).toBeLessThanOrEqual(7);

      await rm(marker);
      let result: unknown;
      await eventually(() => {
        bridge.call('flaky.whoami').then(
          (value) => (result = value),
          () => undefined,
        );
        return typeof result === 'number';
      }, 15_000);
    } finally {
      delete process.env.TOOLBRIDGE_TEST_CRASH_FILE;
      await rm(marker, { force: true });
    }
  });
});

describe('named pools', () => {
  test('route a tool to its own lazy pool, with its own workers and limits', async () => {
    const { bridge, recycles } = await lifeBridge({
      maxThreads: 2,
      pools: { heavy: { maxThreads: 1, minThreads: 0, memory: { maxTasksPerWorker: 2 } } },
    });
    const pools = () => bridge.stats().memory.workers.map((worker) => worker.pool);
    expect(pools()).toEqual(['default', 'default']);
    expect(bridge.tools().find((tool) => tool.name === 'life.heavy')?.pool).toBe('heavy');
    const defaults = new Set(bridge.stats().memory.workers.map((worker) => worker.id));
    const heavy = await bridge.call<Who>('life.heavy');
    expect(defaults.has(heavy.threadId)).toBe(false);
    expect(pools().sort()).toEqual(['default', 'default', 'heavy']);
    await bridge.call('life.heavy');
    // The heavy pool's own limit recycles its worker; the default pool has no limit and keeps its workers.
    for (let i = 0; i < 6; i++) await who(bridge);
    expect(recycles.map((event) => [event.pool, event.reason])).toEqual([['heavy', 'tasks']]);
    expect(
      new Set(
        bridge
          .stats()
          .memory.workers.filter((w) => w.pool === 'default')
          .map((w) => w.id),
      ),
    ).toEqual(defaults);
  });

  test('a pre-warmed pool starts its workers with createBridge, which resolves once the first is ready', async () => {
    const { bridge } = await lifeBridge({ pools: { heavy: { maxThreads: 2, minThreads: 2 } } });
    const heavy = () => bridge.stats().memory.workers.filter((worker) => worker.pool === 'heavy');
    expect(heavy()).toHaveLength(2);
    expect(heavy().some((worker) => worker.state === 'ready')).toBe(true);
    await vi.waitFor(() => expect(heavy().every((worker) => worker.state === 'ready')).toBe(true), {
      timeout: 20_000,
    });
  });

  test('a tool naming a pool that is not defined rejects createBridge with INVALID_OPTIONS', async () => {
    const error = await rejection(createBridge({ maxThreads: 1, tools: [fixture('lifecycle-tools.js')] }));
    expect(error.code).toBe('INVALID_OPTIONS');
    expect(error.message).toContain('"life.heavy" runs in pool "heavy"');
  });
});

describe('options', () => {
  test.each([
    [{ memory: { maxHeapMb: 0 } }, 'options.memory.maxHeapMb must be a positive number or Infinity, got 0 (number)'],
    [{ memory: { maxTasksPerWorker: -1 } }, 'options.memory.maxTasksPerWorker must be a positive number'],
    [{ memory: { checkIntervalMs: 0 } }, 'options.memory.checkIntervalMs must be a positive integer'],
    [{ pools: { default: {} } }, 'options.pools.default: the default pool takes the top-level options'],
    [{ pools: { 'no good': {} } }, 'is not a pool name'],
    [{ pools: { heavy: { maxThreads: 0 } } }, 'options.pools.heavy.maxThreads must be a positive integer'],
    [{ pools: { heavy: { memory: { maxRssMb: 'big' } } } }, 'options.pools.heavy.memory.maxRssMb must be'],
  ])('%j is INVALID_OPTIONS', async (options, message) => {
    const error = await rejection(createBridge(options as BridgeOptions));
    expect(error.code).toBe('INVALID_OPTIONS');
    expect(error.message).toContain(message);
  });
});

describe('close', () => {
  test('close() right after a call timed out resolves (the stopped task does not hold it)', async () => {
    const bridge = await createBridge({ maxThreads: 1, tools: [fixture('lifecycle-tools.js')], pools: { heavy: {} } });
    const error = await rejection(bridge.call('life.spin', { ms: 60_000 }, { timeoutMs: 50 }));
    expect(error.code).toBe('TIMEOUT');
    // It resolves: a hang would end the test at its time limit.
    await bridge.close();
  });
});

import { spawnSync } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { tableFromArrays } from 'apache-arrow';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterEach, describe, expect, test } from 'vitest';
import {
  createBridge,
  shared,
  type Bridge,
  type BridgeOptions,
  type CallMessage,
  type RecycleEvent,
  type SlowCallEvent,
} from 'toolbridge';
import { allReady, fixture, rejection } from './helpers.js';

const open: Bridge[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((bridge) => bridge.close()));
});

async function telBridge(options: BridgeOptions = {}): Promise<Bridge> {
  const bridge = await createBridge({ maxThreads: 2, tools: [fixture('telemetry-tools.js')], ...options });
  open.push(bridge);
  return allReady(bridge);
}

describe('stats()', () => {
  test('phases of calls with known durations: run holds the time in the tool, latency covers it all', async () => {
    const bridge = await telBridge();
    for (let i = 0; i < 10; i++) await bridge.call('tel.spin', { ms: 20 });
    for (let i = 0; i < 10; i++) await bridge.call('tel.sleep', { ms: 60 });
    const spin = bridge.stats().tools['tel.spin']!;
    // Lower bounds only: a busy machine makes every phase longer, never shorter.
    expect(spin.run.p50).toBeGreaterThanOrEqual(19);
    expect(spin.latency.p50).toBeGreaterThanOrEqual(spin.run.p50);
    expect(spin.latency.mean).toBeGreaterThanOrEqual(spin.run.mean);
    expect(spin.codec.p50).toBeGreaterThan(0);
    expect(spin.wait.p50).toBeGreaterThanOrEqual(0);
    const sleep = bridge.stats().tools['tel.sleep']!;
    expect(sleep.run.p50).toBeGreaterThanOrEqual(59);
    expect(sleep.run.max).toBeGreaterThanOrEqual(sleep.run.p99);
    expect(sleep.latency.p99).toBeGreaterThanOrEqual(sleep.latency.p50);
    expect(sleep.latency.max).toBeGreaterThanOrEqual(sleep.latency.p99);
    expect(sleep.run.p50).toBeGreaterThan(spin.run.p50);
  });

  test('counters after a known mix of calls, errors, cache hits and recycles', async () => {
    const bridge = await telBridge();
    for (let i = 0; i < 5; i++) await bridge.call('tel.echo', i);
    for (let i = 0; i < 3; i++) await rejection(bridge.call('tel.fails'));
    for (let i = 0; i < 3; i++) expect(await bridge.call('tel.square', 7)).toBe(49);
    await bridge.recycle();
    const stats = bridge.stats();
    expect(stats.tools['tel.echo']).toMatchObject({ calls: 5, errors: 0, errorRate: 0 });
    expect(stats.tools['tel.fails']).toMatchObject({ calls: 3, errors: 3, errorRate: 1 });
    expect(stats.tools['tel.square']).toMatchObject({ calls: 3, errors: 0 });
    expect(stats.cache).toMatchObject({ hits: 2, misses: 1 });
    expect(stats.recycles.byReason.manual).toBe(2);
    expect(stats.tools['tel.echo']!.throughput).toBeGreaterThan(0);
    expect(stats.uptimeMs).toBeGreaterThan(0);
    expect(stats.tools['tel.echo']!.throughput).toBeLessThanOrEqual((5 / stats.uptimeMs) * 1000 + 1e-9);
  });

  test('codecs count the values that went by each path, both ways', async () => {
    const bridge = await telBridge();
    const before = bridge.stats().codecs;
    // Args: a shared array, a non-shared one (copied), a table, a plain part (clone). Echoed back: the same.
    const table = tableFromArrays({ a: new Float64Array([1, 2, 3]) });
    await bridge.call('tel.echo', { x: shared(Float64Array, 8), y: new Float64Array(8), table });
    // A plain part above the MessagePack threshold, both ways.
    await bridge.call('tel.echo', { rows: Array.from({ length: 20_000 }, (_, i) => ({ id: i, name: `row ${i}` })) });
    const after = bridge.stats().codecs;
    expect(after.shared - before.shared).toBeGreaterThanOrEqual(2);
    expect(after.copied - before.copied).toBeGreaterThanOrEqual(1);
    expect(after.arrow - before.arrow).toBe(2);
    expect(after.clone - before.clone).toBe(2);
    expect(after.msgpack - before.msgpack).toBe(2);
  });

  test('pools: threads, busy, queued and utilization', async () => {
    const bridge = await telBridge();
    expect(bridge.stats().pools.default).toMatchObject({ threads: 2, busy: 0, queued: 0, maxThreads: 2 });
    const calls = Array.from({ length: 5 }, () => bridge.call('tel.spin', { ms: 80 }));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(bridge.stats().pools.default).toMatchObject({ threads: 2, busy: 2, queued: 3 });
    await Promise.all(calls);
    const pool = bridge.stats().pools.default!;
    expect(pool.busy).toBe(0);
    expect(pool.utilization).toBeGreaterThan(0);
    expect(pool.utilization).toBeLessThanOrEqual(1);
  });

  test('telemetry: { enabled: false } keeps the counters only', async () => {
    const bridge = await telBridge({ telemetry: { enabled: false } });
    const seen: unknown[] = [];
    const listener = (message: unknown) => seen.push(message);
    subscribe('toolbridge:call:end', listener);
    try {
      await bridge.call('tel.echo', { x: shared(Float64Array, 4) });
      await rejection(bridge.call('tel.fails'));
    } finally {
      unsubscribe('toolbridge:call:end', listener);
    }
    const stats = bridge.stats();
    expect(stats.tools['tel.echo']).toMatchObject({ calls: 1, errors: 0, throughput: 0 });
    expect(stats.tools['tel.echo']!.latency.p50).toBe(0);
    expect(stats.tools['tel.fails']).toMatchObject({ calls: 1, errors: 1 });
    expect(stats.codecs).toEqual({ shared: 0, arrow: 0, clone: 0, msgpack: 0, copied: 0 });
    expect(stats.bytes.shared).toBeGreaterThan(0);
    expect(seen).toEqual([]);
  });
});

describe('diagnostics_channel', () => {
  test('call start, end and error, cache hit and miss, and worker recycle, in order, with their payloads', async () => {
    const bridge = await telBridge();
    const events: Array<[string, unknown]> = [];
    const names = ['call:start', 'call:end', 'call:error', 'cache:hit', 'cache:miss', 'worker:recycle'];
    // Copies: the call messages are completed in place between start and end.
    const listeners = names.map((name) => {
      const listener = (message: unknown) => events.push([name, { ...(message as object) }]);
      subscribe(`toolbridge:${name}`, listener);
      return [name, listener] as const;
    });
    try {
      await bridge.call('tel.spin', { ms: 5 });
      await rejection(bridge.call('tel.fails'));
      await bridge.call('tel.square', 3);
      await bridge.call('tel.square', 3);
      await bridge.recycle();
    } finally {
      for (const [name, listener] of listeners) unsubscribe(`toolbridge:${name}`, listener);
    }
    const calls = events.filter(([name]) => name.startsWith('call:'));
    expect(calls.map(([name, m]) => `${name} ${(m as CallMessage).tool}`)).toEqual([
      'call:start tel.spin',
      'call:end tel.spin',
      'call:start tel.fails',
      'call:error tel.fails',
      'call:start tel.square',
      'call:end tel.square',
      'call:start tel.square',
      'call:end tel.square',
    ]);
    const [start, end] = [calls[0]![1] as CallMessage, calls[1]![1] as CallMessage];
    expect(end.id).toBe(start.id);
    expect(end.durationMs).toBeGreaterThanOrEqual(5);
    expect(end.phases!.runMs).toBeGreaterThanOrEqual(4);
    expect((calls[3]![1] as CallMessage).error).toMatchObject({ code: 'TOOL_FAILED' });
    expect(events.filter(([name]) => name.startsWith('cache:')).map(([name]) => name)).toEqual([
      'cache:miss',
      'cache:hit',
    ]);
    const recycles = events.filter(([name]) => name === 'worker:recycle').map(([, m]) => m as RecycleEvent);
    expect(recycles.map((r) => r.reason)).toEqual(['manual', 'manual']);
  });
});

describe('slow calls', () => {
  test('a call over telemetry.slowCallMs emits slowCall with its phases and the shapes of its args', async () => {
    const bridge = await telBridge({ telemetry: { slowCallMs: 40 } });
    const slow: SlowCallEvent[] = [];
    bridge.on('slowCall', (event) => slow.push(event));
    await bridge.call('tel.spin', { ms: 1 });
    await bridge.call('tel.spin', { ms: 80, data: new Float64Array(1000).fill(123.456), label: 'secret-label' });
    // Only calls past the threshold are reported (on a busy machine even the 1 ms call may be one of them).
    for (const event of slow) expect(event.durationMs).toBeGreaterThan(40);
    const event = slow.find((e) => e.args.includes('Float64Array'));
    expect(event).toBeDefined();
    expect(event!.tool).toBe('tel.spin');
    expect(event!.durationMs).toBeGreaterThanOrEqual(79);
    expect(event!.phases!.runMs).toBeGreaterThanOrEqual(79);
    expect(event!.args).toBe('{ ms: number, data: Float64Array(1000), label: string(12) }');
    expect(JSON.stringify(event)).not.toContain('123.456');
    expect(JSON.stringify(event)).not.toContain('secret');
  });

  test('a slowCall listener that throws fails no call: its error is a process warning', async () => {
    const bridge = await telBridge({ telemetry: { slowCallMs: 20 } });
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      bridge.on('slowCall', () => {
        throw new Error('listener broke');
      });
      const fast = bridge.call('tel.spin', { ms: 1 });
      await expect(bridge.call('tel.spin', { ms: 50 })).resolves.toBe(50);
      await expect(fast).resolves.toBe(1);
      await expect(bridge.call('tel.spin', { ms: 2 })).resolves.toBe(2);
      expect(bridge.stats().tools['tel.spin']).toMatchObject({ calls: 3, errors: 0 });
      await new Promise((resolve) => setImmediate(resolve));
      const warning = warnings.find((w) => w.message.includes('listener broke'));
      expect(warning).toMatchObject({ code: 'TOOLBRIDGE_LISTENER' });
      expect(warning!.message).toContain("a 'slowCall' listener threw");
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('health()', () => {
  test('healthy, then degraded and unhealthy as budgets are passed, with the reasons', async () => {
    const bridge = await telBridge({
      maxThreads: 1,
      telemetry: { budgets: { p99Ms: 100, errorRate: 0.2, queueDepth: 2 } },
    });
    expect(bridge.health()).toEqual({ status: 'healthy', reasons: [] });

    // p99 over budget (130 ms > 100 ms): degraded, or unhealthy if a busy machine made it twice the budget.
    await bridge.call('tel.spin', { ms: 130 });
    let health = bridge.health();
    expect(health.reasons).toEqual([expect.objectContaining({ check: 'latency', subject: 'tel.spin', budget: 100 })]);
    const latency = health.reasons[0]!;
    expect(latency.value).toBeGreaterThanOrEqual(130);
    expect(latency.status).toBe(latency.value > 200 ? 'unhealthy' : 'degraded');
    expect(health.status).toBe(latency.status);

    // Errors on 10 of 10 calls of a tool: five times the budget, so unhealthy.
    for (let i = 0; i < 10; i++) await rejection(bridge.call('tel.fails'));
    health = bridge.health();
    expect(health.status).toBe('unhealthy');
    expect(health.reasons).toContainEqual(
      expect.objectContaining({ status: 'unhealthy', check: 'errors', subject: 'tel.fails', value: 1 }),
    );

    // A queue deeper than its budget.
    const calls = Array.from({ length: 5 }, () => bridge.call('tel.sleep', { ms: 300 }));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(bridge.health().reasons).toContainEqual(
      expect.objectContaining({ check: 'queue', subject: 'default', value: 4, budget: 2 }),
    );
    await Promise.all(calls);

    await bridge.close();
    expect(bridge.health().reasons).toContainEqual(expect.objectContaining({ status: 'unhealthy', check: 'closed' }));
  });

  test("a caller's own aborts are not errors: calls and a batch aborted leave health and error counts alone", async () => {
    const bridge = await telBridge({ maxThreads: 1 });
    for (let i = 0; i < 12; i++) {
      const controller = new AbortController();
      const call = bridge.call('tel.sleep', { ms: 10_000 }, { signal: controller.signal });
      controller.abort();
      expect((await rejection(call)).code).toBe('ABORTED');
    }
    const controller = new AbortController();
    const batch = bridge.batch(
      Array.from({ length: 40 }, () => ({ tool: 'tel.sleep', args: { ms: 10_000 } })),
      { signal: controller.signal, chunkSize: 4 },
    );
    setTimeout(() => controller.abort(), 20);
    const entries = await batch;
    expect(entries.every((entry) => !entry.ok && entry.error.code === 'ABORTED')).toBe(true);
    expect(bridge.stats().tools['tel.sleep']).toMatchObject({ errors: 0 });
    expect(bridge.health()).toEqual({ status: 'healthy', reasons: [] });
    // The pool serves on.
    expect(await bridge.call('tel.spin', { ms: 1 })).toBe(1);
  });

  test('a throwing diagnostics_channel subscriber fails no call', async () => {
    const script = fixture('throwing-subscriber.mjs').pathname;
    const run = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(out).toMatchObject({ results: [25, 25, 25], failed: 'TOOL_NOT_FOUND', calls: 3, errors: 0 });
    // Node reports each subscriber error on its own, outside the call.
    expect(out.uncaught).toBeGreaterThan(0);
  });

  test('a worker heap near its limit is a heap reason', async () => {
    const bridge = await telBridge({ memory: { maxHeapMb: 4096 }, telemetry: { budgets: { heapRatio: 0.0001 } } });
    const health = bridge.health();
    expect(health.status).toBe('degraded');
    expect(health.reasons.map((reason) => reason.check)).toEqual(['heap', 'heap']);
    expect(health.reasons[0]!.subject).toMatch(/^default\/\d+$/);
  });
});

describe('report()', () => {
  test('ranks tools by total time, splits each into wait / codec / run, and names the copiers', async () => {
    const bridge = await telBridge();
    for (let i = 0; i < 3; i++) await bridge.call('tel.spin', { ms: 30 });
    // A non-shared argument is copied into shared memory on the way in (512 KiB); the result is that copy.
    await bridge.call('tel.echo', { x: new Float64Array(64 * 1024) });
    const report = bridge.report();
    const lines = report.split('\n');
    const spin = lines.findIndex((line) => line.includes('1. tel.spin'));
    const echo = lines.findIndex((line) => line.includes('2. tel.echo'));
    expect(spin).toBeGreaterThan(0);
    expect(echo).toBeGreaterThan(spin);
    expect(lines[spin + 2]).toMatch(/wait \d+%, codec \d+%, run \d+%/);
    expect(report).toContain('Largest sources of copied bytes');
    expect(report).toContain('tel.echo: 0.5 MiB copied, 0.5 MiB shared');
    expect(report).toContain('default: 2/2 threads');
  });
});

/** Debian's `promtool` (package `prometheus`), the Prometheus project's own parser and linter. */
const promtool = spawnSync('promtool', ['--version']).status === 0;

/** `promtool check metrics` on a text: its exit status and what it said. */
function checkMetrics(text: string): { status: number | null; output: string } {
  const run = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}`.trim() };
}

describe('metrics()', () => {
  // CI installs promtool (.ci/run); elsewhere the test runs when it is there, and says why when it is not.
  const noPromtool = !promtool && !process.env.CI;
  if (noPromtool)
    console.warn('telemetry.test: no promtool on the PATH: the metrics lint is skipped (apt-get install prometheus)');
  test.skipIf(noPromtool)(
    `is Prometheus text that promtool accepts without a lint, with the calls, histograms and gauges${noPromtool ? ' [skipped: promtool is not installed]' : ''}`,
    async () => {
      const bridge = await telBridge();
      for (let i = 0; i < 4; i++) await bridge.call('tel.spin', { ms: 2 });
      await rejection(bridge.call('tel.fails'));
      const text = bridge.metrics();
      expect(checkMetrics(text)).toEqual({ status: 0, output: '' });
      // The check can fail: a broken line is refused.
      expect(checkMetrics(`${text}toolbridge_calls_total{tool="x" 1\n`).status).not.toBe(0);

      const families = parsePrometheusTextFormat(text);
      const family = (name: string) => families.find((f) => f.name === name)!;
      const sample = (name: string, labels: Record<string, string>) =>
        family(name).metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
      expect(family('toolbridge_calls_total').type).toBe('COUNTER');
      expect(sample('toolbridge_calls_total', { tool: 'tel.spin' })!.value).toBe('4');
      expect(sample('toolbridge_call_errors_total', { tool: 'tel.fails' })!.value).toBe('1');
      expect(sample('toolbridge_pool_threads', { pool: 'default' })!.value).toBe('2');
      expect(Number(sample('toolbridge_process_resident_memory_bytes', {})!.value)).toBeGreaterThan(0);
      expect(family('toolbridge_worker_heap_bytes').metrics).toHaveLength(2);
      expect(family('toolbridge_worker_recycles_total').metrics).toHaveLength(8);

      // One tool's duration histogram: cumulative buckets ending at the call count, none under 1 ms.
      const lines = text.split('\n');
      const spinOnly = lines.filter(
        (line) =>
          line.startsWith('# ') ||
          !line.startsWith('toolbridge_call_duration_seconds') ||
          line.includes('tool="tel.spin"'),
      );
      const duration = parsePrometheusTextFormat(spinOnly.join('\n')).find(
        (f) => f.name === 'toolbridge_call_duration_seconds',
      )!;
      expect(duration.type).toBe('HISTOGRAM');
      const buckets = duration.metrics[0]!.buckets!;
      expect(buckets['+Inf']).toBe('4');
      expect(Number(buckets['0.001'])).toBe(0);
      const bounds = Object.keys(buckets)
        .filter((le) => le !== '+Inf')
        .map(Number)
        .sort((x, y) => x - y);
      const counts = bounds.map((le) => Number(buckets[String(le)]));
      expect([...counts].sort((x, y) => x - y)).toEqual(counts);
      expect(lines).toContain('toolbridge_call_duration_seconds_count{tool="tel.spin"} 4');
      const phases = lines.filter((line) => line.startsWith('toolbridge_task_phase_seconds_count{tool="tel.spin"'));
      expect(phases).toEqual([
        'toolbridge_task_phase_seconds_count{tool="tel.spin",phase="wait"} 4',
        'toolbridge_task_phase_seconds_count{tool="tel.spin",phase="codec"} 4',
        'toolbridge_task_phase_seconds_count{tool="tel.spin",phase="run"} 4',
      ]);
    },
  );
});

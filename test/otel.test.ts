import { MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createBridge, type Bridge } from 'toolbridge';
import { instrumentBridge } from 'toolbridge/otel';
import { fixture, rejection } from './helpers.js';

/** A reader that collects on demand, in memory. */
class TestReader extends MetricReader {
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

let bridge: Bridge;
let other: Bridge;
beforeAll(async () => {
  bridge = await createBridge({ maxThreads: 2, tools: [fixture('telemetry-tools.js')] });
  other = await createBridge({ maxThreads: 1, tools: [fixture('telemetry-tools.js')] });
});
afterAll(async () => {
  await bridge.close();
  await other.close();
});

async function collect(reader: TestReader) {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  const all = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
  return (name: string) => all.find((metric) => metric.descriptor.name === name)?.dataPoints ?? [];
}

describe('toolbridge/otel', () => {
  test('records the same figures as OpenTelemetry instruments, for this bridge only', async () => {
    const reader = new TestReader();
    const provider = new MeterProvider({ readers: [reader] });
    const handle = instrumentBridge(bridge, { meter: provider.getMeter('test') });
    try {
      for (let i = 0; i < 3; i++) await bridge.call('tel.spin', { ms: 3 });
      await rejection(bridge.call('tel.fails'));
      await bridge.call('tel.square', 4);
      await bridge.call('tel.square', 4);
      // Another bridge's calls are not this bridge's figures.
      await other.call('tel.spin', { ms: 1 });

      const points = await collect(reader);
      const byTool = (name: string) =>
        Object.fromEntries(points(name).map((p) => [String(p.attributes.tool), p.value as number]));
      expect(byTool('toolbridge.calls')).toEqual({ 'tel.spin': 3, 'tel.fails': 1, 'tel.square': 2 });
      expect(byTool('toolbridge.call.errors')).toEqual({ 'tel.spin': 0, 'tel.fails': 1, 'tel.square': 0 });
      expect(points('toolbridge.cache.hits').map((p) => p.value)).toEqual([1]);
      expect(points('toolbridge.cache.misses').map((p) => p.value)).toEqual([1]);
      const threads = points('toolbridge.pool.threads');
      expect(threads.map((p) => [p.attributes.pool, p.value])).toEqual([['default', 2]]);
      expect(points('toolbridge.worker.heap')).toHaveLength(2);
      expect(points('toolbridge.worker.recycles')).toHaveLength(8);

      // Durations are recorded as calls end: three spins (seconds), and the failed call as an error.
      const durations = points('toolbridge.call.duration') as Array<DataPoint<Histogram>>;
      const spin = durations.find((p) => p.attributes.tool === 'tel.spin' && p.attributes.outcome === 'ok')!;
      expect(spin.value.count).toBe(3);
      expect(spin.value.sum).toBeGreaterThanOrEqual(0.009);
      expect(durations.find((p) => p.attributes.tool === 'tel.fails')!.attributes.outcome).toBe('error');
      const phases = (points('toolbridge.task.phase') as Array<DataPoint<Histogram>>)
        .filter((p) => p.attributes.tool === 'tel.spin')
        .map((p) => [p.attributes.phase, p.value.count]);
      expect(phases).toEqual([
        ['wait', 3],
        ['codec', 3],
        ['run', 3],
      ]);
    } finally {
      handle.close();
    }
    // After close, nothing more is recorded: a fourth spin is in neither the counters nor the histogram.
    await bridge.call('tel.spin', { ms: 1 });
    const after = await collect(reader);
    expect(after('toolbridge.calls').find((p) => p.attributes.tool === 'tel.spin')?.value ?? 3).toBe(3);
    const spin = (after('toolbridge.call.duration') as Array<DataPoint<Histogram>>).find(
      (p) => p.attributes.tool === 'tel.spin',
    );
    expect(spin?.value.count).toBe(3);
    await provider.shutdown();
  });
});

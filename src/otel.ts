/**
 * `toolbridge/otel`: the bridge's figures as OpenTelemetry instruments, for the APM a service already
 * exports to. Needs `@opentelemetry/api` (an optional peer dependency) and a MeterProvider set up by the
 * application (`@opentelemetry/sdk-metrics` or a vendor's).
 *
 * @example
 * import { instrumentBridge } from 'toolbridge/otel';
 * const handle = instrumentBridge(bridge); // the global MeterProvider's meter 'toolbridge'
 * // ...
 * handle.close();
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { metrics, ValueType, type Attributes, type Meter } from '@opentelemetry/api';
import type { Bridge } from './bridge.js';
import type { CallMessage } from './telemetry/channels.js';
import type { BridgeStats } from './telemetry/stats.js';

export interface InstrumentOptions {
  /** The meter to create the instruments on. @default metrics.getMeter('toolbridge') */
  meter?: Meter;
}

export interface Instrumentation {
  /** Stops recording: the instruments report nothing more for this bridge. */
  close(): void;
}

const MiB = 2 ** 20;

/**
 * Records a bridge's figures as OpenTelemetry instruments:
 * - `toolbridge.call.duration` (histogram, s, by `tool` and `outcome`), recorded as each call ends, and
 *   `toolbridge.task.phase` (histogram, s, by `tool` and `phase`: wait, codec, run);
 * - counters observed from `bridge.stats()` at each collection: `toolbridge.calls`, `toolbridge.call.errors`
 *   (by `tool`), `toolbridge.bytes` (by `kind`), `toolbridge.codec.values` (by `path`),
 *   `toolbridge.cache.hits`, `toolbridge.cache.misses`, `toolbridge.worker.recycles` (by `reason`);
 * - gauges: `toolbridge.pool.threads`, `.busy`, `.queued`, `.utilization` (by `pool`),
 *   `toolbridge.worker.heap` (By, by `pool` and `worker`), `toolbridge.memory.shared` and
 *   `toolbridge.memory.rss` (By).
 */
export function instrumentBridge(bridge: Bridge, options: InstrumentOptions = {}): Instrumentation {
  const meter = options.meter ?? metrics.getMeter('toolbridge');
  const duration = meter.createHistogram('toolbridge.call.duration', {
    description: 'Time from a call to its result',
    unit: 's',
  });
  const phase = meter.createHistogram('toolbridge.task.phase', {
    description: 'Phases of a worker task: wait (queue and hand-off), codec (encode and decode), run (in the tool)',
    unit: 's',
  });
  const onEnd = (message: unknown, outcome: 'ok' | 'error') => {
    const call = message as CallMessage;
    if (call.bridge !== bridge.id || call.durationMs === undefined) return;
    duration.record(call.durationMs / 1000, { tool: call.tool, outcome });
    if (call.phases) {
      phase.record(call.phases.waitMs / 1000, { tool: call.tool, phase: 'wait' });
      phase.record(call.phases.codecMs / 1000, { tool: call.tool, phase: 'codec' });
      phase.record(call.phases.runMs / 1000, { tool: call.tool, phase: 'run' });
    }
  };
  const ended = (message: unknown) => onEnd(message, 'ok');
  const failed = (message: unknown) => onEnd(message, 'error');
  subscribe('toolbridge:call:end', ended);
  subscribe('toolbridge:call:error', failed);

  const counter = (name: string, description: string, unit?: string) =>
    meter.createObservableCounter(name, { description, ...(unit ? { unit } : {}), valueType: ValueType.INT });
  const gauge = (name: string, description: string, unit?: string) =>
    meter.createObservableGauge(name, { description, ...(unit ? { unit } : {}) });
  const observers: Array<
    [
      ReturnType<typeof counter> | ReturnType<typeof gauge>,
      (stats: BridgeStats, observe: (value: number, attributes?: Attributes) => void) => void,
    ]
  > = [
    [
      counter('toolbridge.calls', 'Calls completed, by tool'),
      (s, observe) => Object.entries(s.tools).forEach(([tool, t]) => observe(t.calls, { tool })),
    ],
    [
      counter('toolbridge.call.errors', 'Calls that failed, by tool'),
      (s, observe) => Object.entries(s.tools).forEach(([tool, t]) => observe(t.errors, { tool })),
    ],
    [
      counter('toolbridge.bytes', 'Bytes that crossed between threads, by kind (shared or copied)', 'By'),
      (s, observe) => {
        observe(s.bytes.shared, { kind: 'shared' });
        observe(s.bytes.copied, { kind: 'copied' });
      },
    ],
    [
      counter('toolbridge.codec.values', 'Values that crossed, by path'),
      (s, observe) => Object.entries(s.codecs).forEach(([path, count]) => observe(count, { path })),
    ],
    [counter('toolbridge.cache.hits', 'Result-cache hits'), (s, observe) => observe(s.cache.hits)],
    [counter('toolbridge.cache.misses', 'Result-cache misses'), (s, observe) => observe(s.cache.misses)],
    [
      counter('toolbridge.worker.recycles', 'Workers replaced, by reason'),
      (s, observe) => Object.entries(s.recycles.byReason).forEach(([reason, n]) => observe(n, { reason })),
    ],
    [
      gauge('toolbridge.pool.threads', 'Worker threads alive, by pool'),
      (s, observe) => Object.entries(s.pools).forEach(([pool, p]) => observe(p.threads, { pool })),
    ],
    [
      gauge('toolbridge.pool.busy', 'Workers running a task, by pool'),
      (s, observe) => Object.entries(s.pools).forEach(([pool, p]) => observe(p.busy, { pool })),
    ],
    [
      gauge('toolbridge.pool.queued', 'Calls waiting for a worker, by pool'),
      (s, observe) => Object.entries(s.pools).forEach(([pool, p]) => observe(p.queued, { pool })),
    ],
    [
      gauge('toolbridge.pool.utilization', "Share of a pool's thread time in tasks over the last minute", '1'),
      (s, observe) => Object.entries(s.pools).forEach(([pool, p]) => observe(p.utilization, { pool })),
    ],
    [
      gauge('toolbridge.worker.heap', "A worker's V8 heap in use", 'By'),
      (s, observe) => s.memory.workers.forEach((w) => observe(w.heapMb * MiB, { pool: w.pool, worker: String(w.id) })),
    ],
    [
      gauge('toolbridge.memory.shared', 'Shared memory toolbridge allocated and still held', 'By'),
      (s, observe) => observe(s.memory.sharedMb * MiB),
    ],
    [
      gauge('toolbridge.memory.rss', "The process's resident set size", 'By'),
      (s, observe) => observe(s.memory.rssMb * MiB),
    ],
  ];
  const instruments = observers.map(([instrument]) => instrument);
  const batch = (result: {
    observe: (instrument: (typeof instruments)[number], value: number, attributes?: Attributes) => void;
  }) => {
    // One stats() snapshot per collection, shared by every observable instrument.
    const stats = bridge.stats();
    for (const [instrument, read] of observers)
      read(stats, (value, attributes) => result.observe(instrument, value, attributes));
  };
  meter.addBatchObservableCallback(batch, instruments);
  return {
    close() {
      unsubscribe('toolbridge:call:end', ended);
      unsubscribe('toolbridge:call:error', failed);
      meter.removeBatchObservableCallback(batch, instruments);
    },
  };
}

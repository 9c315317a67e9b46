import { BUCKETS_S, type Distribution } from './distribution.js';
import type { BridgeStats, StatsRecorder } from './stats.js';

type Labels = Record<string, string>;

const escape = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function labels(set: Labels): string {
  const entries = Object.entries(set);
  return entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}="${escape(v)}"`).join(',')}}`;
}

const number = (value: number) =>
  Number.isFinite(value) ? String(value) : value > 0 ? '+Inf' : value < 0 ? '-Inf' : 'NaN';

/** Builds a text exposition, one metric family at a time. */
class Exposition {
  readonly #lines: string[] = [];

  family(name: string, type: 'counter' | 'gauge' | 'histogram', help: string): this {
    this.#lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    return this;
  }

  sample(name: string, set: Labels, value: number): this {
    this.#lines.push(`${name}${labels(set)} ${number(value)}`);
    return this;
  }

  histogram(name: string, set: Labels, d: Distribution): this {
    let cumulative = 0;
    BUCKETS_S.forEach((le, i) => {
      cumulative += d.buckets[i]!;
      this.sample(`${name}_bucket`, { ...set, le: String(le) }, cumulative);
    });
    this.sample(`${name}_bucket`, { ...set, le: '+Inf' }, d.count);
    this.sample(`${name}_sum`, set, d.sumMs / 1000);
    return this.sample(`${name}_count`, set, d.count);
  }

  toString(): string {
    return `${this.#lines.join('\n')}\n`;
  }
}

/** What the exposition reads besides the snapshot: the per-tool distributions. */
export type ToolDistributions = ReturnType<StatsRecorder['distributions']>;

/** The Prometheus text exposition format (version 0.0.4) of a bridge's figures; metric names `toolbridge_*`. */
export function renderMetrics(stats: BridgeStats, distributions: ToolDistributions): string {
  const out = new Exposition();
  const tools = Object.entries(stats.tools);
  out.family('toolbridge_uptime_seconds', 'gauge', 'Seconds since the bridge started.');
  out.sample('toolbridge_uptime_seconds', {}, stats.uptimeMs / 1000);

  out.family('toolbridge_calls_total', 'counter', 'Calls completed, successfully or not, by tool.');
  for (const [tool, t] of tools) out.sample('toolbridge_calls_total', { tool }, t.calls);
  out.family('toolbridge_call_errors_total', 'counter', 'Calls that completed with an error, by tool.');
  for (const [tool, t] of tools) out.sample('toolbridge_call_errors_total', { tool }, t.errors);
  out.family('toolbridge_call_throughput', 'gauge', 'Calls completed per second over the last minute, by tool.');
  for (const [tool, t] of tools) out.sample('toolbridge_call_throughput', { tool }, t.throughput);

  out.family('toolbridge_call_duration_seconds', 'histogram', 'Time from a call to its result, by tool.');
  for (const d of distributions) out.histogram('toolbridge_call_duration_seconds', { tool: d.tool }, d.latency);
  out.family(
    'toolbridge_task_phase_seconds',
    'histogram',
    'Phases of each worker task by tool: wait (queue and hand-off), codec (encode and decode), run (in the tool).',
  );
  for (const d of distributions) {
    out.histogram('toolbridge_task_phase_seconds', { tool: d.tool, phase: 'wait' }, d.wait);
    out.histogram('toolbridge_task_phase_seconds', { tool: d.tool, phase: 'codec' }, d.codec);
    out.histogram('toolbridge_task_phase_seconds', { tool: d.tool, phase: 'run' }, d.run);
  }

  out.family(
    'toolbridge_bytes_total',
    'counter',
    'Bytes that crossed between threads, by how: shared (by reference) or copied.',
  );
  out.sample('toolbridge_bytes_total', { kind: 'shared' }, stats.bytes.shared);
  out.sample('toolbridge_bytes_total', { kind: 'copied' }, stats.bytes.copied);
  out.family('toolbridge_tool_bytes_total', 'counter', "Bytes of a tool's args and results, by how they crossed.");
  for (const [tool, t] of tools) {
    out.sample('toolbridge_tool_bytes_total', { tool, kind: 'shared' }, t.bytes.shared);
    out.sample('toolbridge_tool_bytes_total', { tool, kind: 'copied' }, t.bytes.copied);
  }
  out.family(
    'toolbridge_codec_values_total',
    'counter',
    'Values that crossed, by path: shared, arrow, clone, msgpack, copied.',
  );
  for (const [path, count] of Object.entries(stats.codecs))
    out.sample('toolbridge_codec_values_total', { path }, count);

  const cache = stats.cache;
  out
    .family('toolbridge_cache_hits_total', 'counter', 'Result-cache hits.')
    .sample('toolbridge_cache_hits_total', {}, cache.hits);
  out
    .family('toolbridge_cache_misses_total', 'counter', 'Result-cache misses.')
    .sample('toolbridge_cache_misses_total', {}, cache.misses);
  out
    .family('toolbridge_cache_entries', 'gauge', 'Entries in the result cache.')
    .sample('toolbridge_cache_entries', {}, cache.entries);
  out
    .family('toolbridge_cache_bytes', 'gauge', 'Bytes held by the result cache.')
    .sample('toolbridge_cache_bytes', {}, cache.bytes);

  const pools = Object.entries(stats.pools);
  out.family('toolbridge_pool_threads', 'gauge', 'Worker threads alive, by pool.');
  for (const [pool, p] of pools) out.sample('toolbridge_pool_threads', { pool }, p.threads);
  out.family('toolbridge_pool_busy_threads', 'gauge', 'Workers running a task, by pool.');
  for (const [pool, p] of pools) out.sample('toolbridge_pool_busy_threads', { pool }, p.busy);
  out.family('toolbridge_pool_queued_calls', 'gauge', 'Calls waiting for a worker, by pool.');
  for (const [pool, p] of pools) out.sample('toolbridge_pool_queued_calls', { pool }, p.queued);
  out.family(
    'toolbridge_pool_utilization_ratio',
    'gauge',
    "Share of a pool's thread time spent in tasks over the last minute.",
  );
  for (const [pool, p] of pools) out.sample('toolbridge_pool_utilization_ratio', { pool }, p.utilization);
  out.family(
    'toolbridge_pool_sent_ahead_total',
    'counter',
    'Calls sent to a worker still running a short call, to start when it ends, by pool.',
  );
  for (const [pool, p] of pools) out.sample('toolbridge_pool_sent_ahead_total', { pool }, p.sentAhead);

  // A remote bridge's tool hosts (toolbridge/nats); none for a local bridge.
  const hosts = Object.entries(stats.hosts);
  if (hosts.length > 0) {
    out.family('toolbridge_host_calls_total', 'counter', "This caller's calls a tool host answered, by host.");
    for (const [host, h] of hosts) out.sample('toolbridge_host_calls_total', { host }, h.calls);
    out.family('toolbridge_host_in_flight_calls', 'gauge', 'Calls a tool host was running, as it last said.');
    for (const [host, h] of hosts) out.sample('toolbridge_host_in_flight_calls', { host }, h.inFlight);
    out.family('toolbridge_host_queued_calls', 'gauge', "Calls a tool host's pools queued, as it last said.");
    for (const [host, h] of hosts) out.sample('toolbridge_host_queued_calls', { host }, h.queued);
    out.family('toolbridge_host_latency_p50_seconds', 'gauge', "Median of a host's last 256 answer times.");
    for (const [host, h] of hosts) out.sample('toolbridge_host_latency_p50_seconds', { host }, h.latency.p50 / 1000);
  }

  // Sessions (bridge.open), by name; none when no session was ever opened.
  const sessions = Object.entries(stats.sessions);
  if (sessions.length > 0) {
    out.family('toolbridge_sessions_open', 'gauge', 'Sessions open now, by session.');
    for (const [session, s] of sessions) out.sample('toolbridge_sessions_open', { session }, s.open);
    out.family('toolbridge_sessions_ended_total', 'counter', 'Sessions ended, by session and how (closed, lost).');
    for (const [session, s] of sessions) {
      out.sample('toolbridge_sessions_ended_total', { session, how: 'closed' }, s.closed);
      out.sample('toolbridge_sessions_ended_total', { session, how: 'lost' }, s.lost);
    }
    out.family('toolbridge_session_calls_total', 'counter', 'Session method calls completed, by session.');
    for (const [session, s] of sessions) out.sample('toolbridge_session_calls_total', { session }, s.calls);
    out.family('toolbridge_session_call_errors_total', 'counter', 'Session method calls that failed, by session.');
    for (const [session, s] of sessions) out.sample('toolbridge_session_call_errors_total', { session }, s.errors);
  }

  out.family('toolbridge_worker_recycles_total', 'counter', 'Workers replaced, by reason.');
  for (const [reason, count] of Object.entries(stats.recycles.byReason)) {
    out.sample('toolbridge_worker_recycles_total', { reason }, count);
  }
  out.family('toolbridge_worker_heap_bytes', 'gauge', "A worker's V8 heap in use.");
  for (const w of stats.memory.workers) {
    out.sample('toolbridge_worker_heap_bytes', { pool: w.pool, worker: String(w.id) }, w.heapMb * 2 ** 20);
  }
  out.family(
    'toolbridge_worker_heap_limit_bytes',
    'gauge',
    'The heap a worker may reach before it is recycled (or stopped).',
  );
  for (const w of stats.memory.workers) {
    out.sample('toolbridge_worker_heap_limit_bytes', { pool: w.pool, worker: String(w.id) }, w.heapLimitMb * 2 ** 20);
  }
  out.family('toolbridge_shared_memory_bytes', 'gauge', 'Shared memory toolbridge allocated and still held.');
  out.sample('toolbridge_shared_memory_bytes', {}, stats.memory.sharedMb * 2 ** 20);
  out.family('toolbridge_process_resident_memory_bytes', 'gauge', "The process's resident set size.");
  out.sample('toolbridge_process_resident_memory_bytes', {}, stats.memory.rssMb * 2 ** 20);
  return out.toString();
}

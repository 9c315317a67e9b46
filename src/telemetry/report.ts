import type { BridgeStats } from './stats.js';

const ms = (value: number) =>
  value < 1
    ? `${(value * 1000).toFixed(0)} µs`
    : value < 1000
      ? `${value.toFixed(1)} ms`
      : `${(value / 1000).toFixed(2)} s`;
const pct = (part: number, whole: number) => (whole > 0 ? `${((100 * part) / whole).toFixed(0)}%` : '-');
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/**
 * A plain-text bottleneck report: tools ranked by the total time their calls took, with their share of it,
 * each split into wait / codec / run; then the largest sources of copied bytes; then pools and memory.
 */
export function renderReport(stats: BridgeStats): string {
  const lines: string[] = [`toolbridge report: up ${ms(stats.uptimeMs)}`];
  const tools = Object.entries(stats.tools).map(([name, t]) => ({
    name,
    t,
    total: t.latency.mean * (t.calls > 0 ? t.calls : 0),
    taskTotal: t.wait.mean + t.run.mean + t.codec.mean,
  }));
  const grand = tools.reduce((sum, x) => sum + x.total, 0);
  tools.sort((a, b) => b.total - a.total);
  lines.push('', 'Tools by total call time:');
  if (tools.length === 0) lines.push('  (no calls yet)');
  tools.forEach(({ name, t, total, taskTotal }, i) => {
    lines.push(
      `  ${i + 1}. ${name}: ${pct(total, grand)} of all call time (${ms(total)} over ${t.calls} calls, ${t.errors} failed)`,
      `     p50 ${ms(t.latency.p50)}, p99 ${ms(t.latency.p99)}, max ${ms(t.latency.max)}; ${t.throughput.toFixed(1)} calls/s`,
      taskTotal > 0
        ? `     per task: wait ${pct(t.wait.mean, taskTotal)}, codec ${pct(t.codec.mean, taskTotal)}, run ${pct(t.run.mean, taskTotal)} (means ${ms(t.wait.mean)} / ${ms(t.codec.mean)} / ${ms(t.run.mean)})`
        : '     per task: no task measured (cache hits only)',
    );
  });
  const { shared, copied } = stats.bytes;
  lines.push(
    '',
    `Bytes: ${mib(shared)} shared, ${mib(copied)} copied (${pct(copied, shared + copied)} of all bytes crossing).`,
  );
  const copiers = tools.filter((x) => x.t.bytes.copied > 0).sort((a, b) => b.t.bytes.copied - a.t.bytes.copied);
  if (copiers.length > 0) {
    lines.push('Largest sources of copied bytes (put these in shared memory: shared() or toShared()):');
    for (const { name, t } of copiers.slice(0, 5)) {
      lines.push(`  ${name}: ${mib(t.bytes.copied)} copied, ${mib(t.bytes.shared)} shared`);
    }
  }
  const c = stats.codecs;
  lines.push(
    `Values by path: ${c.shared} shared, ${c.arrow} Arrow, ${c.clone} clone, ${c.msgpack} MessagePack, ${c.copied} copied.`,
  );
  const cache = stats.cache;
  if (cache.hits + cache.misses > 0) {
    lines.push(
      `Cache: ${pct(cache.hits, cache.hits + cache.misses)} hits (${cache.hits} of ${cache.hits + cache.misses}), ${ms(cache.timeSavedMs)} saved.`,
    );
  }
  lines.push('', 'Pools:');
  for (const [name, p] of Object.entries(stats.pools)) {
    lines.push(
      `  ${name}: ${p.threads}/${p.maxThreads} threads, ${p.busy} busy, ${p.queued} queued, ${pct(p.utilization, 1)} utilized over the last minute`,
    );
  }
  lines.push(
    '',
    `Memory: RSS ${stats.memory.rssMb} MiB, shared ${stats.memory.sharedMb} MiB; ${stats.recycles.total} recycles (${
      Object.entries(stats.recycles.byReason)
        .filter(([, n]) => n > 0)
        .map(([r, n]) => `${r} ${n}`)
        .join(', ') || 'none'
    }).`,
  );
  for (const w of stats.memory.workers) {
    lines.push(
      `  ${w.pool}/${w.id}: heap ${w.heapMb} of ${w.heapLimitMb} MiB, ${w.tasks} tasks, ${ms(w.ageMs)} old, ${w.state}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

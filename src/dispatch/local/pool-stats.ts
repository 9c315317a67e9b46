import { performance } from 'node:perf_hooks';
import type { ResolvedPool } from '../../options.js';
import type { WorkerStats } from '../../telemetry/events.js';
import type { PoolStats } from '../../telemetry/stats.js';
import type { WorkerRecord, WorkerSlot } from './worker-slot.js';

/** The pool now: threads, busy ones, queued calls, utilization (`busyMsPerSecond` of task time). */
export function poolStats(
  slots: readonly WorkerSlot[],
  pool: ResolvedPool,
  queued: number,
  busyMsPerSecond: number,
  sentAhead: number,
): PoolStats {
  const { maxThreads, maxQueue } = pool;
  let threads = 0;
  let busy = 0;
  for (const slot of slots) {
    if (slot.gone) continue;
    threads++;
    if (slot.busy) busy++;
  }
  const utilization = Math.min(1, busyMsPerSecond / 1000 / maxThreads);
  return { threads, busy, queued, utilization, maxThreads, maxQueue, sentAhead };
}

/** Each live worker of a pool: heap, memory outside it, tasks, age, heap ceiling and state. */
export function workerStats(
  slots: readonly WorkerSlot[],
  pool: string,
  heapLimitMb: (record: WorkerRecord) => number,
): WorkerStats[] {
  const now = performance.now();
  const out: WorkerStats[] = [];
  for (const slot of slots) {
    const record = slot.current;
    if (record === undefined || slot.gone) continue;
    out.push({
      id: record.threadId,
      pool,
      heapMb: round(record.heapMb),
      externalMb: round(record.externalMb),
      tasks: record.tasks,
      sessions: record.sessions,
      ageMs: Math.round(record.ageMs(now)),
      heapLimitMb: round(heapLimitMb(record)),
      state: slot.draining !== undefined ? 'draining' : record.ready ? 'ready' : 'starting',
    });
  }
  return out;
}

/** To one decimal, as the figures are reported. */
export function round(value: number): number {
  return Math.round(value * 10) / 10;
}

/**
 * What the runtime reports to telemetry: the shapes of worker events and per-worker figures, and the codec
 * counters. Defined here, in the sink, so that telemetry depends on no part of the runtime it observes.
 */

/** Why a worker was replaced. */
export type RecycleReason = 'heap' | 'external' | 'tasks' | 'age' | 'rss' | 'manual' | 'crash' | 'timeout';

export const RECYCLE_REASONS: readonly RecycleReason[] = Object.freeze([
  'heap',
  'external',
  'tasks',
  'age',
  'rss',
  'manual',
  'crash',
  'timeout',
]);

/** Why a worker left: a recycle reason, or `idle` (stopped above `minThreads` after `idleTimeoutMs`). */
export type ExitReason = RecycleReason | 'idle';

/** Payload of the bridge's `recycle` event. */
export interface RecycleEvent {
  pool: string;
  /** The worker's `threadId`. */
  workerId: number;
  reason: RecycleReason;
  /** Its V8 heap in use at the last sample, in MiB. */
  heapMb: number;
}

/** Payload of the bridge's `workerExit` event. */
export interface WorkerExitEvent {
  pool: string;
  workerId: number;
  exitCode: number;
  /** Why it left: a recycle reason, or `idle`. */
  reason: ExitReason;
}

/** One worker in `stats().memory.workers`. */
export interface WorkerStats {
  /** Its `threadId`. */
  readonly id: number;
  readonly pool: string;
  readonly heapMb: number;
  /** Its memory outside the V8 heap (ArrayBuffers and typed arrays it allocated), in MiB, as last sampled. */
  readonly externalMb: number;
  readonly tasks: number;
  /** Sessions open on it (`bridge.open`). */
  readonly sessions: number;
  readonly ageMs: number;
  /** `starting` while it loads its tools, `draining` once marked for recycling. */
  readonly state: 'starting' | 'ready' | 'draining';
  /** The heap it may reach: `maxHeapMb`, else `hardHeapMb`, else V8's limit for it (MiB). */
  readonly heapLimitMb: number;
}

/** How many values of a message went by each path. */
export interface CodecCounts {
  /** Typed arrays by reference (in shared memory). */
  shared: number;
  /** Arrow tables (as frames). */
  arrow: number;
  /** Plain parts by structured clone. */
  clone: number;
  /** Plain parts as MessagePack bytes. */
  msgpack: number;
  /** Typed arrays copied (not in shared memory). */
  copied: number;
}

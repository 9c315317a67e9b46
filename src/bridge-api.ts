/**
 * The public shape of a bridge: its methods, events and close options. `src/bridge.ts` implements it.
 */
import type { BatchCall, BatchEntry, BatchOptions, StreamEntry } from './batch/batch-executor.js';
import type { BroadcastOptions, CallOptions } from './call/pipeline.js';
import type { BroadcastEntry } from './call/transport.js';
import type { Session } from './session/client.js';
import type { OpenOptions } from './session/sessions.js';
import type { SessionInfo } from './tool/session.js';
import type { CallTiming } from './call/sender.js';
import type { RecycleEvent, WorkerExitEvent } from './telemetry/events.js';
import type { HealthReport } from './telemetry/health.js';
import type { BridgeStats } from './telemetry/stats.js';
import type { ToolInfo } from './tool/define.js';

/** Events of a bridge, by name. */
export interface BridgeEvents {
  /** The pool's queue has emptied after it refused calls with `QUEUE_FULL`: a producer may resume. */
  drain: () => void;
  /**
   * A worker is being replaced: drained gracefully past a `memory` threshold (`heap`, `tasks`, `age`,
   * `rss`) or by `bridge.recycle()` (`manual`), or already gone (`crash`, or `timeout`: stopped to end a
   * call that ran past its limit or was aborted).
   */
  recycle: (event: RecycleEvent) => void;
  /** A worker thread has exited (after a recycle, a crash, or idle above `minThreads`). */
  workerExit: (event: WorkerExitEvent) => void;
  /** A call took longer than `telemetry.slowCallMs`: its tool, time, phases and args' shapes (never data). */
  slowCall: (event: SlowCallEvent) => void;
}

/** Payload of the bridge's `slowCall` event. */
export interface SlowCallEvent {
  tool: string;
  durationMs: number;
  /** When the call ran as a task of its own (not in a micro-batch chunk, nor from the cache): its phases. */
  phases?: CallTiming;
  /** The shape of its args, never their data: `{ x: Float64Array(1000000), k: number }`. */
  args: string;
}

/** A running bridge: see `createBridge`. */
export interface Bridge extends AsyncDisposable {
  /** A number unique to this bridge in the process; `toolbridge:call:*` diagnostics messages carry it. */
  readonly id: number;
  on<E extends keyof BridgeEvents>(event: E, listener: BridgeEvents[E]): this;
  once<E extends keyof BridgeEvents>(event: E, listener: BridgeEvents[E]): this;
  off<E extends keyof BridgeEvents>(event: E, listener: BridgeEvents[E]): this;
  /** Runs a tool in a worker and resolves with its result. */
  call<R = unknown>(tool: string, args?: unknown, options?: CallOptions): Promise<R>;
  /**
   * Runs many calls, grouped by tool into chunks (one worker task per chunk), and resolves with one entry
   * per call in input order: `{ ok: true, value }` or `{ ok: false, error }`. One call's failure never fails
   * the batch or its neighbours.
   */
  batch<R = unknown>(calls: readonly BatchCall[], options?: BatchOptions): Promise<Array<BatchEntry<R>>>;
  /** The same as {@link Bridge.batch}, yielding `{ index, ok, value | error }` as chunks complete. */
  stream<R = unknown>(calls: readonly BatchCall[], options?: BatchOptions): AsyncIterable<StreamEntry<R>>;
  /** The registered tools and their metadata. */
  tools(): ToolInfo[];
  /**
   * Opens a session (`defineSession`): runs its `create(args)` once in a worker of its pool (the one holding
   * the fewest sessions) and resolves with a proxy whose methods run on that worker, one at a time unless
   * the session is concurrent, with args and results carried as tool calls' are (shared arrays without a
   * copy). `T` is the session object's type or the definition's (`typeof index`).
   *
   * @example
   * await using idx = await bridge.open<typeof index>('vector.index', { matrix, dim: 384 });
   * const hits = await idx.query(q, 10);
   */
  open<T = Record<string, (...args: never[]) => unknown>>(
    name: string,
    args?: unknown,
    options?: OpenOptions,
  ): Promise<Session<T>>;
  /** The registered sessions and their metadata. */
  sessions(): SessionInfo[];
  /**
   * Runs one call on every live worker of the tool's pool (warm a cache, load a model everywhere) and
   * resolves with one entry per worker: `{ workerId, ok: true, value }` or `{ workerId, ok: false, error }`.
   * Workers started later do not run it, unless `{ sticky: true }`: then each runs it before its first call.
   */
  broadcast<R = unknown>(tool: string, args?: unknown, options?: BroadcastOptions): Promise<Array<BroadcastEntry<R>>>;
  /** The result cache of idempotent tools. */
  readonly cache: { clear(): void };
  /**
   * A snapshot of every figure: per tool calls, errors, latency and its phases, throughput; per pool
   * threads, queue and utilization; bytes and values by codec path; cache; recycles; memory.
   */
  stats(): BridgeStats;
  /** Judged against `telemetry.budgets`: `healthy`, `degraded` or `unhealthy`, with the reasons. */
  health(): HealthReport;
  /** A human-readable bottleneck report: tools by total time, split into wait / codec / run; copied bytes. */
  report(): string;
  /** The figures in the Prometheus text exposition format (`toolbridge_*` metrics). */
  metrics(): string;
  /**
   * Recycles every worker of every pool gracefully (after a deploy of new data, say): each is drained and
   * stopped once its call is done, its replacement started first. Resolves when the old workers have
   * stopped and the new ones serve. No call fails because of it.
   */
  recycle(): Promise<void>;
  /**
   * Waits for the calls in flight and closes the open sessions, then stops the workers. Later calls reject with `CLOSED`. With
   * `timeoutMs`, waits at most that long: then the workers are stopped and the calls still in flight or
   * queued reject with `CLOSED` (a call with no time limit whose tool never returns would otherwise keep
   * `close()` waiting for good).
   */
  close(options?: CloseOptions): Promise<void>;
  /**
   * Stops the workers now: calls in flight and queued reject with `CLOSED`, later calls too. Resolves once
   * every worker has stopped. The same as `close({ timeoutMs: 0 })`.
   */
  destroy(): Promise<void>;
}

/** Options of {@link Bridge.close}. */
export interface CloseOptions {
  /**
   * Longest wait for the calls in flight, in ms; past it they reject with `CLOSED` and the workers are
   * stopped. `0` stops them at once.
   * @default Infinity
   */
  timeoutMs?: number;
}

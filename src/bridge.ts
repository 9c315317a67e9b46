import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import {
  checkBatchOptions,
  runBatch,
  type BatchCall,
  type BatchEntry,
  type BatchOptions,
  type StreamEntry,
} from './batch/batch-executor.js';
import { MicroBatcher } from './batch/micro-batcher.js';
import { hashArgs, loadHasher } from './cache/content-hash.js';
import { ResultCache, type CacheStats } from './cache/result-cache.js';
import { AbortedError, ClosedError, InvalidOptionsError, describeValue, isFailure } from './errors.js';
import {
  checkTimeout,
  resolveOptions,
  type BridgeOptions,
  type ResolvedOptions,
  type ResolvedTelemetry,
} from './options.js';
import { checkKnownKeys } from './known-keys.js';
import { loadingModule, refuseWhileLoading } from './loading-module.js';
import { LocalPool } from './dispatch/local/pool.js';
import { ToolCatalog } from './registry/catalog.js';
import type { RecycleEvent, WorkerExitEvent } from './telemetry/events.js';
import { ledger, setCeiling } from './memory/ledger.js';
import type { CodecCounts } from './telemetry/events.js';
import { CallRunner, type CallTiming, type Outcome } from './runner.js';
import {
  cacheHit,
  cacheMiss,
  callEnd,
  callError,
  callStart,
  workerRecycle,
  type CacheMessage,
  type CallMessage,
} from './telemetry/channels.js';
import { judgeHealth, type HealthReport } from './telemetry/health.js';
import { renderMetrics } from './telemetry/prometheus.js';
import { renderReport } from './telemetry/report.js';
import { shapeOf } from './codec/shape.js';
import { StatsRecorder, type BridgeStats } from './telemetry/stats.js';
import { DEFAULT_POOL, type ToolInfo } from './tool/define.js';

/** Options of one call. */
export interface CallOptions {
  /** Time limit of this call in milliseconds; overrides the tool's and the bridge's. */
  timeoutMs?: number;
  /** `false` skips the result cache for this call (neither read nor written). @default true */
  cache?: boolean;
  /** Aborts the call: it rejects with `ABORTED` and a tool still running is told, then stopped. */
  signal?: AbortSignal;
}

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

/**
 * Emits a bridge event. A listener is an observer: one that throws is reported as a process warning (code
 * `TOOLBRIDGE_LISTENER`), and the call or the pool that raised the event goes on as if it had not.
 */
function emitSafely(events: EventEmitter, name: keyof BridgeEvents, event?: unknown): void {
  try {
    events.emit(name, event);
  } catch (error) {
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.emitWarning(`a '${name}' listener threw: ${detail}`, { code: 'TOOLBRIDGE_LISTENER' });
  }
}

/** Checks a call's options: an object of known keys, a signal that is an AbortSignal, a boolean `cache`. */
function checkCallOptions(options: CallOptions): void {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionsError(`call options must be an object, got ${describeValue(options)}`);
  }
  checkKnownKeys('options', options, CALL_KEYS);
  const { signal, cache } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidOptionsError(`options.signal must be an AbortSignal, got ${describeValue(signal)}`);
  }
  if (cache !== undefined && typeof cache !== 'boolean') {
    throw new InvalidOptionsError(`options.cache must be a boolean, got ${describeValue(cache)}`);
  }
}

/** The wait `close()` allows, checked: a non-negative number of ms, or Infinity. */
function checkCloseOptions(options: CloseOptions | undefined): number {
  if (options === undefined) return Infinity;
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionsError(`close options must be an object, got ${describeValue(options)}`);
  }
  checkKnownKeys('options', options, ['timeoutMs']);
  const { timeoutMs = Infinity } = options;
  if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) {
    throw new InvalidOptionsError(
      `options.timeoutMs must be a non-negative number of milliseconds or Infinity, got ${describeValue(timeoutMs)}`,
    );
  }
  return timeoutMs;
}

const CALL_KEYS = ['timeoutMs', 'cache', 'signal'] as const satisfies ReadonlyArray<keyof CallOptions>;

let nextCallMessageId = 1;
let nextBridgeId = 1;

/** A timing holder the runner fills (negative until it does). */
const newTiming = (): CallTiming => ({ waitMs: -1, runMs: -1, codecMs: -1 });

/** A running bridge: see {@link createBridge}. */
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
   * Waits for the calls in flight, then stops the workers. Later calls reject with `CLOSED`. With
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

const NO_CACHE: CacheStats = Object.freeze({
  hits: 0,
  misses: 0,
  hitRate: 0,
  entries: 0,
  bytes: 0,
  evictions: 0,
  timeSavedMs: 0,
  skipped: 0,
});

class ToolBridge implements Bridge {
  readonly #events: EventEmitter;
  readonly #options: ResolvedOptions;
  readonly #pools: ReadonlyMap<string, LocalPool>;
  readonly #catalog: ToolCatalog;
  readonly #stats: StatsRecorder;
  readonly #telemetry: ResolvedTelemetry;
  readonly #slowCallMs: number;
  readonly #runner: CallRunner;
  readonly #micro = new Map<string, MicroBatcher>();
  readonly #cache: ResultCache | undefined;
  readonly cache: { clear(): void };
  readonly id = nextBridgeId++;
  #inFlight = 0;
  #closing: Promise<void> | undefined;
  #destroying: Promise<void> | undefined;
  #idle: (() => void) | undefined;

  constructor(
    options: ResolvedOptions,
    pools: ReadonlyMap<string, LocalPool>,
    tools: readonly ToolInfo[],
    events: EventEmitter,
  ) {
    this.#events = events;
    this.#options = options;
    this.#pools = pools;
    this.#telemetry = options.telemetry;
    this.#slowCallMs = options.telemetry.enabled ? options.telemetry.slowCallMs : Infinity;
    this.#stats = new StatsRecorder(options.telemetry.enabled);
    this.#catalog = new ToolCatalog(tools);
    this.#cache = options.cache ? new ResultCache(options.cache) : undefined;
    this.cache = Object.freeze({ clear: () => this.#cache?.clear() });
    this.#runner = new CallRunner(
      (info) => pools.get(info.pool)!,
      { msgpackThreshold: options.msgpackThreshold },
      this.#stats,
      () => this.#catalog.names(),
    );
  }

  call<R = unknown>(tool: string, args?: unknown, options?: CallOptions): Promise<R> {
    if (this.#telemetry.enabled && (callStart.hasSubscribers || callEnd.hasSubscribers || callError.hasSubscribers)) {
      return this.#traced(tool, args, options) as Promise<R>;
    }
    return this.#call(tool, args, options, undefined) as Promise<R>;
  }

  /** A call published on the `toolbridge:call:*` diagnostics channels. */
  async #traced(tool: string, args: unknown, options: CallOptions | undefined): Promise<unknown> {
    const message: CallMessage = { bridge: this.id, tool, id: nextCallMessageId++, startTime: performance.now() };
    callStart.publish(message);
    const timing = newTiming();
    try {
      const value = await this.#call(tool, args, options, timing);
      message.durationMs = performance.now() - message.startTime;
      if (timing.runMs >= 0) message.phases = timing;
      callEnd.publish(message);
      return value;
    } catch (error) {
      message.durationMs = performance.now() - message.startTime;
      if (timing.runMs >= 0) message.phases = timing;
      message.error = error;
      callError.publish(message);
      throw error;
    }
  }

  #call(
    tool: string,
    args: unknown,
    options: CallOptions | undefined,
    timing: CallTiming | undefined,
  ): Promise<unknown> {
    if (this.#closing) return Promise.reject(new ClosedError());
    const info = this.#catalog.get(tool);
    if (info === undefined) return Promise.reject(this.#catalog.notFound(tool));
    const signal = options?.signal;
    let timeoutMs: number;
    try {
      if (options !== undefined) checkCallOptions(options);
      if (signal?.aborted) return Promise.reject(new AbortedError(tool, signal.reason));
      timeoutMs = this.#limitOf(info, options?.timeoutMs);
    } catch (error) {
      return Promise.reject(error);
    }
    const hash = this.#cache && info.idempotent && options?.cache !== false ? this.#hash(args) : undefined;
    if (this.#cache && hash !== undefined) {
      const run = () => this.#run(info, args, timeoutMs, signal, timing);
      const key = `${info.name}@${info.version}:${hash}`;
      const start = performance.now();
      let ran = false;
      const result = this.#cache.get(key, () => ((ran = true), run()));
      if (this.#telemetry.enabled) {
        const channel = ran ? cacheMiss : cacheHit;
        if (channel.hasSubscribers) channel.publish({ tool } satisfies CacheMessage);
      }
      // Calls answered from the cache (or by an identical call in flight) are counted here; the others
      // where they ran.
      const count = (failed: boolean) => ran || this.#stats.call(tool, performance.now() - start, failed);
      result.then(
        () => count(false),
        (error: unknown) => count(isFailure(error)),
      );
      return this.#track(result);
    }
    if (info.batch) return this.#track(this.#run(info, args, timeoutMs, signal, timing));
    return this.#runTimed(info, args, timeoutMs, signal, timing);
  }

  /** The content hash of args for the cache, or undefined when they are too large to hash (counted). */
  #hash(args: unknown): string | undefined {
    const hash = hashArgs(args, this.#cache!.maxArgBytes);
    if (hash === undefined) this.#cache!.skip();
    return hash;
  }

  /** Runs one call, through the tool's micro-batcher if it has one. */
  #run(
    info: ToolInfo,
    args: unknown,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    timing: CallTiming | undefined,
  ): Promise<unknown> {
    if (info.batch) return this.#microBatcher(info).add(args, timeoutMs, signal);
    return this.#runTimed(info, args, timeoutMs, signal, timing);
  }

  /** One call straight to the pool, counted in the stats. (The hot path: no promise but the runner's.) */
  #runTimed(
    info: ToolInfo,
    args: unknown,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    timing: CallTiming | undefined,
  ): Promise<unknown> {
    this.#inFlight++;
    const phases = timing ?? (this.#slowCallMs !== Infinity ? newTiming() : undefined);
    return this.#runner.runOne(info, args, timeoutMs, signal, phases, (ms, failed) => {
      this.#settled();
      this.#stats.call(info.name, ms, failed);
      if (ms > this.#slowCallMs) this.#slowCall(info.name, ms, phases, args);
    });
  }

  #slowCall(tool: string, durationMs: number, phases: CallTiming | undefined, args: unknown): void {
    const event: SlowCallEvent = {
      tool,
      durationMs,
      ...(phases && phases.runMs >= 0 ? { phases: { ...phases } } : {}),
      args: shapeOf(args),
    };
    emitSafely(this.#events, 'slowCall', event);
  }

  async batch<R = unknown>(calls: readonly BatchCall[], options?: BatchOptions): Promise<Array<BatchEntry<R>>> {
    const checked = this.#checkBatch(calls, options);
    const entries = new Array<BatchEntry<R>>(calls.length);
    await this.#track(this.#runBatch(calls, checked, (index, outcome) => (entries[index] = outcome as BatchEntry<R>)));
    return entries;
  }

  async *stream<R = unknown>(calls: readonly BatchCall[], options?: BatchOptions): AsyncGenerator<StreamEntry<R>> {
    const checked = this.#checkBatch(calls, options);
    const internal = new AbortController();
    const forward = () => internal.abort(checked.signal?.reason);
    if (checked.signal?.aborted) forward();
    else checked.signal?.addEventListener('abort', forward, { once: true });
    const ready: Array<StreamEntry<R>> = [];
    let wake: (() => void) | undefined;
    let finished = false;
    const running = this.#track(
      this.#runBatch(calls, { ...checked, signal: internal.signal }, (index, outcome) => {
        ready.push({ index, ...(outcome as Outcome<R>) });
        wake?.();
      }),
    ).finally(() => {
      finished = true;
      wake?.();
    });
    try {
      let read = 0;
      for (;;) {
        while (read < ready.length) {
          const entry = ready[read]!;
          ready[read++] = undefined as never; // let yielded values go
          yield entry;
        }
        if (finished) break;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
      await running;
    } finally {
      checked.signal?.removeEventListener('abort', forward);
      // The consumer stopped early: abort what is left, so no work runs for nobody.
      if (!finished) internal.abort(new Error('the stream was closed by its consumer'));
    }
  }

  tools(): ToolInfo[] {
    return this.#catalog.list();
  }

  on<E extends keyof BridgeEvents>(event: E, listener: BridgeEvents[E]): this {
    this.#events.on(event, listener);
    return this;
  }

  once<E extends keyof BridgeEvents>(event: E, listener: BridgeEvents[E]): this {
    this.#events.once(event, listener);
    return this;
  }

  off<E extends keyof BridgeEvents>(event: E, listener: BridgeEvents[E]): this {
    this.#events.off(event, listener);
    return this;
  }

  stats(): BridgeStats {
    const pools = [...this.#pools.values()];
    const codecs: CodecCounts = { shared: 0, arrow: 0, clone: 0, msgpack: 0, copied: 0 };
    if (this.#telemetry.enabled) {
      for (const pool of pools) {
        const counts = pool.codecs();
        for (const key of Object.keys(codecs) as Array<keyof CodecCounts>) codecs[key] += counts[key];
      }
    }
    return this.#stats.snapshot(this.#cache?.stats() ?? NO_CACHE, {
      recycles: pools.map((pool) => pool.recycles()),
      workers: pools.flatMap((pool) => pool.workers()),
      pools: Object.fromEntries(pools.map((pool) => [pool.name, pool.snapshot()])),
      codecs,
    });
  }

  health(): HealthReport {
    return judgeHealth(
      {
        stats: this.stats(),
        recent: this.#stats.recent(),
        failing: [...this.#pools.values()].filter((pool) => !pool.serving).map((pool) => pool.name),
        closed: this.#closing !== undefined,
      },
      this.#telemetry.budgets,
    );
  }

  report(): string {
    return renderReport(this.stats());
  }

  metrics(): string {
    return renderMetrics(this.stats(), this.#stats.distributions());
  }

  async recycle(): Promise<void> {
    if (this.#closing) throw new ClosedError();
    await Promise.all([...this.#pools.values()].map((pool) => pool.recycle()));
  }

  close(options?: CloseOptions): Promise<void> {
    let timeoutMs: number;
    try {
      timeoutMs = checkCloseOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    this.#closing ??= (async () => {
      for (const batcher of this.#micro.values()) batcher.flush();
      if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
      this.#runner.markClosing();
      await Promise.all([...this.#pools.values()].map((pool) => pool.close()));
      setCeiling(this, undefined);
    })();
    if (timeoutMs === Infinity) return this.#closing;
    if (timeoutMs === 0) return this.#destroy();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.#destroy().then(resolve, reject), timeoutMs);
      this.#closing!.then(
        () => (clearTimeout(timer), resolve()),
        (error: unknown) => (clearTimeout(timer), reject(error)),
      );
    });
  }

  destroy(): Promise<void> {
    const stopped = this.#destroy();
    // A close() after this resolves when the workers have stopped, as this does.
    this.#closing ??= stopped;
    return stopped;
  }

  /** Stops every worker now; what is in flight or queued rejects with `CLOSED`. */
  #destroy(): Promise<void> {
    this.#destroying ??= (async () => {
      for (const batcher of this.#micro.values()) batcher.flush();
      this.#runner.markClosing();
      await Promise.all([...this.#pools.values()].map((pool) => pool.destroy()));
      setCeiling(this, undefined);
      // A graceful close waiting for calls no worker will answer now is told to go on.
      this.#idle?.();
    })();
    return this.#destroying;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #limitOf(info: ToolInfo, timeoutMs: number | undefined): number {
    if (timeoutMs === undefined) return info.timeoutMs ?? this.#options.timeoutMs;
    return checkTimeout('options.timeoutMs', timeoutMs);
  }

  #checkBatch(calls: readonly BatchCall[], options: BatchOptions | undefined): BatchOptions {
    if (this.#closing) throw new ClosedError();
    if (!Array.isArray(calls)) throw new InvalidOptionsError(`calls must be an array, got ${describeValue(calls)}`);
    return checkBatchOptions(options);
  }

  #runBatch(calls: readonly BatchCall[], options: BatchOptions, emit: (index: number, outcome: Outcome) => void) {
    const context = {
      runner: this.#runner,
      stats: this.#stats,
      catalog: this.#catalog,
      poolOf: (info: ToolInfo) => {
        const { maxThreads, maxQueue } = this.#options.pools.get(info.pool)!;
        return { threads: maxThreads, maxQueue };
      },
      limitOf: (info: ToolInfo, timeoutMs: number | undefined) => this.#limitOf(info, timeoutMs),
    };
    return runBatch(context, calls, options, emit);
  }

  #microBatcher(info: ToolInfo): MicroBatcher {
    let batcher = this.#micro.get(info.name);
    if (batcher === undefined)
      this.#micro.set(info.name, (batcher = new MicroBatcher(info, this.#runner, this.#stats)));
    return batcher;
  }

  /** Counts an operation in flight until it settles, so that close() can wait for it. */
  #track<T>(operation: Promise<T>): Promise<T> {
    this.#inFlight++;
    const done = () => this.#settled();
    operation.then(done, done);
    return operation;
  }

  #settled(): void {
    if (--this.#inFlight === 0) this.#idle?.();
  }
}

/**
 * Starts a pool of worker threads with the built-in tools and the given tool modules loaded, and resolves
 * once the first worker of each pool has loaded them (the others go on starting). A module that fails to load rejects with `TOOL_LOAD_FAILED`
 * naming it; two tools of one name reject with `DUPLICATE_TOOL`.
 *
 * @example
 * const bridge = await createBridge({ tools: [new URL('./my-tools.js', import.meta.url)] });
 * const y = await bridge.call('my.scale', { x, k: 2 });
 * await bridge.close();
 */
export async function createBridge(options?: BridgeOptions): Promise<Bridge> {
  const loading = loadingModule();
  if (loading !== undefined) {
    const reason = `createBridge() was called while a toolbridge worker imported the tool module ${loading}: a tool module must not start a bridge (each worker would start workers of its own). Does a script pass its own URL in \`tools\`? Move its tools to a module of their own.`;
    refuseWhileLoading(reason);
    throw new InvalidOptionsError(reason);
  }
  const resolved = resolveOptions(options);
  if (resolved.cache) await loadHasher();
  const events = new EventEmitter();
  const pools = new Map<string, LocalPool>();
  for (const pool of resolved.pools.values()) {
    pools.set(
      pool.name,
      new LocalPool({
        pool,
        checkModules: pool.name === DEFAULT_POOL,
        startTimeoutMs: resolved.startTimeoutMs,
        runtime: {
          modules: [...resolved.modules],
          msgpackThreshold: resolved.msgpackThreshold,
          ledger: ledger().memory,
        },
        onDrain: () => emitSafely(events, 'drain'),
        onRecycle: (event) => {
          emitSafely(events, 'recycle', event);
          if (resolved.telemetry.enabled && workerRecycle.hasSubscribers) workerRecycle.publish(event);
        },
        onWorkerExit: (event) => emitSafely(events, 'workerExit', event),
      }),
    );
  }
  let tools: ToolInfo[];
  try {
    const started = await Promise.all([...pools.values()].map((pool) => pool.discover()));
    tools = started[0]!;
    const unknown = tools.find((tool) => !pools.has(tool.pool));
    if (unknown) {
      throw new InvalidOptionsError(
        `Tool "${unknown.name}" runs in pool "${unknown.pool}", which createBridge({ pools }) does not define (pools: ${[...pools.keys()].join(', ')})`,
      );
    }
  } catch (error) {
    await Promise.all([...pools.values()].map((pool) => pool.destroy().catch(() => undefined)));
    throw error;
  }
  const bridge = new ToolBridge(resolved, pools, tools, events);
  if (resolved.maxSharedMb !== Infinity) setCeiling(bridge, resolved.maxSharedMb);
  return bridge;
}

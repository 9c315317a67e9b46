import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Bridge, BridgeEvents, CloseOptions, SlowCallEvent } from './bridge-api.js';
import type { BatchCall, BatchEntry, BatchOptions, StreamEntry } from './batch/batch-executor.js';
import { loadHasher } from './cache/content-hash.js';
import { ResultCache, type CacheStats } from './cache/result-cache.js';
import { CallPipeline, newTiming, type BroadcastOptions, type CallOptions } from './call/pipeline.js';
import { outcomeAt, type ChunkOutcomes, type Outcome } from './call/chunk-calls.js';
import { CallTransport, type BroadcastEntry, type CallTiming } from './call/transport.js';
import { ClosedError, InvalidOptionsError, describeValue } from './errors.js';
import { resolveOptions, type BridgeOptions, type ResolvedOptions, type ResolvedTelemetry } from './options.js';
import { checkKnownKeys } from './known-keys.js';
import type { PoolBackend } from './dispatch/dispatcher.js';
import { ToolCatalog } from './registry/catalog.js';
import { setCeiling } from './memory/ledger.js';
import type { CodecCounts } from './telemetry/events.js';
import { callEnd, callError, callStart, type CallMessage } from './telemetry/channels.js';
import { judgeHealth, type HealthReport } from './telemetry/health.js';
import { renderMetrics } from './telemetry/prometheus.js';
import { renderReport } from './telemetry/report.js';
import { shapeOf } from './codec/shape.js';
import { StatsRecorder, type BridgeStats, type HostStats } from './telemetry/stats.js';
import type { ToolInfo } from './tool/define.js';
import type { SessionInfo } from './tool/session.js';
import type { Session } from './session/client.js';
import { Sessions, type OpenOptions } from './session/sessions.js';

export type { CallOptions };
export type { Bridge, BridgeEvents, CloseOptions, SlowCallEvent } from './bridge-api.js';

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

let nextCallMessageId = 1;
let nextBridgeId = 1;

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

/** A bridge over running pools; made by `createBridge()` (local pools) or {@link bridgeOver}. */
export class ToolBridge implements Bridge {
  readonly #events: EventEmitter;
  readonly #pools: ReadonlyMap<string, PoolBackend>;
  readonly #catalog: ToolCatalog;
  readonly #stats: StatsRecorder;
  readonly #telemetry: ResolvedTelemetry;
  readonly #transport: CallTransport;
  readonly #pipeline: CallPipeline;
  readonly #cache: ResultCache | undefined;
  readonly #sessions: Sessions;
  readonly cache: { clear(): void };
  readonly id = nextBridgeId++;
  #inFlight = 0;
  #closing: Promise<void> | undefined;
  #destroying: Promise<void> | undefined;
  #idle: (() => void) | undefined;

  constructor(
    options: ResolvedOptions,
    pools: ReadonlyMap<string, PoolBackend>,
    tools: readonly ToolInfo[],
    events: EventEmitter,
    sessions: readonly SessionInfo[],
  ) {
    this.#events = events;
    this.#pools = pools;
    this.#telemetry = options.telemetry;
    this.#stats = new StatsRecorder(options.telemetry.enabled);
    this.#catalog = new ToolCatalog(tools);
    this.#cache = options.cache ? new ResultCache(options.cache) : undefined;
    this.cache = Object.freeze({ clear: () => this.#cache?.clear() });
    this.#transport = new CallTransport(
      (info) => pools.get(info.pool)!,
      options.codec,
      this.#stats,
      () => this.#catalog.names(),
    );
    this.#sessions = new Sessions(sessions, {
      policy: options.codec,
      stats: this.#stats,
      timeoutMs: options.timeoutMs,
      pools,
    });
    this.#pipeline = new CallPipeline(options, this.#catalog, this.#cache, this.#stats, this.#transport, {
      began: () => this.#inFlight++,
      ended: () => this.#settled(),
      slowCall: (tool, ms, phases, args) => this.#slowCall(tool, ms, phases, args),
    });
  }

  call<R = unknown>(tool: string, args?: unknown, options?: CallOptions): Promise<R> {
    if (this.#telemetry.enabled && (callStart.hasSubscribers || callEnd.hasSubscribers || callError.hasSubscribers)) {
      return this.#traced(tool, args, options) as Promise<R>;
    }
    return this.#pipeline.call(tool, args, options) as Promise<R>;
  }

  /** A call published on the `toolbridge:call:*` diagnostics channels. */
  async #traced(tool: string, args: unknown, options: CallOptions | undefined): Promise<unknown> {
    const message: CallMessage = { bridge: this.id, tool, id: nextCallMessageId++, startTime: performance.now() };
    callStart.publish(message);
    const timing = newTiming();
    try {
      const value = await this.#pipeline.call(tool, args, options, timing);
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
    const checked = this.#pipeline.checkBatch(calls, options);
    // The chunks' outcomes are kept as they come, and the entries made once, at the end: an object per call
    // made as its chunk arrives, and kept in one large array, costs the garbage collector more than the
    // objects themselves.
    const parts: Array<[ArrayLike<number>, ChunkOutcomes]> = [];
    await this.#pipeline.batch(calls, checked, (indices, outcomes) => parts.push([indices, outcomes]));
    const entries = new Array<BatchEntry<R>>(calls.length);
    for (const [indices, outcomes] of parts) {
      for (let k = 0; k < indices.length; k++) entries[indices[k]!] = outcomeAt(outcomes, k) as BatchEntry<R>;
    }
    return entries;
  }

  async *stream<R = unknown>(calls: readonly BatchCall[], options?: BatchOptions): AsyncGenerator<StreamEntry<R>> {
    const checked = this.#pipeline.checkBatch(calls, options);
    const internal = new AbortController();
    const forward = () => internal.abort(checked.signal?.reason);
    if (checked.signal?.aborted) forward();
    else checked.signal?.addEventListener('abort', forward, { once: true });
    const ready: Array<StreamEntry<R>> = [];
    let wake: (() => void) | undefined;
    let finished = false;
    const running = this.#pipeline
      .batch(calls, { ...checked, signal: internal.signal }, (indices, outcomes) => {
        for (let k = 0; k < indices.length; k++) {
          ready.push({ index: indices[k]!, ...(outcomeAt(outcomes, k) as Outcome<R>) });
        }
        wake?.();
      })
      .finally(() => {
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

  open<T = Record<string, (...args: never[]) => unknown>>(
    name: string,
    args?: unknown,
    options?: OpenOptions,
  ): Promise<Session<T>> {
    if (this.#closing) return Promise.reject(new ClosedError());
    return this.#sessions.open(name, args, options) as Promise<Session<T>>;
  }

  sessions(): SessionInfo[] {
    return this.#sessions.list();
  }

  broadcast<R = unknown>(tool: string, args?: unknown, options?: BroadcastOptions): Promise<Array<BroadcastEntry<R>>> {
    return this.#pipeline.broadcast(tool, args, options) as Promise<Array<BroadcastEntry<R>>>;
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
      hosts: Object.assign({}, ...pools.map((pool) => pool.hosts?.() ?? {})) as Record<string, HostStats>,
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
      this.#pipeline.close();
      if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
      await this.#sessions.closeAll();
      this.#transport.markClosing();
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
      this.#pipeline.close();
      this.#sessions.abandonAll();
      this.#transport.markClosing();
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

  #settled(): void {
    if (--this.#inFlight === 0) this.#idle?.();
  }
}

/**
 * A bridge over pools that are already running (the local pools, or a remote backend's): the call pipeline,
 * cache, telemetry and lifecycle, the same whatever carries the calls. Resolves the options itself.
 */
export async function bridgeOver(
  options: BridgeOptions,
  pools: ReadonlyMap<string, PoolBackend>,
  tools: readonly ToolInfo[],
  events = new EventEmitter(),
): Promise<Bridge> {
  const resolved = resolveOptions(options);
  if (resolved.cache) await loadHasher();
  return new ToolBridge(resolved, pools, tools, events, []);
}

/** Emits a bridge event on `events` (for a backend that raises `drain` and the like). */
export const emitBridgeEvent = (events: EventEmitter, name: keyof BridgeEvents, event?: unknown): void =>
  emitSafely(events, name, event);

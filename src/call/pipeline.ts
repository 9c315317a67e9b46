/**
 * One call, top to bottom: look the tool up -> validate the options -> the result cache -> encode ->
 * dispatch -> decode -> record. `bridge.call` runs `call`; micro-batch chunks and `bridge.batch` chunks
 * run the same encode -> dispatch -> decode steps through `transport.runChunk`, and record here.
 */
import { performance } from 'node:perf_hooks';
import {
  checkBatchOptions,
  runBatch,
  type BatchCall,
  type BatchContext,
  type BatchEmit,
  type BatchOptions,
} from '../batch/batch-executor.js';
import { MicroBatcher } from '../batch/micro-batcher.js';
import { hashArgs } from '../cache/content-hash.js';
import type { ResultCache } from '../cache/result-cache.js';
import { AbortedError, ClosedError, InvalidOptionsError, describeValue, isFailure } from '../errors.js';
import { checkKnownKeys } from '../known-keys.js';
import { checkTimeout } from '../option-checks.js';
import type { ResolvedOptions } from '../options.js';
import type { ToolCatalog } from '../registry/catalog.js';
import { cacheHit, cacheMiss, type CacheMessage } from '../telemetry/channels.js';
import type { StatsRecorder } from '../telemetry/stats.js';
import type { Progress, ToolInfo } from '../tool/define.js';
import type { BroadcastEntry, CallTiming, CallTransport, Route } from './transport.js';
import { ArgsSchemas } from '../schema/args-schema.js';

/** Options of `bridge.broadcast`. */
export interface BroadcastOptions {
  /** Also run the call on every worker of the pool started later, before it takes any other call. @default false */
  sticky?: boolean;
  /**
   * Each worker's time limit in ms: past it that worker's entry is `TIMEOUT` (the worker is stopped and
   * replaced, as for a call). @default the tool's `timeoutMs`, else the bridge's
   */
  timeoutMs?: number;
}

/** Options of one call. */
export interface CallOptions {
  /** Time limit of this call in milliseconds; overrides the tool's and the bridge's. */
  timeoutMs?: number;
  /** `false` skips the result cache for this call (neither read nor written). @default true */
  cache?: boolean;
  /** Aborts the call: it rejects with `ABORTED` and a tool still running is told, then stopped. */
  signal?: AbortSignal;
  /**
   * A remote bridge (`toolbridge/nats`) sends the call through its durable queue: it survives its host's
   * death. A local bridge runs it as any other call. @default false (or `connect({ durable })`)
   */
  durable?: boolean;
  /** Receives the tool's `ctx.progress(done, total?, message?)` reports while the call runs. */
  onProgress?: (progress: Progress) => void;
  /**
   * Runs calls with the same key on the same worker while it lives (a worker keeping a per-key cache warm,
   * say). A hint: when that worker is busy for more than a few ms, or gone, another one takes the call,
   * and the key moves there. Such a call is not micro-batched. A remote bridge ignores it.
   */
  affinity?: string | number;
}

const CALL_KEYS = [
  'timeoutMs',
  'cache',
  'signal',
  'durable',
  'onProgress',
  'affinity',
] as const satisfies ReadonlyArray<keyof CallOptions>;

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
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw new InvalidOptionsError(`options.onProgress must be a function, got ${describeValue(options.onProgress)}`);
  }
  if (options.durable !== undefined && typeof options.durable !== 'boolean') {
    throw new InvalidOptionsError(`options.durable must be a boolean, got ${describeValue(options.durable)}`);
  }
  const { affinity } = options;
  if (
    affinity !== undefined &&
    !(typeof affinity === 'string' || (typeof affinity === 'number' && Number.isFinite(affinity)))
  ) {
    throw new InvalidOptionsError(
      `options.affinity must be a string or a finite number, got ${describeValue(affinity)}`,
    );
  }
}

/** What the pipeline tells its owner (the bridge): calls in flight, and slow calls. */
export interface PipelineHooks {
  /** A call started; `ended` is called once when it settles (so that close() can wait for it). */
  began(): void;
  ended(): void;
  /** A call took longer than `telemetry.slowCallMs`. */
  slowCall(tool: string, durationMs: number, phases: CallTiming | undefined, args: unknown): void;
}

export class CallPipeline {
  readonly #options: ResolvedOptions;
  readonly #catalog: ToolCatalog;
  readonly #cache: ResultCache | undefined;
  readonly #stats: StatsRecorder;
  readonly #transport: CallTransport;
  readonly #hooks: PipelineHooks;
  readonly #slowCallMs: number;
  readonly #micro = new Map<string, MicroBatcher>();
  #closed = false;

  constructor(
    options: ResolvedOptions,
    catalog: ToolCatalog,
    cache: ResultCache | undefined,
    stats: StatsRecorder,
    transport: CallTransport,
    hooks: PipelineHooks,
  ) {
    this.#options = options;
    this.#catalog = catalog;
    this.#cache = cache;
    this.#stats = stats;
    this.#transport = transport;
    this.#hooks = hooks;
    this.#slowCallMs = options.telemetry.enabled ? options.telemetry.slowCallMs : Infinity;
  }

  /** No call is taken from now on (`CLOSED`); what waits in micro-batches is sent. */
  close(): void {
    this.#closed = true;
    for (const batcher of this.#micro.values()) batcher.flush();
  }

  #schemas: ArgsSchemas | undefined;

  /** One call. `timing`, when given, receives the phases of the task that answered. */
  call(tool: string, args: unknown, options: CallOptions | undefined, timing?: CallTiming): Promise<unknown> {
    // 1. look up
    if (this.#closed) return Promise.reject(new ClosedError());
    const info = this.#catalog.get(tool);
    if (info === undefined) return Promise.reject(this.#catalog.notFound(tool));
    // 2. validate
    const signal = options?.signal;
    let timeoutMs: number;
    try {
      if (options !== undefined) checkCallOptions(options);
      if (signal?.aborted) return Promise.reject(new AbortedError(tool, signal.reason));
      timeoutMs = this.limitOf(info, options?.timeoutMs);
      // The tool's input schema, on this thread: a call that fails it never reaches a worker.
      if (info.inputSchema) args = (this.#schemas ??= new ArgsSchemas()).checkTool(info, args);
    } catch (error) {
      return Promise.reject(error);
    }
    // 3. cache
    const hash = this.#cache && info.idempotent && options?.cache !== false ? this.#hash(args) : undefined;
    if (hash !== undefined) return this.#cached(info, hash, args, timeoutMs, signal, timing, options);
    // 4-7. encode, dispatch, decode, record (a call with an affinity key goes as a task of its own)
    if (info.batch && options?.affinity === undefined) {
      return this.#tracked(this.#run(info, args, timeoutMs, signal, timing, options));
    }
    return this.#runOne(info, args, timeoutMs, signal, timing, options);
  }

  /** Runs one call on every live worker of the tool's pool (`bridge.broadcast`). */
  broadcast(tool: string, args: unknown, options: BroadcastOptions | undefined): Promise<BroadcastEntry[]> {
    if (this.#closed) return Promise.reject(new ClosedError());
    const info = this.#catalog.get(tool);
    if (info === undefined) return Promise.reject(this.#catalog.notFound(tool));
    try {
      if (options !== undefined) {
        if (options === null || typeof options !== 'object') {
          throw new InvalidOptionsError(`broadcast options must be an object, got ${describeValue(options)}`);
        }
        checkKnownKeys('options', options, ['sticky', 'timeoutMs']);
        if (options.sticky !== undefined && typeof options.sticky !== 'boolean') {
          throw new InvalidOptionsError(`options.sticky must be a boolean, got ${describeValue(options.sticky)}`);
        }
      }
      if (info.inputSchema) {
        args = (this.#schemas ??= new ArgsSchemas()).checkTool(info, args);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    let timeoutMs: number;
    try {
      timeoutMs = this.limitOf(info, options?.timeoutMs);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#tracked(this.#transport.broadcast(info, args, options?.sticky === true, timeoutMs));
  }

  /** The time limit of a call of `info` given its own `timeoutMs` (validated; throws INVALID_OPTIONS). */
  limitOf(info: ToolInfo, timeoutMs: number | undefined): number {
    if (timeoutMs === undefined) return info.timeoutMs ?? this.#options.timeoutMs;
    return checkTimeout('options.timeoutMs', timeoutMs);
  }

  /** Checks a batch's calls and options before any runs. */
  checkBatch(calls: readonly BatchCall[], options: BatchOptions | undefined): BatchOptions {
    if (this.#closed) throw new ClosedError();
    if (!Array.isArray(calls)) throw new InvalidOptionsError(`calls must be an array, got ${describeValue(calls)}`);
    return checkBatchOptions(options);
  }

  /** Runs a batch's calls in chunks, grouped by tool; `emit` gets each call's outcome as it is known. */
  batch(calls: readonly BatchCall[], options: BatchOptions, emit: BatchEmit) {
    const context: BatchContext = {
      transport: this.#transport,
      stats: this.#stats,
      catalog: this.#catalog,
      poolOf: (info) => {
        const { maxThreads, maxQueue } = this.#options.pools.get(info.pool)!;
        return { threads: maxThreads, maxQueue };
      },
      limitOf: (info, timeoutMs) => this.limitOf(info, timeoutMs),
      checkArgs: (info, args) => (this.#schemas ??= new ArgsSchemas()).checkTool(info, args),
    };
    return this.#tracked(runBatch(context, calls, options, emit));
  }

  /** A call of an idempotent tool: answered from the cache, by an identical call in flight, or run. */
  #cached(
    info: ToolInfo,
    hash: string,
    args: unknown,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    timing: CallTiming | undefined,
    route: Route | undefined,
  ): Promise<unknown> {
    const tool = info.name;
    const key = `${tool}@${info.version}:${hash}`;
    const start = performance.now();
    let ran = false;
    const result = this.#cache!.get(key, () => ((ran = true), this.#run(info, args, timeoutMs, signal, timing, route)));
    if (this.#options.telemetry.enabled) {
      const channel = ran ? cacheMiss : cacheHit;
      if (channel.hasSubscribers) channel.publish({ tool } satisfies CacheMessage);
    }
    // Calls answered from the cache (or by an identical call in flight) are recorded here; the others
    // where they ran.
    const record = (failed: boolean) => ran || this.#stats.call(tool, performance.now() - start, failed);
    result.then(
      () => record(false),
      (error: unknown) => record(isFailure(error)),
    );
    return this.#tracked(result);
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
    route: Route | undefined,
  ): Promise<unknown> {
    if (info.batch && route?.affinity === undefined) return this.#microBatcher(info).add(args, timeoutMs, signal);
    return this.#runOne(info, args, timeoutMs, signal, timing, route);
  }

  /** One call as a task of its own, recorded when it ends. (The hot path: no promise but the transport's.) */
  #runOne(
    info: ToolInfo,
    args: unknown,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    timing: CallTiming | undefined,
    route?: Route,
  ): Promise<unknown> {
    this.#hooks.began();
    const phases = timing ?? (this.#slowCallMs !== Infinity ? newTiming() : undefined);
    const onEnd = (ms: number, failed: boolean) => {
      this.#hooks.ended();
      this.#stats.call(info.name, ms, failed);
      if (ms > this.#slowCallMs) this.#hooks.slowCall(info.name, ms, phases, args);
    };
    return this.#transport.runOne(info, args, timeoutMs, signal, phases, onEnd, route);
  }

  #microBatcher(info: ToolInfo): MicroBatcher {
    let batcher = this.#micro.get(info.name);
    if (batcher === undefined) {
      batcher = new MicroBatcher(info, this.#transport, this.#stats);
      this.#micro.set(info.name, batcher);
    }
    return batcher;
  }

  /** Counts an operation in flight until it settles. */
  #tracked<T>(operation: Promise<T>): Promise<T> {
    this.#hooks.began();
    const ended = () => this.#hooks.ended();
    operation.then(ended, ended);
    return operation;
  }
}

/** A timing record to fill in; `runMs` stays -1 when no task of the call's own ran (a cache hit). */
export function newTiming(): CallTiming {
  return { waitMs: -1, runMs: -1, codecMs: -1 };
}

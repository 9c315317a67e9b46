import { availableParallelism } from 'node:os';
import type { CacheOptions } from './cache/result-cache.js';
import type { CodecPolicy } from './codec/message.js';
import { InvalidOptionsError, describeValue } from './errors.js';
import { checkKnownKeys } from './known-keys.js';
import {
  checkInteger,
  checkLimit,
  checkMaxArgBytes,
  checkMaxQueue,
  checkObject,
  checkTimeout,
  toModuleUrl,
} from './option-checks.js';
import type { HealthBudgets } from './telemetry/health.js';
import { DEFAULT_POOL, POOL_NAME } from './tool/define.js';

/** Options of {@link createBridge}. */
export interface BridgeOptions {
  /**
   * Tool modules to load in every worker: `URL`s, `file:` URL strings, or file paths (relative ones are
   * resolved against the current directory). Every export that
   * is a tool definition is registered (a default export of a tool or of an array of tools too).
   * Built-in tools are always registered.
   * @default []
   */
  tools?: ReadonlyArray<string | URL>;
  /**
   * Worker threads started before `createBridge` resolves and kept while idle.
   * @default maxThreads
   */
  minThreads?: number;
  /**
   * Most worker threads; numeric tools are CPU-bound, so more threads than cores rarely helps.
   * @default os.availableParallelism()
   */
  maxThreads?: number;
  /**
   * Default time limit of a call in milliseconds, when neither the call nor the tool sets one.
   * `Infinity` for none.
   * @default Infinity
   */
  timeoutMs?: number;
  /**
   * Most calls waiting for a thread (beyond those running). A call past it is refused at once with
   * `QUEUE_FULL` instead of queueing without end; `bridge.on('drain')` tells when the queue has emptied.
   * The default is 1024 per thread: at the ~10k no-op calls/s two threads serve on a small machine that
   * is a fraction of a second of waiting, and far more for real tools, past which a caller is better told
   * to back off than kept waiting. `Infinity` for no bound.
   * @default 1024 * maxThreads
   */
  maxQueue?: number;
  /**
   * How long a worker above `minThreads` may sit idle before it is stopped, in milliseconds.
   * @default 30_000
   */
  idleTimeoutMs?: number;
  /**
   * How long `createBridge` waits for the workers to load the tool modules, in milliseconds.
   * @default 30_000
   */
  startTimeoutMs?: number;
  /**
   * Worker recycling thresholds of the default pool (and of named pools that set none), and the ceiling on
   * shared memory.
   */
  memory?: MemoryOptions & {
    /**
     * Ceiling on the shared memory toolbridge allocates, in MiB, in every thread: `shared()`, `toShared()`,
     * copies into shared memory by the codec and the cache. An allocation past it fails with
     * `QUOTA_EXCEEDED` (a call whose arguments or result would pass it rejects with it) instead of
     * exhausting the machine. A buffer counts until the garbage collector has collected every handle of it
     * (or the worker holding it has exited). With several bridges, the lowest ceiling applies.
     * @default Infinity
     */
    maxSharedMb?: number;
  };
  /**
   * Named pools besides `default` (which the options above describe), each with its own threads, queue
   * and memory limits; a tool picks one with `defineTool({ pool })`. A pool with `minThreads: 0` starts its
   * workers on its first call; others are started before `createBridge` resolves.
   * @example { heavy: { maxThreads: 1, memory: { maxHeapMb: 2048 } } }
   */
  pools?: Readonly<Record<string, PoolOptions>>;
  /**
   * The result cache of idempotent tools (`defineTool({ idempotent: true })`); `false` turns it off.
   * @default { maxEntries: 1000, maxBytes: 64 MiB, ttlMs: Infinity }
   */
  cache?: CacheOptions | false;
  /** What the bridge measures, and the budgets `bridge.health()` judges against. */
  telemetry?: TelemetryOptions;
  codec?: {
    /**
     * Plain values (everything but typed arrays and Arrow tables) estimated above this many bytes are sent
     * as MessagePack bytes (msgpackr in structured-clone mode) instead of by structured clone. Set from
     * `bench/`'s codec scenario.
     * @default 262_144
     */
    msgpackThreshold?: number;
    /**
     * The same for plain values in which no object can appear twice (arrays of numbers or strings, records
     * of them, the `{ a, b }` args of a batch's calls): they go as MessagePack without identity tracking,
     * several times faster than structured clone. Set from `bench/`'s codec scenario.
     * @default 16_384
     */
    flatMsgpackThreshold?: number;
  };
}

export interface TelemetryOptions {
  /**
   * `false` keeps only the call, error and byte counters: no histograms, rates, codec counts,
   * `node:diagnostics_channel` events or slow-call events.
   * @default true
   */
  enabled?: boolean;
  /** Calls slower than this (ms) emit `bridge.on('slowCall')` with their phases and their args' shapes. */
  slowCallMs?: number;
  /** Budgets of `bridge.health()`; see {@link HealthBudgets} for each default. */
  budgets?: Partial<HealthBudgets>;
}

export interface ResolvedTelemetry {
  readonly enabled: boolean;
  readonly slowCallMs: number;
  readonly budgets: Readonly<HealthBudgets>;
}

/** When a worker is recycled: replaced by a fresh one, gracefully (it finishes what it holds first). */
export interface MemoryOptions {
  /**
   * Recycle a worker whose V8 heap in use passes this many MiB (sampled after tasks, at most every ms).
   * Typed arrays and ArrayBuffers keep their data outside the heap: a tool that leaks them is caught by
   * `maxExternalMb` (or `maxRssMb`), not by this.
   */
  maxHeapMb?: number;
  /**
   * Recycle a worker whose memory outside its V8 heap passes this many MiB: the ArrayBuffers, typed arrays
   * and shared memory it allocated itself (`v8.getHeapStatistics().external_memory` in the worker), sampled
   * with the heap. Shared memory other threads passed to it is not counted.
   */
  maxExternalMb?: number;
  /** Recycle a worker after it has run this many tasks. */
  maxTasksPerWorker?: number;
  /** Recycle a worker this many milliseconds after it started. */
  maxWorkerAgeMs?: number;
  /** Process-wide RSS ceiling in MiB: past it, the worker with the largest heap is recycled (one at a time). */
  maxRssMb?: number;
  /**
   * Hard ceiling on each worker's V8 old-generation heap, in MiB (`resourceLimits.maxOldGenerationSizeMb`),
   * for a tool that allocates too fast for a graceful recycle: it kills its worker, its call fails with
   * `WORKER_CRASHED` (retried when the tool has `retries`), and the pool replaces the worker.
   * @default undefined (Node's default)
   */
  hardHeapMb?: number;
  /**
   * How often heap, age and RSS are checked besides the check after every task, in milliseconds. (On Node
   * versions with `worker.getHeapStatistics()` the heap of a busy worker is read then too.)
   * @default 1000
   */
  checkIntervalMs?: number;
}

/** The options of one pool of worker threads. */
export interface PoolOptions {
  /**
   * Worker threads started before `createBridge` resolves and kept while idle.
   * @default maxThreads
   */
  minThreads?: number;
  /**
   * Most worker threads; numeric tools are CPU-bound, so more threads than cores rarely helps.
   * @default os.availableParallelism()
   */
  maxThreads?: number;
  /** See {@link BridgeOptions.maxQueue}. @default 1024 * maxThreads */
  maxQueue?: number;
  /** See {@link BridgeOptions.idleTimeoutMs}. @default 30_000 */
  idleTimeoutMs?: number;
  /** Recycling thresholds of this pool; unset fields take the bridge's `memory` options. */
  memory?: MemoryOptions;
}

export interface ResolvedMemory {
  readonly maxHeapMb: number;
  readonly maxExternalMb: number;
  readonly maxTasksPerWorker: number;
  readonly maxWorkerAgeMs: number;
  readonly maxRssMb: number;
  readonly hardHeapMb: number | undefined;
  readonly checkIntervalMs: number;
}

export interface ResolvedPool {
  readonly name: string;
  readonly minThreads: number;
  readonly maxThreads: number;
  readonly maxQueue: number;
  readonly idleTimeoutMs: number;
  readonly memory: ResolvedMemory;
}

export interface ResolvedOptions {
  readonly modules: readonly string[];
  /** Every pool by name; `default` first. */
  readonly pools: ReadonlyMap<string, ResolvedPool>;
  readonly timeoutMs: number;
  readonly startTimeoutMs: number;
  readonly maxSharedMb: number;
  readonly telemetry: ResolvedTelemetry;
  readonly codec: Readonly<CodecPolicy>;
  readonly cache: Readonly<Required<CacheOptions>> | undefined;
}

export const DEFAULT_MSGPACK_THRESHOLD = 256 * 1024;
export const DEFAULT_FLAT_MSGPACK_THRESHOLD = 16 * 1024;

const POOL_KEYS = ['minThreads', 'maxThreads', 'maxQueue', 'idleTimeoutMs', 'memory'] as const;
const BRIDGE_KEYS = [
  'tools',
  ...POOL_KEYS,
  'timeoutMs',
  'startTimeoutMs',
  'pools',
  'cache',
  'telemetry',
  'codec',
] as const satisfies ReadonlyArray<keyof BridgeOptions>;
const MEMORY_KEYS = [
  'maxHeapMb',
  'maxExternalMb',
  'maxTasksPerWorker',
  'maxWorkerAgeMs',
  'maxRssMb',
  'hardHeapMb',
  'checkIntervalMs',
] as const satisfies ReadonlyArray<keyof MemoryOptions>;
const TELEMETRY_KEYS = ['enabled', 'slowCallMs', 'budgets'] as const satisfies ReadonlyArray<keyof TelemetryOptions>;
const BUDGET_KEYS = ['p99Ms', 'errorRate', 'queueDepth', 'heapRatio'] as const satisfies ReadonlyArray<
  keyof HealthBudgets
>;
const CACHE_KEYS = ['maxEntries', 'maxBytes', 'ttlMs', 'maxArgBytes'] as const satisfies ReadonlyArray<
  keyof CacheOptions
>;

function resolveMemory(prefix: string, memory: MemoryOptions | undefined, base?: ResolvedMemory): ResolvedMemory {
  if (memory !== undefined) {
    checkObject(`options.${prefix}`, memory);
    // Only the bridge's own memory options take the process-wide shared-memory ceiling.
    checkKnownKeys(`options.${prefix}`, memory, base ? MEMORY_KEYS : [...MEMORY_KEYS, 'maxSharedMb']);
  }
  const pick = <K extends keyof MemoryOptions>(key: K, fallback: number | undefined) =>
    memory?.[key] ?? (base ? base[key] : fallback);
  const hardHeapMb = pick('hardHeapMb', undefined);
  return Object.freeze({
    maxHeapMb: checkLimit(`${prefix}.maxHeapMb`, pick('maxHeapMb', Infinity)),
    maxExternalMb: checkLimit(`${prefix}.maxExternalMb`, pick('maxExternalMb', Infinity)),
    maxTasksPerWorker: checkLimit(`${prefix}.maxTasksPerWorker`, pick('maxTasksPerWorker', Infinity)),
    maxWorkerAgeMs: checkLimit(`${prefix}.maxWorkerAgeMs`, pick('maxWorkerAgeMs', Infinity)),
    maxRssMb: checkLimit(`${prefix}.maxRssMb`, pick('maxRssMb', Infinity)),
    hardHeapMb: hardHeapMb === undefined ? undefined : checkInteger(`${prefix}.hardHeapMb`, hardHeapMb, 1),
    checkIntervalMs: checkInteger(`${prefix}.checkIntervalMs`, pick('checkIntervalMs', 1000), 1),
  });
}

function resolvePool(name: string, prefix: string, options: PoolOptions, base?: ResolvedMemory): ResolvedPool {
  const at = prefix === '' ? '' : `${prefix}.`;
  const maxThreads = checkInteger(`${at}maxThreads`, options.maxThreads ?? availableParallelism(), 1);
  const minThreads = checkInteger(`${at}minThreads`, options.minThreads ?? maxThreads, 0);
  if (minThreads > maxThreads) {
    throw new InvalidOptionsError(
      `options.${at}minThreads (${minThreads}) must not exceed options.${at}maxThreads (${maxThreads})`,
    );
  }
  return Object.freeze({
    name,
    minThreads,
    maxThreads,
    maxQueue: checkMaxQueue(`${at}maxQueue`, options.maxQueue ?? 1024 * maxThreads),
    idleTimeoutMs: checkInteger(`${at}idleTimeoutMs`, options.idleTimeoutMs ?? 30_000, 0),
    memory: resolveMemory(`${at}memory`, options.memory, base),
  });
}

function resolvePools(options: BridgeOptions): ReadonlyMap<string, ResolvedPool> {
  const main = resolvePool(DEFAULT_POOL, '', options);
  const pools = new Map([[DEFAULT_POOL, main]]);
  if (options.pools === undefined) return pools;
  checkObject('options.pools', options.pools);
  for (const [name, pool] of Object.entries(options.pools)) {
    if (name === DEFAULT_POOL) {
      throw new InvalidOptionsError(
        `options.pools.${DEFAULT_POOL}: the default pool takes the top-level options (minThreads, maxThreads, memory, ...)`,
      );
    }
    if (!POOL_NAME.test(name)) {
      throw new InvalidOptionsError(`options.pools: "${name}" is not a pool name (letters, digits, _ and -)`);
    }
    checkObject(`options.pools.${name}`, pool);
    checkKnownKeys(`options.pools.${name}`, pool, POOL_KEYS);
    pools.set(name, resolvePool(name, `pools.${name}`, pool, main.memory));
  }
  return pools;
}

/** Checks every option eagerly; the result is frozen. */
export function resolveOptions(options: BridgeOptions = {}): ResolvedOptions {
  checkObject('options', options);
  checkKnownKeys('options', options, BRIDGE_KEYS);
  if (options.codec !== undefined) {
    checkObject('options.codec', options.codec);
    checkKnownKeys('options.codec', options.codec, ['msgpackThreshold', 'flatMsgpackThreshold']);
  }
  const tools = options.tools ?? [];
  if (!Array.isArray(tools))
    throw new InvalidOptionsError(`options.tools must be an array, got ${describeValue(tools)}`);
  return Object.freeze({
    cache: resolveCache(options.cache),
    modules: Object.freeze(tools.map(toModuleUrl)),
    pools: resolvePools(options),
    timeoutMs: checkTimeout('options.timeoutMs', options.timeoutMs ?? Infinity),
    maxSharedMb: checkLimit('memory.maxSharedMb', options.memory?.maxSharedMb ?? Infinity),
    telemetry: resolveTelemetry(options.telemetry),
    startTimeoutMs: checkInteger('startTimeoutMs', options.startTimeoutMs ?? 30_000, 1),
    codec: Object.freeze({
      msgpackThreshold: checkInteger(
        'codec.msgpackThreshold',
        options.codec?.msgpackThreshold ?? DEFAULT_MSGPACK_THRESHOLD,
        0,
      ),
      flatMsgpackThreshold: checkInteger(
        'codec.flatMsgpackThreshold',
        options.codec?.flatMsgpackThreshold ?? DEFAULT_FLAT_MSGPACK_THRESHOLD,
        0,
      ),
    }),
  });
}

function resolveTelemetry(telemetry: TelemetryOptions | undefined): ResolvedTelemetry {
  if (telemetry !== undefined) {
    checkObject('options.telemetry', telemetry);
    checkKnownKeys('options.telemetry', telemetry, TELEMETRY_KEYS);
  }
  const enabled = telemetry?.enabled ?? true;
  if (typeof enabled !== 'boolean') {
    throw new InvalidOptionsError(`options.telemetry.enabled must be a boolean, got ${describeValue(enabled)}`);
  }
  const budgets = telemetry?.budgets;
  if (budgets !== undefined) {
    checkObject('options.telemetry.budgets', budgets);
    checkKnownKeys('options.telemetry.budgets', budgets, BUDGET_KEYS);
  }
  const ratio = (name: string, value: unknown) => {
    if (typeof value !== 'number' || !(value > 0)) {
      throw new InvalidOptionsError(
        `options.telemetry.budgets.${name} must be a positive number, got ${describeValue(value)}`,
      );
    }
    return value;
  };
  return Object.freeze({
    enabled,
    slowCallMs: checkTimeout('options.telemetry.slowCallMs', telemetry?.slowCallMs ?? Infinity),
    budgets: Object.freeze({
      p99Ms: ratio('p99Ms', budgets?.p99Ms ?? 1000),
      errorRate: ratio('errorRate', budgets?.errorRate ?? 0.05),
      queueDepth: budgets?.queueDepth === undefined ? undefined : ratio('queueDepth', budgets.queueDepth),
      heapRatio: ratio('heapRatio', budgets?.heapRatio ?? 0.9),
    }),
  });
}

function resolveCache(cache: CacheOptions | false | undefined): Readonly<Required<CacheOptions>> | undefined {
  if (cache === false) return undefined;
  if (cache !== undefined && (cache === null || typeof cache !== 'object' || Array.isArray(cache))) {
    throw new InvalidOptionsError(`options.cache must be an object or false, got ${describeValue(cache)}`);
  }
  if (cache !== undefined) checkKnownKeys('options.cache', cache, CACHE_KEYS);
  return Object.freeze({
    maxEntries: checkInteger('cache.maxEntries', cache?.maxEntries ?? 1000, 1),
    maxBytes: checkInteger('cache.maxBytes', cache?.maxBytes ?? 64 * 1024 * 1024, 1),
    ttlMs: checkTimeout('options.cache.ttlMs', cache?.ttlMs ?? Infinity),
    maxArgBytes: checkMaxArgBytes(cache?.maxArgBytes ?? 8 * 1024 * 1024),
  });
}

import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CacheOptions } from './cache/result-cache.js';
import { InvalidOptionsError, describeValue } from './errors.js';

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
  memory?: {
    /**
     * Hard ceiling on each worker's V8 old-generation heap, in MiB (`resourceLimits.maxOldGenerationSizeMb`).
     * A tool that passes it kills its worker: its call fails with `WORKER_CRASHED`, the pool replaces it.
     * @default undefined (Node's default)
     */
    hardHeapMb?: number;
  };
  /**
   * The result cache of idempotent tools (`defineTool({ idempotent: true })`); `false` turns it off.
   * @default { maxEntries: 1000, maxBytes: 64 MiB, ttlMs: Infinity }
   */
  cache?: CacheOptions | false;
  codec?: {
    /**
     * Plain values (everything but typed arrays and Arrow tables) estimated above this many bytes are sent
     * as MessagePack in shared memory instead of by structured clone. Set from `bench/`'s codec scenario.
     * @default 262_144
     */
    msgpackThreshold?: number;
  };
}

export interface ResolvedOptions {
  readonly modules: readonly string[];
  readonly minThreads: number;
  readonly maxThreads: number;
  readonly maxQueue: number;
  readonly timeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly startTimeoutMs: number;
  readonly hardHeapMb: number | undefined;
  readonly msgpackThreshold: number;
  readonly cache: Readonly<Required<CacheOptions>> | undefined;
}

export const DEFAULT_MSGPACK_THRESHOLD = 256 * 1024;

function checkInteger(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    const what = min === 0 ? 'a non-negative integer' : 'a positive integer';
    throw new InvalidOptionsError(`options.${name} must be ${what}, got ${describeValue(value)}`);
  }
  return value;
}

/** A time limit: a positive number of milliseconds, or Infinity for none. */
export function checkTimeout(name: string, value: unknown): number {
  if (typeof value !== 'number' || !(value > 0)) {
    throw new InvalidOptionsError(
      `${name} must be a positive number of milliseconds or Infinity, got ${describeValue(value)}`,
    );
  }
  return value;
}

function toModuleUrl(entry: unknown, index: number): string {
  if (entry instanceof URL) return entry.href;
  if (typeof entry === 'string' && entry !== '') {
    if (/^(file|data):/.test(entry)) return entry;
    return pathToFileURL(resolve(entry)).href;
  }
  throw new InvalidOptionsError(`options.tools[${index}] must be a URL or a file path, got ${describeValue(entry)}`);
}

/** Checks every option eagerly; the result is frozen. */
export function resolveOptions(options: BridgeOptions = {}): ResolvedOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionsError(`options must be an object, got ${describeValue(options)}`);
  }
  const tools = options.tools ?? [];
  if (!Array.isArray(tools))
    throw new InvalidOptionsError(`options.tools must be an array, got ${describeValue(tools)}`);
  const maxThreads = checkInteger('maxThreads', options.maxThreads ?? availableParallelism(), 1);
  const minThreads = checkInteger('minThreads', options.minThreads ?? maxThreads, 0);
  if (minThreads > maxThreads) {
    throw new InvalidOptionsError(
      `options.minThreads (${minThreads}) must not exceed options.maxThreads (${maxThreads})`,
    );
  }
  const hardHeapMb = options.memory?.hardHeapMb;
  if (hardHeapMb !== undefined) checkInteger('memory.hardHeapMb', hardHeapMb, 1);
  return Object.freeze({
    cache: resolveCache(options.cache),
    modules: Object.freeze(tools.map(toModuleUrl)),
    minThreads,
    maxThreads,
    maxQueue: checkMaxQueue(options.maxQueue ?? 1024 * maxThreads),
    timeoutMs: checkTimeout('options.timeoutMs', options.timeoutMs ?? Infinity),
    idleTimeoutMs: checkInteger('idleTimeoutMs', options.idleTimeoutMs ?? 30_000, 0),
    startTimeoutMs: checkInteger('startTimeoutMs', options.startTimeoutMs ?? 30_000, 1),
    hardHeapMb,
    msgpackThreshold: checkInteger(
      'codec.msgpackThreshold',
      options.codec?.msgpackThreshold ?? DEFAULT_MSGPACK_THRESHOLD,
      0,
    ),
  });
}

function resolveCache(cache: CacheOptions | false | undefined): Readonly<Required<CacheOptions>> | undefined {
  if (cache === false) return undefined;
  if (cache !== undefined && (cache === null || typeof cache !== 'object')) {
    throw new InvalidOptionsError(`options.cache must be an object or false, got ${describeValue(cache)}`);
  }
  return Object.freeze({
    maxEntries: checkInteger('cache.maxEntries', cache?.maxEntries ?? 1000, 1),
    maxBytes: checkInteger('cache.maxBytes', cache?.maxBytes ?? 64 * 1024 * 1024, 1),
    ttlMs: checkTimeout('options.cache.ttlMs', cache?.ttlMs ?? Infinity),
    maxArgBytes: checkMaxArgBytes(cache?.maxArgBytes ?? 8 * 1024 * 1024),
  });
}

function checkMaxArgBytes(value: unknown): number {
  if (value === Infinity) return value;
  return checkInteger('cache.maxArgBytes', value, 0);
}

function checkMaxQueue(value: unknown): number {
  if (value === Infinity) return value;
  return checkInteger('maxQueue', value, 0);
}

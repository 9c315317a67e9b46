import { performance } from 'node:perf_hooks';
import { copyValue } from './copy-value.js';

/** Options of the result cache (`createBridge({ cache })`). */
export interface CacheOptions {
  /** Most results kept. @default 1000 */
  maxEntries?: number;
  /** Most bytes of results kept (typed arrays and table buffers by length, other values roughly). @default 67_108_864 (64 MiB) */
  maxBytes?: number;
  /** How long a result stays valid, in milliseconds. @default Infinity */
  ttlMs?: number;
  /**
   * Calls whose args hold more than this many bytes of typed arrays, buffers and table columns skip the
   * cache. Hashing reads every byte on the calling thread (several GiB/s, see BENCHMARKS.md): past a few
   * MiB it would block the event loop longer than many tools run.
   * @default 8_388_608 (8 MiB)
   */
  maxArgBytes?: number;
}

export interface CacheStats {
  hits: number;
  misses: number;
  /** hits / (hits + misses); 0 before any lookup. */
  hitRate: number;
  entries: number;
  bytes: number;
  /** Entries dropped to stay within maxEntries or maxBytes (expired ones are not counted). */
  evictions: number;
  /** Sum over hits of the time the original call took. */
  timeSavedMs: number;
  /** Calls of idempotent tools that skipped the cache because their args passed `maxArgBytes`. */
  skipped: number;
}

interface Entry {
  value: unknown;
  bytes: number;
  expires: number;
  costMs: number;
}

/**
 * Results of idempotent tools by key (tool, version, content hash of the args): least recently used
 * first out, bounded by entries and bytes, with a time to live. Concurrent calls with one key share one
 * execution. Errors are never stored.
 *
 * Results are handed out as copies: the cache keeps its own deep copy of each result (shared memory
 * included) and gives every hit a fresh deep copy of it, so no caller's writes reach another caller's
 * result or the cache. The first caller gets the tool's result itself.
 */
export class ResultCache {
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #ttlMs: number;
  readonly #entries = new Map<string, Entry>();
  readonly #pending = new Map<string, { running: Promise<unknown>; start: number }>();
  #bytes = 0;
  #hits = 0;
  #misses = 0;
  #evictions = 0;
  #timeSavedMs = 0;
  #skipped = 0;
  readonly maxArgBytes: number;

  constructor(options: Required<CacheOptions>) {
    this.maxArgBytes = options.maxArgBytes;
    this.#maxEntries = options.maxEntries;
    this.#maxBytes = options.maxBytes;
    this.#ttlMs = options.ttlMs;
  }

  /**
   * The cached result for `key`, or the result of `compute()` (stored if it succeeds). Concurrent calls
   * with the same key while `compute` runs wait for it and get copies of its result (or its error).
   */
  async get(key: string, compute: () => Promise<unknown>): Promise<unknown> {
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      if (entry.expires > performance.now()) {
        this.#entries.delete(key); // most recently used goes last
        this.#entries.set(key, entry);
        this.#hits++;
        this.#timeSavedMs += entry.costMs;
        return copyValue(entry.value).value;
      }
      this.#drop(key, entry);
    }
    const pending = this.#pending.get(key);
    if (pending !== undefined) {
      this.#hits++;
      const value = await pending.running;
      this.#timeSavedMs += performance.now() - pending.start; // the execution it did not need
      // Copy the cache's own copy when there is one: the first caller may already be writing to `value`.
      return copyValue(this.#entries.get(key)?.value ?? value).value;
    }
    this.#misses++;
    const start = performance.now();
    const running = compute();
    this.#pending.set(key, { running, start });
    try {
      const value = await running;
      const costMs = performance.now() - start;
      this.#store(key, value, costMs);
      return value;
    } finally {
      this.#pending.delete(key);
    }
  }

  #store(key: string, value: unknown, costMs: number): void {
    const copy = copyValue(value);
    if (copy.bytes > this.#maxBytes) return;
    const old = this.#entries.get(key);
    if (old) this.#drop(key, old);
    this.#entries.set(key, { value: copy.value, bytes: copy.bytes, expires: performance.now() + this.#ttlMs, costMs });
    this.#bytes += copy.bytes;
    for (const [oldest, entry] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries && this.#bytes <= this.#maxBytes) break;
      this.#drop(oldest, entry);
      this.#evictions++;
    }
  }

  #drop(key: string, entry: Entry): void {
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }

  /** Counts a call that did not use the cache because its args were too large to hash. */
  skip(): void {
    this.#skipped++;
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  stats(): CacheStats {
    const lookups = this.#hits + this.#misses;
    return {
      hits: this.#hits,
      misses: this.#misses,
      hitRate: lookups === 0 ? 0 : this.#hits / lookups,
      entries: this.#entries.size,
      bytes: this.#bytes,
      evictions: this.#evictions,
      timeSavedMs: this.#timeSavedMs,
      skipped: this.#skipped,
    };
  }
}

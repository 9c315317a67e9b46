import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import type { CacheStats } from '../cache/result-cache.js';
import { ledger } from '../memory/ledger.js';
import type { WorkerStats } from '../pool/local-pool.js';
import { RECYCLE_REASONS, type RecycleReason } from '../pool/worker-slot.js';

/** Latency percentiles in milliseconds. */
export interface LatencySummary {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
}

export interface ToolStats {
  /** Calls that completed, successfully or not. */
  readonly calls: number;
  /** Calls that completed with an error. */
  readonly errors: number;
  /**
   * Time from `bridge.call` to settling, over every completed call. Calls that ran in a chunk (a batch or a
   * micro-batch) add one sample per chunk: the chunk's time.
   */
  readonly latency: LatencySummary;
  /** Worker tasks that ran several calls of this tool at once (batch and micro-batch chunks). */
  readonly chunks: number;
}

export interface BridgeStats {
  readonly tools: Readonly<Record<string, ToolStats>>;
  /** The result cache of idempotent tools (all zero when it is off). */
  readonly cache: CacheStats;
  readonly bytes: {
    /** Bytes that crossed between threads by reference (shared memory), both directions. */
    readonly shared: number;
    /** Bytes the runtime had to copy (data not in shared memory, MessagePack payloads), both directions. */
    readonly copied: number;
  };
  /** Workers replaced so far, in every pool, by reason (see the bridge's `recycle` event). */
  readonly recycles: {
    readonly total: number;
    readonly byReason: Readonly<Record<RecycleReason, number>>;
  };
  readonly memory: {
    /** The process's resident set size, in MiB. */
    readonly rssMb: number;
    /**
     * Shared memory toolbridge has allocated and that is still held (by any thread, until collected), in
     * MiB: what `memory.maxSharedMb` caps. It is in no worker's heap figure.
     */
    readonly sharedMb: number;
    /** Every live worker of every pool, with its V8 heap in use (MiB), tasks run and age. */
    readonly workers: readonly WorkerStats[];
  };
}

/** What the pools add to a snapshot. */
export interface PoolFigures {
  recycles: ReadonlyArray<ReadonlyMap<RecycleReason, number>>;
  workers: WorkerStats[];
}

class ToolCounter {
  calls = 0;
  errors = 0;
  chunks = 0;
  readonly latency: RecordableHistogram = createHistogram();

  snapshot(): ToolStats {
    const h = this.latency;
    const ms = (p: number) => (this.calls === 0 ? 0 : h.percentile(p) / 1e6);
    return {
      calls: this.calls,
      errors: this.errors,
      latency: { p50: ms(50), p95: ms(95), p99: ms(99) },
      chunks: this.chunks,
    };
  }
}

/** Counters and latency histograms of one bridge. */
export class StatsRecorder {
  readonly #tools = new Map<string, ToolCounter>();
  #shared = 0;
  #copied = 0;

  bytes(shared: number, copied: number): void {
    this.#shared += shared;
    this.#copied += copied;
  }

  #counter(tool: string): ToolCounter {
    let counter = this.#tools.get(tool);
    if (counter === undefined) this.#tools.set(tool, (counter = new ToolCounter()));
    return counter;
  }

  /** Records a completed call; `ms` is its latency. */
  call(tool: string, ms: number, failed: boolean): void {
    this.calls(tool, 1, failed ? 1 : 0, ms);
  }

  /** Records `count` calls completed together (a chunk), `errors` of them failed, in `ms`. */
  calls(tool: string, count: number, errors: number, ms: number): void {
    const counter = this.#counter(tool);
    counter.calls += count;
    counter.errors += errors;
    counter.latency.record(Math.max(1, Math.round(ms * 1e6)));
  }

  /** Records one chunk task of `tool`. */
  chunk(tool: string): void {
    this.#counter(tool).chunks++;
  }

  snapshot(cache: CacheStats, pools: PoolFigures): BridgeStats {
    const tools: Record<string, ToolStats> = {};
    for (const [name, counter] of this.#tools) tools[name] = counter.snapshot();
    const byReason = Object.fromEntries(RECYCLE_REASONS.map((reason) => [reason, 0])) as Record<RecycleReason, number>;
    let total = 0;
    for (const counts of pools.recycles) {
      for (const [reason, count] of counts) {
        byReason[reason] += count;
        total += count;
      }
    }
    return {
      tools,
      cache,
      bytes: { shared: this.#shared, copied: this.#copied },
      recycles: { total, byReason },
      memory: {
        rssMb: Math.round(process.memoryUsage.rss() / 104857.6) / 10,
        sharedMb: Math.round(ledger().bytesInUse / 104857.6) / 10,
        workers: pools.workers,
      },
    };
  }
}

import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import type { CacheStats } from '../cache/result-cache.js';

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

  snapshot(cache: CacheStats): BridgeStats {
    const tools: Record<string, ToolStats> = {};
    for (const [name, counter] of this.#tools) tools[name] = counter.snapshot();
    return { tools, cache, bytes: { shared: this.#shared, copied: this.#copied } };
  }
}

import { performance } from 'node:perf_hooks';
import type { CacheStats } from '../cache/result-cache.js';
import { ledger } from '../memory/ledger.js';
import { Distribution, Rate, type LatencySummary } from './distribution.js';
import { RECYCLE_REASONS, type CodecCounts, type RecycleReason, type WorkerStats } from './events.js';

export interface ToolStats {
  /** Calls that completed, successfully or not. */
  readonly calls: number;
  /** Calls that completed with an error. */
  readonly errors: number;
  /** `errors / calls` (0 before any call). */
  readonly errorRate: number;
  /**
   * Time from `bridge.call` to settling, over every completed call. Calls that ran in a chunk (a batch or a
   * micro-batch) add one sample per chunk: the chunk's time.
   */
  readonly latency: LatencySummary;
  /**
   * The phases of each worker task (a call, or a chunk): `wait` is the time neither in the codec nor in the
   * tool (queueing for a worker, and the hand-off between threads), `run` the time inside the tool, `codec`
   * encoding and decoding on both sides.
   */
  readonly wait: LatencySummary;
  readonly run: LatencySummary;
  readonly codec: LatencySummary;
  /** Calls completed per second, over the last minute (or since the bridge started, if sooner). */
  readonly throughput: number;
  /** Worker tasks that ran several calls of this tool at once (batch and micro-batch chunks). */
  readonly chunks: number;
  /** Calls spread over several workers (`ToolSpec.split`), and the parts they ran. */
  readonly splits: number;
  readonly splitParts: number;
  /** Bytes of this tool's args and results that crossed by reference, and that were copied. */
  readonly bytes: { readonly shared: number; readonly copied: number };
}

/** The sessions of one name (`bridge.open`): how many are open, and their calls. */
export interface SessionStats {
  /** Sessions open now. */
  readonly open: number;
  /** Sessions opened so far; of those, closed (by `close()`, idle time or the bridge closing) and lost. */
  readonly opened: number;
  readonly closed: number;
  readonly lost: number;
  /** Method calls that completed, and those that failed. */
  readonly calls: number;
  readonly errors: number;
  /** Time from a method call to its answer, over every completed call. */
  readonly latency: LatencySummary;
  /** Bytes of the sessions' args and results that crossed by reference, and that were copied. */
  readonly bytes: { readonly shared: number; readonly copied: number };
  /** Sessions open now, by worker `threadId`. */
  readonly workers: Readonly<Record<number, number>>;
}

/** One pool, now. */
export interface PoolStats {
  /** Worker threads alive (starting, serving or draining). */
  readonly threads: number;
  /** Workers running a task. */
  readonly busy: number;
  /** Calls waiting for a worker. */
  readonly queued: number;
  /** Share of the pool's thread time spent running tasks over the last minute (0 to 1). */
  readonly utilization: number;
  readonly maxThreads: number;
  readonly maxQueue: number;
  /**
   * Calls sent to a worker still running a short call, to start as soon as it ends, since the pool started
   * (README, "Workers"); 0 for a remote pool.
   */
  readonly sentAhead: number;
}

export interface BridgeStats {
  /** Milliseconds since the bridge started. */
  readonly uptimeMs: number;
  readonly tools: Readonly<Record<string, ToolStats>>;
  readonly pools: Readonly<Record<string, PoolStats>>;
  /** How many values crossed by each path, both directions (see the README's data-plane table). */
  readonly codecs: Readonly<CodecCounts>;
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
  /** A remote bridge's tool hosts (`toolbridge/nats`), by name; empty for a local bridge. */
  readonly hosts: Readonly<Record<string, HostStats>>;
  /** Sessions (`bridge.open`), by name. */
  readonly sessions: Readonly<Record<string, SessionStats>>;
}

/** One tool host as a remote bridge sees it: its answers to this caller, and the load it last reported. */
export interface HostStats {
  /** Calls of this caller it answered. */
  readonly calls: number;
  /** Of those, the ones that failed. */
  readonly errors: number;
  /** Time from sending a call to its answer, over its last 256 answers, in ms. */
  readonly latency: { readonly p50: number; readonly p95: number; readonly max: number };
  /** As the host last said: calls it is running, calls its pools queue, calls it has served (any caller). */
  readonly inFlight: number;
  readonly queued: number;
  readonly served: number;
  /** Milliseconds since its last answer. */
  readonly lastSeenMs: number;
}

/** What the pools add to a snapshot. */
export interface PoolFigures {
  recycles: ReadonlyArray<ReadonlyMap<RecycleReason, number>>;
  workers: WorkerStats[];
  pools: Record<string, PoolStats>;
  /** Values the workers sent, by path. */
  codecs: CodecCounts;
  hosts?: Record<string, HostStats>;
}

/** Bytes that crossed by reference and that were copied, for one tool or one session. */
class ByteCounts {
  shared = 0;
  copied = 0;

  addBytes(shared: number, copied: number): void {
    this.shared += shared;
    this.copied += copied;
  }
}

class SessionCounter extends ByteCounts {
  opened = 0;
  closed = 0;
  lost = 0;
  calls = 0;
  errors = 0;
  readonly latency = new Distribution();
  /** Open sessions by worker. */
  readonly workers = new Map<number, number>();

  snapshot(): SessionStats {
    let open = 0;
    const workers: Record<number, number> = {};
    for (const [worker, count] of this.workers) {
      open += count;
      workers[worker] = count;
    }
    return {
      open,
      opened: this.opened,
      closed: this.closed,
      lost: this.lost,
      calls: this.calls,
      errors: this.errors,
      latency: this.latency.summary(),
      bytes: { shared: this.shared, copied: this.copied },
      workers,
    };
  }
}

class ToolCounter extends ByteCounts {
  calls = 0;
  errors = 0;
  chunks = 0;
  splits = 0;
  splitParts = 0;
  readonly latency = new Distribution();
  readonly wait = new Distribution();
  readonly run = new Distribution();
  readonly codec = new Distribution();
  readonly rate = new Rate();
  readonly errorRate = new Rate();

  snapshot(now: number, uptimeMs: number): ToolStats {
    return {
      calls: this.calls,
      errors: this.errors,
      errorRate: this.calls === 0 ? 0 : this.errors / this.calls,
      latency: this.latency.summary(),
      wait: this.wait.summary(),
      run: this.run.summary(),
      codec: this.codec.summary(),
      throughput: this.rate.perSecond(now, uptimeMs),
      chunks: this.chunks,
      splits: this.splits,
      splitParts: this.splitParts,
      bytes: { shared: this.shared, copied: this.copied },
    };
  }
}

const zeroCodecs = (): CodecCounts => ({ shared: 0, arrow: 0, clone: 0, msgpack: 0, copied: 0 });

/**
 * Counters and histograms of one bridge. With telemetry off, it keeps only the call, error, chunk and byte
 * counters (no histograms, rates or codec counts), which is all the hot path then pays for.
 */
export class StatsRecorder {
  readonly enabled: boolean;
  readonly startedAt = performance.now();
  readonly #tools = new Map<string, ToolCounter>();
  readonly #sessions = new Map<string, SessionCounter>();
  readonly #codecs = zeroCodecs();
  #shared = 0;
  #copied = 0;

  constructor(enabled = true) {
    this.enabled = enabled;
  }

  /** Bytes of one message of `tool` that crossed by reference and that were copied. */
  bytes(tool: string, shared: number, copied: number): void {
    if (this.#total(shared, copied)) this.#counter(tool).addBytes(shared, copied);
  }

  /** Adds bytes to the bridge's totals; true when there were any (for the tool's or session's own count). */
  #total(shared: number, copied: number): boolean {
    this.#shared += shared;
    this.#copied += copied;
    return shared !== 0 || copied !== 0;
  }

  /** Values of a message the main thread encoded, by path. */
  codecs(counts: CodecCounts): void {
    if (!this.enabled) return;
    const c = this.#codecs;
    c.shared += counts.shared;
    c.arrow += counts.arrow;
    c.clone += counts.clone;
    c.msgpack += counts.msgpack;
    c.copied += counts.copied;
  }

  #session(name: string): SessionCounter {
    let counter = this.#sessions.get(name);
    if (counter === undefined) this.#sessions.set(name, (counter = new SessionCounter()));
    return counter;
  }

  /** A session of `name` opened on worker `workerId`. */
  sessionOpened(name: string, workerId: number): void {
    const counter = this.#session(name);
    counter.opened++;
    counter.workers.set(workerId, (counter.workers.get(workerId) ?? 0) + 1);
  }

  /** A session of `name` on worker `workerId` ended: closed, or lost with its worker. */
  sessionEnded(name: string, workerId: number, lost: boolean): void {
    const counter = this.#session(name);
    if (lost) counter.lost++;
    else counter.closed++;
    const left = (counter.workers.get(workerId) ?? 1) - 1;
    if (left > 0) counter.workers.set(workerId, left);
    else counter.workers.delete(workerId);
  }

  /** A method call of a session of `name` completed in `ms`. */
  sessionCall(name: string, ms: number, failed: boolean): void {
    const counter = this.#session(name);
    counter.calls++;
    if (failed) counter.errors++;
    if (this.enabled) counter.latency.record(ms, performance.now());
  }

  /** Bytes of a session's args or result (counted in `bytes` too). */
  sessionBytes(name: string, shared: number, copied: number): void {
    if (this.#total(shared, copied)) this.#session(name).addBytes(shared, copied);
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
    if (!this.enabled) return;
    const now = performance.now();
    counter.latency.record(ms, now);
    counter.rate.add(count, now);
    if (errors > 0) counter.errorRate.add(errors, now);
  }

  /**
   * Records the phases of one worker task of `tool`: from encoding the call to decoding the reply
   * (`totalMs`), in the tool, and in the codec, in ms; `now` is `performance.now()` at its end.
   */
  task(tool: string, totalMs: number, runMs: number, codecMs: number, now = performance.now()): void {
    if (!this.enabled) return;
    const counter = this.#counter(tool);
    counter.run.record(runMs, now);
    counter.codec.record(codecMs, now);
    counter.wait.record(Math.max(0, totalMs - runMs - codecMs), now);
  }

  /** Records one chunk task of `tool`. */
  chunk(tool: string): void {
    this.#counter(tool).chunks++;
  }

  /** Records a call of `tool` split into `parts` parts. */
  split(tool: string, parts: number): void {
    const counter = this.#counter(tool);
    counter.splits++;
    counter.splitParts += parts;
  }

  /** Per tool: calls and errors over the last minute, and the recent p99 latency (ms), for health. */
  recent(): Array<{ tool: string; calls: number; errors: number; p99: number | undefined }> {
    const now = performance.now();
    return [...this.#tools].map(([tool, c]) => ({
      tool,
      calls: c.rate.perSecond(now, 60_000) * 60,
      errors: c.errorRate.perSecond(now, 60_000) * 60,
      p99: c.latency.recentPercentile(99),
    }));
  }

  /** The per-tool distributions, for exporters. */
  distributions(): Array<{
    tool: string;
    latency: Distribution;
    wait: Distribution;
    run: Distribution;
    codec: Distribution;
  }> {
    return [...this.#tools].map(([tool, c]) => ({
      tool,
      latency: c.latency,
      wait: c.wait,
      run: c.run,
      codec: c.codec,
    }));
  }

  snapshot(cache: CacheStats, pools: PoolFigures): BridgeStats {
    const now = performance.now();
    const uptimeMs = now - this.startedAt;
    const tools: Record<string, ToolStats> = {};
    for (const [name, counter] of this.#tools) tools[name] = counter.snapshot(now, uptimeMs);
    const byReason = Object.fromEntries(RECYCLE_REASONS.map((reason) => [reason, 0])) as Record<RecycleReason, number>;
    let total = 0;
    for (const counts of pools.recycles) {
      for (const [reason, count] of counts) {
        byReason[reason] += count;
        total += count;
      }
    }
    const codecs = zeroCodecs();
    if (this.enabled) {
      for (const key of Object.keys(codecs) as Array<keyof CodecCounts>) {
        codecs[key] = this.#codecs[key] + pools.codecs[key];
      }
    }
    return {
      uptimeMs,
      tools,
      pools: pools.pools,
      codecs,
      cache,
      bytes: { shared: this.#shared, copied: this.#copied },
      recycles: { total, byReason },
      memory: {
        rssMb: Math.round(process.memoryUsage.rss() / 104857.6) / 10,
        sharedMb: Math.round(ledger().bytesInUse / 104857.6) / 10,
        workers: pools.workers,
      },
      hosts: pools.hosts ?? {},
      sessions: Object.fromEntries([...this.#sessions].map(([name, counter]) => [name, counter.snapshot()])),
    };
  }
}

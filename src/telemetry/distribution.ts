import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';
/** A distribution in milliseconds. */
export interface LatencySummary {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Upper bounds of the histogram buckets, in seconds (the Prometheus exposition uses them). */
export const BUCKETS_S = Object.freeze([
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

/** How long the recent window of a distribution lasts before it rotates (so it spans 1 to 2 of these). */
const RECENT_MS = 60_000;

/**
 * A distribution: HDR histograms for percentiles (the current window, the one before, and everything older
 * merged, so each sample is recorded once and the last one to two minutes can be read apart, for health),
 * plus fixed buckets and a sum for exporters.
 */
export class Distribution {
  // Each made at its first sample (a tool's first call then makes one, not twelve, across its four
  // distributions): a distribution that never records holds none.
  #recent: RecordableHistogram | undefined;
  #older: RecordableHistogram | undefined;
  #total: RecordableHistogram | undefined;
  #rotatedAt = performance.now();
  /** Counts per bucket of {@link BUCKETS_S} (not cumulative), the last one for +Inf. */
  readonly buckets = new Array<number>(BUCKETS_S.length + 1).fill(0);
  count = 0;
  /** Sum of the samples, in ms. */
  sumMs = 0;

  /** Records a sample; `now` is `performance.now()`, taken once by the caller for several records. */
  record(ms: number, now: number): void {
    if (now - this.#rotatedAt >= RECENT_MS) this.#rotate(now);
    (this.#recent ??= createHistogram()).record(Math.max(1, Math.round(ms * 1e6)));
    this.count++;
    this.sumMs += ms;
    const s = ms / 1000;
    let i = 0;
    while (i < BUCKETS_S.length && s > BUCKETS_S[i]!) i++;
    this.buckets[i]!++;
  }

  #rotate(now: number): void {
    this.#keep(this.#older);
    if (now - this.#rotatedAt >= 2 * RECENT_MS) {
      // Two windows' worth of silence: both windows end empty.
      this.#keep(this.#recent);
      this.#older = undefined;
    } else {
      this.#older = this.#recent;
    }
    this.#recent = undefined;
    this.#rotatedAt = now;
  }

  /** Adds a window that rotates out to the total. */
  #keep(window: RecordableHistogram | undefined): void {
    if (window !== undefined && window.count > 0) (this.#total ??= createHistogram()).add(window);
  }

  #merged(windows: ReadonlyArray<RecordableHistogram | undefined>): RecordableHistogram {
    const out = createHistogram();
    for (const h of windows) if (h !== undefined && h.count > 0) out.add(h);
    return out;
  }

  /** The p-th percentile over the last one to two minutes, in ms; undefined without samples there. */
  recentPercentile(p: number, now = performance.now()): number | undefined {
    if (now - this.#rotatedAt >= RECENT_MS) this.#rotate(now);
    const both = this.#merged([this.#recent, this.#older]);
    return both.count === 0 ? undefined : both.percentile(p) / 1e6;
  }

  summary(): LatencySummary {
    if (this.count === 0) return { p50: 0, p95: 0, p99: 0, max: 0, mean: 0 };
    const h = this.#merged([this.#total, this.#older, this.#recent]);
    return {
      p50: h.percentile(50) / 1e6,
      p95: h.percentile(95) / 1e6,
      p99: h.percentile(99) / 1e6,
      max: h.max / 1e6,
      mean: this.sumMs / this.count,
    };
  }
}

/** Counts per second over the last minute, in a ring of one-second buckets (`performance.now()` time). */
export class Rate {
  readonly #counts = new Float64Array(60);
  readonly #seconds = new Float64Array(60).fill(-1);

  add(count: number, now: number): void {
    const second = Math.floor(now / 1000);
    const i = second % 60;
    if (this.#seconds[i] !== second) {
      this.#seconds[i] = second;
      this.#counts[i] = 0;
    }
    this.#counts[i]! += count;
  }

  /** Per second over the last minute, or over `elapsedMs` when that is shorter. */
  perSecond(now: number, elapsedMs: number): number {
    const second = Math.floor(now / 1000);
    let sum = 0;
    for (let i = 0; i < 60; i++) if (second - this.#seconds[i]! < 60) sum += this.#counts[i]!;
    const window = Math.min(60, Math.max(elapsedMs / 1000, 1e-3));
    return sum / window;
  }
}

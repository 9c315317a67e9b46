import { performance } from 'node:perf_hooks';
import type { ResolvedPool } from '../../options.js';
import type { RecycleReason } from '../../telemetry/events.js';
import type { WorkerRecord, WorkerSlot } from './worker-slot.js';

/** Least time between two RSS samples taken after tasks (a sample costs ~10 µs). */
const RSS_SAMPLE_MS = 20;
const MiB = 1024 * 1024;

/** What the watchdog acts on: the pool's workers, and how to let one go. */
export interface WatchdogHost {
  readonly slots: readonly WorkerSlot[];
  /** Calls waiting for a worker. */
  waiting(): number;
  /** Drains a worker for `reason`: no new calls, a replacement starts, it stops once its call is done. */
  recycle(slot: WorkerSlot, reason: RecycleReason): void;
  /** Stops an idle worker above `minThreads`. */
  retireIdle(slot: WorkerSlot): void;
}

/**
 * The memory watchdog of a pool: after each task it reads the worker's heap and task count (and, at most
 * every 20 ms, the process RSS); on a timer, every worker's age, the heap of busy workers (where Node can
 * read it live) and idle workers above `minThreads`. Past a threshold it asks the pool to recycle.
 */
export class Watchdog {
  readonly #pool: ResolvedPool;
  readonly #host: WatchdogHost;
  #lastRss = 0;

  constructor(pool: ResolvedPool, host: WatchdogHost) {
    this.#pool = pool;
    this.#host = host;
  }

  /** What `maxHeapMb` (or, without it, `hardHeapMb` or V8's own limit) allows a worker's heap. */
  heapLimitMb(record: WorkerRecord): number {
    const { maxHeapMb, hardHeapMb } = this.#pool.memory;
    if (maxHeapMb !== Infinity) return maxHeapMb;
    return hardHeapMb ?? record.heapLimitMb;
  }

  /** After a task: the worker's heap and task count, and (at most every 20 ms) the process RSS. */
  afterTask(slot: WorkerSlot, record: WorkerRecord): void {
    if (slot.draining !== undefined || !record.ready) return;
    const { memory } = this.#pool;
    if (record.tasks >= memory.maxTasksPerWorker) return this.#host.recycle(slot, 'tasks');
    if (record.heapMb > memory.maxHeapMb) return this.#host.recycle(slot, 'heap');
    if (record.externalMb > memory.maxExternalMb) return this.#host.recycle(slot, 'external');
    if (memory.maxRssMb !== Infinity && performance.now() - this.#lastRss >= RSS_SAMPLE_MS) this.#checkRss();
  }

  /** On the timer: age, heap (read live where Node can), RSS, and idle workers above `minThreads`. */
  tick(): void {
    const { memory, minThreads, idleTimeoutMs } = this.#pool;
    const now = performance.now();
    let serving = this.#host.slots.filter((slot) => slot.draining === undefined && !slot.gone).length;
    for (const slot of [...this.#host.slots]) {
      const record = slot.current;
      if (record === undefined || !record.ready || slot.draining !== undefined) continue;
      if (record.ageMs(now) >= memory.maxWorkerAgeMs) {
        this.#host.recycle(slot, 'age');
        continue;
      }
      if (memory.maxHeapMb !== Infinity && slot.busy) this.#readLiveHeap(slot, record);
      if (
        slot.free &&
        slot.vacant &&
        serving > minThreads &&
        now - slot.idleSince >= idleTimeoutMs &&
        this.#host.waiting() === 0
      ) {
        serving--;
        this.#host.retireIdle(slot);
      }
    }
    if (memory.maxRssMb !== Infinity) this.#checkRss();
  }

  /** Node >= 22.16 reads a worker's heap from the main thread, even while a task keeps it busy. */
  #readLiveHeap(slot: WorkerSlot, record: WorkerRecord): void {
    const read = (record.worker as { getHeapStatistics?: () => Promise<{ used_heap_size: number }> }).getHeapStatistics;
    if (typeof read !== 'function') return;
    read
      .call(record.worker)
      .then((heap) => {
        record.liveHeap = heap.used_heap_size;
        if (slot.current === record && slot.draining === undefined && record.heapMb > this.#pool.memory.maxHeapMb) {
          this.#host.recycle(slot, 'heap');
        }
      })
      .catch(() => undefined);
  }

  #checkRss(): void {
    this.#lastRss = performance.now();
    if (process.memoryUsage.rss() / MiB <= this.#pool.memory.maxRssMb) return;
    // One at a time: the previous RSS recycle must finish before another worker goes.
    if (this.#host.slots.some((slot) => slot.draining === 'rss')) return;
    let largest: WorkerSlot | undefined;
    for (const slot of this.#host.slots) {
      if (slot.draining !== undefined || !slot.current?.ready) continue;
      if (!largest || slot.current.heapMb > largest.current!.heapMb) largest = slot;
    }
    if (largest) this.#host.recycle(largest, 'rss');
  }
}

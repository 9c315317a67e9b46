import { performance } from 'node:perf_hooks';
import type { WireMessage } from '../../codec/message.js';
import { ToolBridgeError } from '../../errors.js';
import type { SubmitOptions } from '../dispatcher.js';
import type { Job, WorkerRecord, WorkerSlot } from './worker-slot.js';

/**
 * Calls waiting for one worker in particular (a session's open, a broadcast, an affinity key), kept in
 * each slot's `pinned` list. They run there before any call of the common queue; a call given an
 * `anyAfter` time may be taken by any free worker from then on.
 */
export class PinnedJobs {
  /** Jobs still waiting, over every slot. */
  #waiting = 0;
  readonly #pump: () => void;

  /** `pump` hands waiting jobs to free workers: called when a job is pinned and when one may move. */
  constructor(pump: () => void) {
    this.#pump = pump;
  }

  get waiting(): number {
    return this.#waiting;
  }

  /**
   * Queues a message for the slot's worker. With `anyAfter` (a `performance.now()` time), any free worker
   * may take it from then on. `onStart` is told which worker runs it, just before it starts.
   */
  pin(
    slot: WorkerSlot,
    message: WireMessage,
    options: SubmitOptions,
    anyAfter?: number,
    onStart?: (record: WorkerRecord) => void,
  ): Promise<WireMessage> {
    return new Promise<WireMessage>((resolve, reject) => {
      const job: Job = { message, options, resolve, reject, done: false, onStart, anyAfter };
      slot.pinned.push(job);
      this.#waiting++;
      options.signal?.addEventListener(
        'abort',
        () => {
          if (job.done) return;
          job.done = true;
          this.#waiting--;
          reject(new ToolBridgeError('ABORTED', 'The call was stopped while it waited for a worker'));
        },
        { once: true },
      );
      if (anyAfter !== undefined) this.#pumpAt(anyAfter);
      this.#pump();
    });
  }

  /**
   * The next job still waiting on `slot`, taken out. With `anyBefore`, only a job any worker may take by
   * that time.
   */
  take(slot: WorkerSlot, anyBefore?: number): Job | undefined {
    const { pinned } = slot;
    for (let i = 0; i < pinned.length; i++) {
      const job = pinned[i]!;
      if (job.done) {
        pinned.splice(i--, 1);
        continue;
      }
      if (anyBefore !== undefined && !(job.anyAfter !== undefined && job.anyAfter <= anyBefore)) continue;
      pinned.splice(i, 1);
      job.done = true;
      this.#waiting--;
      return job;
    }
    return undefined;
  }

  /** A job pinned to some worker that any worker may now take (an affinity call that waited long enough). */
  takeOverdue(slots: readonly WorkerSlot[]): Job | undefined {
    if (this.#waiting === 0) return undefined;
    const now = performance.now();
    for (const slot of slots) {
      const job = this.take(slot, now);
      if (job !== undefined) return job;
    }
    return undefined;
  }

  /** Every job still waiting on `slot`, taken out. */
  takeAll(slot: WorkerSlot): Job[] {
    const jobs: Job[] = [];
    for (let job = this.take(slot); job !== undefined; job = this.take(slot)) jobs.push(job);
    return jobs;
  }

  /**
   * Pumps once `performance.now()` has reached `time`. A timer may fire before that (its clock is the event
   * loop's, which lags when the loop is busy): then it is set again for what is left.
   */
  #pumpAt(time: number): void {
    setTimeout(
      () => {
        if (performance.now() < time) this.#pumpAt(time);
        else this.#pump();
      },
      Math.max(0, time - performance.now()) + 1,
    ).unref();
  }
}

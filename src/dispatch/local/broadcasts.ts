import type { WireMessage } from '../../codec/message.js';
import { DeadlinePassed, type BroadcastOptions, type BroadcastReply, type SubmitOptions } from '../dispatcher.js';
import type { PinnedJobs } from './pinned.js';
import type { WorkerSet } from './worker-set.js';
import type { WorkerRecord, WorkerSlot } from './worker-slot.js';

/**
 * Messages run once on every serving worker (`bridge.broadcast`). A sticky one is also run by each worker
 * that starts later, before any other call.
 */
export class Broadcasts {
  readonly #workers: WorkerSet;
  readonly #pinned: PinnedJobs;
  readonly #sticky: Array<{ message: WireMessage; options: BroadcastOptions }> = [];

  constructor(workers: WorkerSet, pinned: PinnedJobs) {
    this.#workers = workers;
    this.#pinned = pinned;
  }

  /** Runs `message` on each serving worker; resolves with every worker's answer or failure. */
  send(message: WireMessage, options: BroadcastOptions): Promise<BroadcastReply[]> {
    const targets = this.#workers.slots.filter((slot) => slot.draining === undefined && !slot.gone && slot.current);
    if (options.sticky) {
      this.#sticky.push({ message, options });
      // The workers reached now run it below; the ones that start later run it when they are ready.
      for (const slot of targets) slot.current!.stickyDone = this.#sticky.length;
    }
    return Promise.all(targets.map((slot) => this.#runOn(slot, message, options.timeoutMs ?? Infinity)));
  }

  /**
   * A worker has started: it runs the sticky broadcasts it has not run before any other call, even one
   * already pinned to it (they go to the front of its list, in the order they were made).
   */
  replay(slot: WorkerSlot, record: WorkerRecord): void {
    if (record.stickyDone >= this.#sticky.length) return;
    const missed = this.#sticky.slice(record.stickyDone);
    record.stickyDone = this.#sticky.length;
    const waiting = slot.pinned.splice(0);
    for (const { message, options } of missed) {
      void this.#runOn(slot, message, options.timeoutMs ?? Infinity).then((reply) => options.onReplay?.(reply));
    }
    slot.pinned.push(...waiting);
  }

  /** Runs a message on one worker (after those pinned to it) within `timeoutMs`, whatever it answers. */
  #runOn(slot: WorkerSlot, message: WireMessage, timeoutMs: number): Promise<BroadcastReply> {
    let workerId = slot.current?.threadId ?? 0;
    // A limit past what a timer can hold (~49 days) is no limit.
    const limited = timeoutMs <= 4_294_967_295;
    const signal = limited ? AbortSignal.timeout(timeoutMs) : undefined;
    const options: SubmitOptions = limited ? { signal, deadline: Date.now() + timeoutMs } : {};
    return this.#pinned
      .pin(slot, message, options, undefined, (record) => (workerId = record.threadId))
      .then(
        (reply): BroadcastReply => ({ workerId, reply }),
        (error: unknown): BroadcastReply =>
          signal?.aborted || error instanceof DeadlinePassed
            ? { workerId, error, timedOut: true }
            : { workerId, error },
      );
  }
}

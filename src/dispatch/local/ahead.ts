import type { WireMessage } from '../../codec/message.js';
import type { SubmitOptions } from '../dispatcher.js';
import type { CallQueue } from './queue.js';
import type { Job, WorkerSlot } from './worker-slot.js';

/**
 * Sending a call ahead. A worker that ends a task and finds the next one already in its port starts it at
 * once; one that must be woken for it (a futex wake, a VM exit here) costs the main thread ~10-20 µs more,
 * and at 64 no-op calls in flight those wake-ups were most of a call's cost, in raw Piscina as in toolbridge
 * (BENCHMARKS.md). So the pool sends one more call to a busy worker when the call it runs and the next one
 * are of tools that take well under a millisecond (as measured here, per tool), and the next one can wait
 * there safely: it has no signal, no deadline and no port, nothing that could need it dropped while it
 * waits. The worker runs it after the first (one task at a time, as always). If the worker dies first, a
 * call sent ahead that had not begun (the worker's `started` gauge says) goes back to the head of the queue:
 * it never ran, so nothing is lost nor run twice.
 */
export const AHEAD_MS = 1;

/** Weight of the newest task time in a tool's running average. */
const SMOOTHING = 0.2;

/** The recent task time of each tool, from its calls' round trips in this pool. */
export class TaskCosts {
  readonly #ms = new Map<string, number>();

  record(tool: string | undefined, ms: number): void {
    if (tool === undefined) return;
    const previous = this.#ms.get(tool);
    this.#ms.set(tool, previous === undefined ? ms : previous + SMOOTHING * (ms - previous));
  }

  /** Whether calls of `tool` are known to take under {@link AHEAD_MS}. */
  short(tool: string | undefined): boolean {
    return tool !== undefined && (this.#ms.get(tool) ?? Infinity) < AHEAD_MS;
  }
}

/** A pool's sending ahead: the tools' task times, and the calls sent ahead so far. */
export class SendAhead {
  readonly costs = new TaskCosts();
  /** Calls sent ahead since the pool started. */
  count = 0;

  /**
   * The next call of `queue`, taken out of it, when it may go ahead to `slot`: a worker that serves, runs
   * one call of a short tool (begun under {@link AHEAD_MS} ago) and nothing else, and is not draining; and a
   * call that may wait there, of a short tool. Undefined otherwise (the queue is left as it was).
   */
  take(slot: WorkerSlot, queue: CallQueue, now: number): Job | undefined {
    const record = slot.current;
    if (slot.inFlight !== 1 || slot.draining !== undefined || slot.gone || record?.ready !== true) return undefined;
    if (record.sessionCalls > 0 || !this.costs.short(slot.tool)) return undefined;
    // A call already running longer than a short one takes is not short this time (a larger input, say).
    if (now - slot.taskStart >= AHEAD_MS) return undefined;
    const job = queue.peek();
    if (job === undefined || !mayWaitInWorker(job.message, job.options) || !this.costs.short(job.options.tool)) {
      return undefined;
    }
    this.count++;
    return queue.take();
  }
}

/** Whether a call may wait in a busy worker's port: nothing could need it dropped before it starts. */
export function mayWaitInWorker(message: WireMessage, options: SubmitOptions): boolean {
  return (
    options.tool !== undefined &&
    options.signal === undefined &&
    !options.deadline &&
    options.transferList === undefined &&
    message.k === undefined &&
    message.x === undefined &&
    message.y === undefined
  );
}

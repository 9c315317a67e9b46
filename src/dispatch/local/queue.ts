import type { WireMessage } from '../../codec/message.js';
import { ToolBridgeError } from '../../errors.js';
import type { SubmitOptions } from '../dispatcher.js';
import type { Job } from './worker-slot.js';

/**
 * The pool's queue of messages waiting for a worker, first in first out. A message whose signal fires
 * leaves it at once (its place is free for the next). An array with a moving head: no shifting per message.
 */
export class CallQueue {
  #jobs: Job[] = [];
  #head = 0;
  /** Messages still waiting (neither handed to a worker, nor cancelled, nor failed). */
  #waiting = 0;
  readonly #onCancel: () => void;

  /** `onCancel` runs after a waiting message left on its signal. */
  constructor(onCancel: () => void) {
    this.#onCancel = onCancel;
  }

  get waiting(): number {
    return this.#waiting;
  }

  push(message: WireMessage, options: SubmitOptions): Promise<WireMessage> {
    return new Promise<WireMessage>((resolve, reject) => {
      const job: Job = { message, options, resolve, reject, done: false };
      this.#jobs.push(job);
      this.#waiting++;
      options.signal?.addEventListener('abort', () => this.#cancel(job), { once: true });
    });
  }

  /** The next message still waiting, taken out of the queue; undefined when none waits. */
  take(): Job | undefined {
    const job = this.peek();
    if (job === undefined) {
      this.#compact();
      return undefined;
    }
    this.#jobs[this.#head++] = undefined as never;
    job.done = true;
    this.#waiting--;
    return job;
  }

  /** The next message still waiting, left in the queue; undefined when none waits. */
  peek(): Job | undefined {
    while (this.#head < this.#jobs.length) {
      const job = this.#jobs[this.#head]!;
      if (!job.done) return job;
      this.#jobs[this.#head++] = undefined as never;
    }
    return undefined;
  }

  /** Puts a job taken out back at the head of the queue (it was sent, but never began). */
  unshift(job: Job): void {
    job.done = false;
    this.#waiting++;
    if (this.#head > 0) this.#jobs[--this.#head] = job;
    else this.#jobs.unshift(job);
  }

  /** Whether nothing waits (and the queue's memory was released). */
  get empty(): boolean {
    if (this.#waiting > 0) return false;
    this.#compact();
    return true;
  }

  /** Rejects every waiting message with a fresh error each. */
  failAll(error: () => Error): void {
    for (let i = this.#head; i < this.#jobs.length; i++) {
      const job = this.#jobs[i]!;
      if (job.done) continue;
      job.done = true;
      job.reject(error());
    }
    this.#jobs = [];
    this.#head = 0;
    this.#waiting = 0;
  }

  #cancel(job: Job): void {
    if (job.done) return;
    job.done = true;
    this.#waiting--;
    job.reject(new ToolBridgeError('ABORTED', 'The call was stopped while it waited for a worker'));
    this.#onCancel();
  }

  /** Drops the slots of messages gone: all of them when nothing waits, else once they are most of the array. */
  #compact(): void {
    if (this.#waiting === 0) {
      this.#jobs.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#jobs.length) {
      this.#jobs.splice(0, this.#head);
      this.#head = 0;
    }
  }
}

import type { MessagePort } from 'node:worker_threads';
import { AbortedError, TimeoutError } from '../src/errors.js';
import type { ToolContext } from '../src/tool/define.js';

/** The `ctx` a tool receives. The AbortSignal and its deadline timer are made only if the tool asks. */
export class CallContext implements ToolContext {
  readonly callId: number;
  readonly tool: string;
  readonly #deadline: number;
  readonly #port: MessagePort | undefined;
  #controller: AbortController | undefined;
  #timer: NodeJS.Timeout | undefined;
  #abortedByCaller = false;

  /** The context of the call of a chunk now running, told when the chunk is aborted. */
  current: CallContext | undefined;

  constructor(callId: number, tool: string, deadline: number, port: MessagePort | undefined) {
    this.callId = callId;
    this.tool = tool;
    this.#deadline = deadline;
    this.#port = port;
    port?.once('message', () => this.abortByCaller());
  }

  progress(done: number, total?: number, message?: string): void {
    if (typeof done !== 'number') return;
    this.#port?.postMessage({
      progress: done,
      ...(typeof total === 'number' ? { total } : {}),
      ...(typeof message === 'string' ? { message } : {}),
    });
  }

  abortByCaller(): void {
    this.#abortedByCaller = true;
    this.#controller?.abort(new AbortedError(this.tool, 'aborted by the caller'));
    this.current?.abortByCaller();
  }

  /**
   * The context of one call of a chunk run call by call: a signal of its own (so a tool that listens to it
   * adds one listener per call, not one per chunk to a shared signal) with the call's own deadline.
   */
  forCall(deadline: number): CallContext {
    const ctx = new CallContext(this.callId, this.tool, deadline, undefined);
    if (this.#abortedByCaller) ctx.abortByCaller();
    this.current = ctx;
    return ctx;
  }

  get signal(): AbortSignal {
    if (this.#controller) return this.#controller.signal;
    const controller = (this.#controller = new AbortController());
    if (this.#abortedByCaller) {
      controller.abort(new AbortedError(this.tool, 'aborted by the caller'));
    } else if (this.#deadline > 0) {
      const timeout = () => controller.abort(new TimeoutError(this.tool, 0));
      const left = this.#deadline - Date.now();
      if (left <= 0) timeout();
      else this.#timer = setTimeout(timeout, left);
    }
    return controller.signal;
  }

  dispose(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#port?.close();
  }
}

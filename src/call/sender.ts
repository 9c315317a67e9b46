import { performance } from 'node:perf_hooks';
import { MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { decodeMessage, type Decoded, type WireMessage } from '../codec/message.js';
import { ModuleNeeded } from '../codec/lazy-modules.js';
import {
  AbortedError,
  ClosedError,
  InvalidArgsError,
  TimeoutError,
  ToolBridgeError,
  ToolFailedError,
  WorkerCrashedError,
} from '../errors.js';
import { ledger } from '../memory/ledger.js';
import { DeadlinePassed, type Dispatcher, type SubmitOptions } from '../dispatch/dispatcher.js';
import type { StatsRecorder } from '../telemetry/stats.js';
import type { Progress, ToolInfo } from '../tool/define.js';
import { watchCall } from './deadline.js';

/** The phases of a call's task, in ms: see `ToolStats`. */
export interface CallTiming {
  waitMs: number;
  runMs: number;
  codecMs: number;
}

/** Submit options of a call with neither a time limit nor a signal, one per tool (none made per call). */
const PLAIN_OPTIONS = new Map<string, SubmitOptions>();

function plainOptions(tool: string): SubmitOptions {
  let options = PLAIN_OPTIONS.get(tool);
  if (options === undefined) PLAIN_OPTIONS.set(tool, (options = Object.freeze({ tool })));
  return options;
}

/**
 * Sends one encoded message (a call or a chunk) to its tool's dispatcher and settles once: with the decoded
 * reply, or a typed error at the time limit, on abort, when the worker dies (after the tool's retries) or
 * when closing. Counts the reply's bytes and the task's phases.
 */
export class Sender {
  readonly #poolOf: (info: ToolInfo) => Dispatcher;
  readonly #stats: StatsRecorder;
  /** From now on, failures of the pool are reported as `CLOSED`. */
  closing = false;

  constructor(poolOf: (info: ToolInfo) => Dispatcher, stats: StatsRecorder) {
    this.#poolOf = poolOf;
    this.#stats = stats;
  }

  /**
   * Sends a message and settles once, like {@link #send}; a worker that dies under it (`WORKER_CRASHED`)
   * has it sent again, on another worker, up to the tool's `retries`, with what is left of its time. The
   * one retry mechanism of single calls and chunks.
   */
  attempt(
    info: ToolInfo,
    message: WireMessage,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    start: number,
    encodeMs: number,
    timing: CallTiming | undefined,
    settle: (error: ToolBridgeError | undefined, decoded?: Decoded) => void,
    onProgress?: (progress: Progress) => void,
  ): void {
    if (info.retries === 0) {
      return this.#send(info, message, timeoutMs, signal, start, encodeMs, timing, settle, onProgress);
    }
    // The first send's time limit counts from now; a retry gets what is left of it, not a new limit.
    const deadline = performance.now() + timeoutMs;
    let retries = info.retries;
    const retrying = (error: ToolBridgeError | undefined, decoded?: Decoded) => {
      if (error?.code === 'WORKER_CRASHED' && retries > 0) {
        retries--;
        const left = deadline - performance.now();
        if (left <= 0) return settle(new TimeoutError(info.name, timeoutMs));
        const restart = performance.now() - encodeMs;
        return this.#send(info, message, left, signal, restart, encodeMs, timing, retrying, onProgress);
      }
      settle(error, decoded);
    };
    this.#send(info, message, timeoutMs, signal, start, encodeMs, timing, retrying, onProgress);
  }

  /** {@link attempt}, as a promise. */
  dispatch(
    info: ToolInfo,
    message: WireMessage,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    encodeMs: number,
  ): Promise<Decoded> {
    const start = performance.now() - encodeMs;
    return new Promise<Decoded>((resolve, reject) =>
      this.attempt(info, message, timeoutMs, signal, start, encodeMs, undefined, (error, decoded) =>
        error ? reject(error) : resolve(decoded!),
      ),
    );
  }

  /**
   * Sends a message and calls `settle` once: with the decoded reply, or with `TIMEOUT` or `ABORTED` at once
   * when the limit passes or the signal fires (the tool is told through `ctx.signal`, and its worker stopped
   * after a grace period), `WORKER_CRASHED` when the worker dies, or `CLOSED` when closing. `start` is when
   * the call's encoding began, `encodeMs` how long it took: the task's phases are measured from them.
   */
  #send(
    info: ToolInfo,
    message: WireMessage,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    start: number,
    encodeMs: number,
    timing: CallTiming | undefined,
    settle: (error: ToolBridgeError | undefined, decoded?: Decoded) => void,
    onProgress?: (progress: Progress) => void,
  ): void {
    const tool = info.name;
    if (signal?.aborted) return settle(new AbortedError(tool, signal.reason));
    let settled = false;
    let port: MessagePort | undefined;
    const limited = timeoutMs !== Infinity;
    const stopper = limited || signal ? new AbortController() : undefined;

    const finish = (error: ToolBridgeError | undefined, decoded?: Decoded) => {
      if (settled) return;
      settled = true;
      unwatch();
      // Progress notes the tool posted before its result are in the port's queue by now (the worker posted
      // them first), but its messages are not ordered with the pool's: they reach the listener before the
      // call settles.
      if (port && onProgress) {
        for (let note = receiveMessageOnPort(port); note; note = receiveMessageOnPort(port)) {
          reportProgress(tool, note.message, onProgress);
        }
      }
      settle(error, decoded);
    };
    let transferList: MessagePort[] | undefined;
    if (signal || onProgress) {
      const channel = new MessageChannel();
      port = channel.port1;
      (message as WireMessage & { p?: MessagePort }).p = channel.port2;
      transferList = [channel.port2];
      if (onProgress) port.on('message', (note: unknown) => reportProgress(tool, note, onProgress));
    }
    // At the limit or on abort the caller is answered at once; the pool drops the call if it still waits,
    // and stops its worker after a grace period if the call is still running then. A running tool learns
    // of an abort through its ctx.signal (the port).
    const unwatch = watchCall(tool, timeoutMs, signal, (error) => {
      if (error.code === 'ABORTED') port?.postMessage('abort');
      finish(error);
      stopper?.abort(error);
    });

    const task = this.#poolOf(info).submit(
      message,
      stopper === undefined && transferList === undefined
        ? plainOptions(tool)
        : { signal: stopper?.signal, transferList, deadline: limited ? Date.now() + timeoutMs : 0, tool },
    );
    const receive = (reply: WireMessage, received: number): void => {
      let decoded: Decoded;
      try {
        decoded = decodeMessage(reply);
      } catch (error) {
        if (error instanceof ModuleNeeded) {
          // The result holds a table (or MessagePack) and this thread has not loaded that module yet.
          error.load().then(
            () => receive(reply, received),
            (failure: unknown) => finish(new ToolFailedError(tool, failure as Error)),
          );
          return;
        }
        // The worker answered and serves on: what failed is its result, not the worker.
        const detail = error instanceof Error ? error.message : String(error);
        return finish(
          new ToolFailedError(tool, new Error(`its result could not be decoded: ${detail}`, { cause: error })),
        );
      }
      const { fields } = decoded;
      this.#stats.bytes(tool, fields.sharedBytes, fields.copiedBytes);
      const end = performance.now();
      const runMs = fields.runMs ?? 0;
      const codecMs = encodeMs + (end - received) + (fields.codecMs ?? 0);
      const totalMs = end - start;
      this.#stats.task(tool, totalMs, runMs, codecMs, end);
      if (timing) {
        timing.runMs = runMs;
        timing.codecMs = codecMs;
        timing.waitMs = Math.max(0, totalMs - runMs - codecMs);
      }
      finish(undefined, decoded);
    };
    task.then(
      (reply) => {
        if (settled) {
          // A late reply (the call timed out or was aborted): nobody reads it.
          if (reply.r) ledger().discard(reply.r);
          return;
        }
        if (reply.r && reply.b) ledger().receive(reply.b, reply.r);
        receive(reply, performance.now());
      },
      (error: unknown) => finish(this.#dispatchError(tool, error, timeoutMs)),
    );
    if (port) {
      const open = port;
      task.finally(() => setImmediate(() => open.close())).catch(() => undefined);
    }
  }

  #dispatchError(tool: string, error: unknown, timeoutMs: number): ToolBridgeError {
    if (error instanceof ToolBridgeError) return error;
    if (error instanceof DeadlinePassed) return new TimeoutError(tool, timeoutMs);
    if (error instanceof Error && error.name === 'DataCloneError') {
      return new InvalidArgsError(`args cannot cross between threads: ${error.message}`, { cause: error });
    }
    if (this.closing) return new ClosedError();
    return new WorkerCrashedError(tool, error);
  }
}

/** Hands a tool's progress note to the caller's listener; a listener that throws is reported, not fatal. */
function reportProgress(tool: string, note: unknown, listener: (progress: Progress) => void): void {
  if (note === null || typeof note !== 'object' || typeof (note as { progress?: unknown }).progress !== 'number') {
    return;
  }
  const { progress, total, message } = note as { progress: number; total?: number; message?: string };
  try {
    listener({
      done: progress,
      ...(total !== undefined ? { total } : {}),
      ...(message !== undefined ? { message } : {}),
    });
  } catch (error) {
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.emitWarning(`an onProgress listener of a ${tool} call threw: ${detail}`, { code: 'TOOLBRIDGE_LISTENER' });
  }
}

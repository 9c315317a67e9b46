import { performance } from 'node:perf_hooks';
import { watchCall } from '../call/deadline.js';
import { isFailure, type ToolBridgeError } from '../errors.js';
import type { ChunkCalls } from '../call/chunk-calls.js';
import type { CallTransport } from '../call/transport.js';
import type { StatsRecorder } from '../telemetry/stats.js';
import type { ToolInfo } from '../tool/define.js';
import { chunkSizeFor } from './batch-executor.js';

interface Waiting {
  args: unknown;
  timeoutMs: number;
  start: number;
  settled: boolean;
  resolve: (value: unknown) => void;
  reject: (error: ToolBridgeError) => void;
  cleanup: () => void;
}

/**
 * Coalesces concurrent single calls of one tool into chunks: the calls waiting leave as one chunk as soon
 * as a worker of the tool's pool is free (the calls made in the same turn of the event loop together), else
 * when `maxSize` of them wait or `maxWaitMs` after the first one arrived, whichever comes first; or, once the tool's
 * cost is measured and they would take longer than a batch chunk should (a few ms), in chunks of that much
 * work, which the pool's workers share. Each caller gets its own outcome; a caller's time limit or abort
 * settles that caller alone (the chunk, shared with others, runs on).
 */
export class MicroBatcher {
  readonly #info: ToolInfo;
  readonly #transport: CallTransport;
  readonly #stats: StatsRecorder;
  readonly #maxSize: number;
  readonly #maxWaitMs: number;
  #waiting: Waiting[] = [];
  #timer: NodeJS.Timeout | undefined;
  #soon = false;

  constructor(info: ToolInfo, transport: CallTransport, stats: StatsRecorder) {
    this.#info = info;
    this.#transport = transport;
    this.#stats = stats;
    this.#maxSize = info.batch?.maxSize ?? 256;
    this.#maxWaitMs = info.batch?.maxWaitMs ?? 1;
  }

  add(args: unknown, timeoutMs: number, signal: AbortSignal | undefined): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      const waiting: Waiting = {
        args,
        timeoutMs,
        start: performance.now(),
        settled: false,
        resolve,
        reject,
        cleanup: () => undefined,
      };
      waiting.cleanup = watchCall(this.#info.name, timeoutMs, signal, (error) => this.#settleEarly(waiting, error));
      this.#waiting.push(waiting);
      if (this.#waiting.length >= this.#maxSize) this.flush();
      else if (this.#transport.idle(this.#info)) this.#flushSoon();
      else this.#timer ??= setTimeout(() => this.flush(), this.#maxWaitMs);
    });
  }

  /**
   * A worker is free: sends what waits once the current turn of the event loop has made its calls (a burst
   * of calls made together still goes as one chunk), without waiting for `maxWaitMs`.
   */
  #flushSoon(): void {
    if (this.#soon) return;
    this.#soon = true;
    queueMicrotask(() => {
      this.#soon = false;
      if (this.#waiting.length > 0) this.flush();
    });
  }

  /** Sends what waits now, in chunks. */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const waiting = this.#waiting.filter((w) => !w.settled);
    this.#waiting = [];
    const cost = this.#transport.perCallMs(this.#info.name);
    const size = cost === undefined ? waiting.length : chunkSizeFor(cost);
    for (let i = 0; i < waiting.length; i += size) this.#send(waiting.slice(i, i + size));
  }

  #send(chunk: Waiting[]): void {
    const started = performance.now();
    const calls: ChunkCalls = {
      args: chunk.map((waiting) => waiting.args),
      timeoutMs: (k) => chunk[k]!.timeoutMs,
      start: (k) => chunk[k]!.start,
    };
    void this.#transport.runChunk(this.#info, calls).then(({ values, errors }) => {
      let failures = 0;
      chunk.forEach((waiting, i) => {
        const error = errors?.[i];
        if (error !== undefined && isFailure(error)) failures++;
        if (waiting.settled) return;
        waiting.settled = true;
        waiting.cleanup();
        if (error === undefined) waiting.resolve(values[i]);
        else waiting.reject(error);
      });
      this.#stats.calls(this.#info.name, chunk.length, failures, performance.now() - started);
      // Its worker is free again: what waited meanwhile goes now.
      if (this.#waiting.length > 0 && this.#transport.idle(this.#info)) this.#flushSoon();
    });
  }

  /** Settles a caller before its chunk returns (time limit, abort); it leaves the queue if still there. */
  #settleEarly(waiting: Waiting, error: ToolBridgeError): void {
    if (waiting.settled) return;
    waiting.settled = true;
    waiting.cleanup();
    const queued = this.#waiting.length;
    this.#waiting = this.#waiting.filter((w) => w !== waiting);
    // Still queued: it never reaches a chunk, so it is counted here (a chunk counts the calls it ran).
    if (this.#waiting.length < queued) {
      this.#stats.call(this.#info.name, performance.now() - waiting.start, isFailure(error));
    }
    if (this.#waiting.length === 0 && this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    waiting.reject(error);
  }
}

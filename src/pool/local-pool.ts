import type { MessagePort, Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { WireMessage } from '../codec/message.js';
import { reviveError } from '../codec/error-record.js';
import { DuplicateToolError, QueueFullError, ToolBridgeError, ToolLoadError } from '../errors.js';
import { isRuntimeNotice, type ReadyNotice, type RuntimeConfig } from '../runtime-protocol.js';
import type { ToolInfo } from '../tool.js';

/** Options of one submitted call. */
export interface SubmitOptions {
  /** Aborting it removes the call from the queue, or stops the worker running it. */
  signal?: AbortSignal;
  /** Ports to hand to the worker with the call. */
  transferList?: MessagePort[];
}

/**
 * The dispatch seam: submit an envelope, get an envelope back. The local Piscina pool is one
 * implementation; a remote backend can be another, since messages are plain bytes and shared buffers.
 */
export interface Dispatcher {
  /** Starts the workers; resolves with the tool catalog once every initial worker has loaded its tools. */
  start(): Promise<ToolInfo[]>;
  submit(message: WireMessage, options: SubmitOptions): Promise<WireMessage>;
  /** Waits for the calls in flight, then stops the workers. */
  close(): Promise<void>;
  /** Stops the workers now; calls in flight fail. */
  destroy(): Promise<void>;
}

export interface LocalPoolOptions {
  minThreads: number;
  maxThreads: number;
  /** Calls that may wait beyond the running ones; more are refused with QUEUE_FULL. */
  maxQueue: number;
  /** Called when the queue has emptied after it refused a call. */
  onDrain: () => void;
  idleTimeoutMs: number;
  startTimeoutMs: number;
  hardHeapMb: number | undefined;
  runtime: RuntimeConfig;
}

const RUNTIME_ENTRY = new URL('../../workers/runtime.js', import.meta.url).href;

/** The default dispatcher: a Piscina thread pool running `workers/runtime.js`. */
export class LocalPool implements Dispatcher {
  readonly #options: LocalPoolOptions;
  readonly #piscina: Piscina;
  readonly #seen = new WeakSet<Worker>();
  readonly #loading = new Map<number, string>();
  /** Calls submitted and not settled: running plus queued. */
  #pending = 0;
  #refused = false;
  #startup: { resolve: (tools: ToolInfo[]) => void; reject: (error: Error) => void } | undefined;

  constructor(options: LocalPoolOptions) {
    this.#options = options;
    this.#piscina = new Piscina({
      filename: RUNTIME_ENTRY,
      minThreads: options.minThreads,
      maxThreads: options.maxThreads,
      idleTimeout: options.idleTimeoutMs,
      workerData: options.runtime,
      ...(options.hardHeapMb ? { resourceLimits: { maxOldGenerationSizeMb: options.hardHeapMb } } : {}),
    });
    this.#piscina.on('message', (message: unknown) => this.#onNotice(message));
    this.#piscina.on('workerCreate', () => this.#watchNewWorkers());
    // A worker error with no task to fail is reported here; the pool has already replaced the worker.
    this.#piscina.on('error', (error: unknown) => this.#startup?.reject(asError(error)));
  }

  start(): Promise<ToolInfo[]> {
    const { minThreads, startTimeoutMs } = this.#options;
    const needed = Math.max(1, minThreads);
    const ready = new Set<number>();
    return new Promise<ToolInfo[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        const pending = [...this.#loading.values()];
        const where = pending.length > 0 ? ` (still loading ${pending.join(', ')})` : '';
        reject(
          new ToolLoadError(
            pending[0] ?? 'toolbridge runtime',
            new Error(`workers not ready after ${startTimeoutMs} ms${where}`),
          ),
        );
      }, startTimeoutMs);
      const settle = () => {
        clearTimeout(timer);
        this.#startup = undefined;
      };
      this.#startup = {
        resolve: (tools) => {
          settle();
          resolve(tools);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      };
      this.#onReady = (notice) => {
        if (notice.error) return this.#startup?.reject(startupError(notice.error));
        ready.add(notice.threadId);
        if (ready.size >= needed) this.#startup?.resolve(notice.tools);
      };
      // A pool with no resident thread starts one now, so that the tool modules are checked up front.
      if (minThreads === 0) this.#piscina.run(null).catch(() => undefined);
    });
  }

  submit(message: WireMessage, options: SubmitOptions): Promise<WireMessage> {
    const { maxThreads, maxQueue } = this.#options;
    if (this.#pending - maxThreads >= maxQueue) {
      this.#refused = true;
      return Promise.reject(new QueueFullError(maxQueue));
    }
    this.#pending++;
    const task = this.#piscina.run(message, options as Parameters<Piscina['run']>[1]) as Promise<WireMessage>;
    const settled = () => {
      this.#pending--;
      if (this.#refused && this.#pending <= maxThreads) {
        this.#refused = false;
        this.#options.onDrain();
      }
    };
    task.then(settled, settled);
    return task;
  }

  close(): Promise<void> {
    return this.#piscina.close();
  }

  destroy(): Promise<void> {
    return this.#piscina.destroy();
  }

  #onReady: ((notice: ReadyNotice) => void) | undefined;

  #onNotice(message: unknown): void {
    if (!isRuntimeNotice(message)) return;
    if (message.toolbridge === 'loading') {
      this.#loading.set(message.threadId, message.module);
    } else {
      this.#loading.delete(message.threadId);
      this.#onReady?.(message);
    }
  }

  #watchNewWorkers(): void {
    for (const worker of this.#piscina.threads) {
      if (this.#seen.has(worker)) continue;
      this.#seen.add(worker);
      const { threadId } = worker;
      worker.once('exit', (code) => {
        const module = this.#loading.get(threadId);
        this.#loading.delete(threadId);
        if (this.#startup && module !== undefined) {
          this.#startup.reject(
            new ToolLoadError(module, new Error(`the worker exited with code ${code} while loading it`)),
          );
        }
      });
    }
  }
}

function startupError(error: NonNullable<ReadyNotice['error']>): ToolBridgeError {
  if (error.code === 'DUPLICATE_TOOL') return new DuplicateToolError(error.tool ?? '', error.modules ?? []);
  return new ToolLoadError(error.module, reviveError(error));
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

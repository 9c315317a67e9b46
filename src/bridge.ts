import { performance } from 'node:perf_hooks';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { errorFromWorker } from './codec/error-record.js';
import { decodeMessage, encodeMessage, Kind, type CodecPolicy, type WireMessage } from './codec/message.js';
import {
  AbortedError,
  ClosedError,
  InvalidArgsError,
  TimeoutError,
  ToolBridgeError,
  ToolNotFoundError,
  WorkerCrashedError,
} from './errors.js';
import { checkTimeout, resolveOptions, type BridgeOptions, type ResolvedOptions } from './options.js';
import { LocalPool, type Dispatcher } from './pool/local-pool.js';
import { StatsRecorder, type BridgeStats } from './telemetry/stats.js';
import type { ToolInfo } from './tool.js';

/** Options of one call. */
export interface CallOptions {
  /** Time limit of this call in milliseconds; overrides the tool's and the bridge's. */
  timeoutMs?: number;
  /** Aborts the call: it rejects with `ABORTED` and a tool still running is told, then stopped. */
  signal?: AbortSignal;
}

/** A running bridge: see {@link createBridge}. */
export interface Bridge extends AsyncDisposable {
  /** Runs a tool in a worker and resolves with its result. */
  call<R = unknown>(tool: string, args?: unknown, options?: CallOptions): Promise<R>;
  /** The registered tools and their metadata. */
  tools(): ToolInfo[];
  /** A snapshot of the counters: calls, errors and latency per tool; bytes shared and copied. */
  stats(): BridgeStats;
  /** Waits for the calls in flight, then stops the workers. Later calls reject with `CLOSED`. */
  close(): Promise<void>;
}

/**
 * How long a call that timed out or was aborted may keep its worker to stop on its own (a tool that
 * watches `ctx.signal`) before the worker is stopped and replaced.
 */
const STOP_GRACE_MS = 50;

class ToolBridge implements Bridge {
  readonly #options: ResolvedOptions;
  readonly #pool: Dispatcher;
  readonly #registry: ReadonlyMap<string, ToolInfo>;
  readonly #policy: CodecPolicy;
  readonly #stats = new StatsRecorder();
  #nextCallId = 1;
  #inFlight = 0;
  #closing: Promise<void> | undefined;
  #idle: (() => void) | undefined;

  constructor(options: ResolvedOptions, pool: Dispatcher, tools: readonly ToolInfo[]) {
    this.#options = options;
    this.#pool = pool;
    this.#registry = new Map(tools.map((tool) => [tool.name, Object.freeze({ ...tool })]));
    this.#policy = { msgpackThreshold: options.msgpackThreshold };
  }

  call<R = unknown>(tool: string, args?: unknown, options?: CallOptions): Promise<R> {
    if (this.#closing) return Promise.reject(new ClosedError());
    const info = this.#registry.get(tool);
    if (info === undefined) return Promise.reject(new ToolNotFoundError(String(tool), [...this.#registry.keys()]));
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(new AbortedError(tool, signal.reason));
    let timeoutMs = options?.timeoutMs ?? info.timeoutMs ?? this.#options.timeoutMs;
    if (options?.timeoutMs !== undefined) {
      try {
        timeoutMs = checkTimeout('options.timeoutMs', timeoutMs);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const start = performance.now();
    const callId = this.#nextCallId++;
    const limited = timeoutMs !== Infinity;
    let message: WireMessage;
    try {
      const deadline = limited ? Date.now() + timeoutMs : 0;
      const encoded = encodeMessage({ kind: Kind.Call, callId, tool, deadline }, args, this.#policy, 'args');
      this.#stats.bytes(encoded.sharedBytes, encoded.copiedBytes);
      message = encoded.message;
    } catch (error) {
      this.#stats.call(tool, performance.now() - start, true);
      return Promise.reject(
        error instanceof ToolBridgeError
          ? error
          : new InvalidArgsError(`args cannot be encoded: ${String(error)}`, { cause: error }),
      );
    }
    this.#inFlight++;
    return new Promise<R>((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      let stopper: AbortController | undefined;
      let port: MessagePort | undefined;

      const finish = (error: ToolBridgeError | undefined, value?: unknown) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#stats.call(tool, performance.now() - start, error !== undefined);
        if (--this.#inFlight === 0) this.#idle?.();
        if (error) reject(error);
        else resolve(value as R);
      };
      // Stop the task: tell the tool (ctx.signal) and give it a moment, then stop its worker.
      const stop = (error: ToolBridgeError) => {
        finish(error);
        const kill = setTimeout(() => stopper?.abort(error), STOP_GRACE_MS);
        task.finally(() => clearTimeout(kill)).catch(() => undefined);
      };
      const onAbort = () => {
        port?.postMessage('abort');
        stop(new AbortedError(tool, signal?.reason));
      };

      let transferList: MessagePort[] | undefined;
      if (limited || signal) stopper = new AbortController();
      if (signal) {
        const channel = new MessageChannel();
        port = channel.port1;
        (message as WireMessage & { p?: MessagePort }).p = channel.port2;
        transferList = [channel.port2];
        signal.addEventListener('abort', onAbort, { once: true });
      }
      if (limited) timer = setTimeout(() => stop(new TimeoutError(tool, timeoutMs)), timeoutMs);

      const task = this.#pool.submit(message, { signal: stopper?.signal, transferList });
      task.then(
        (reply) => {
          if (settled) return;
          let decoded;
          try {
            decoded = decodeMessage(reply);
          } catch (error) {
            return finish(new WorkerCrashedError(tool, error));
          }
          const { fields, value } = decoded;
          this.#stats.bytes(fields.sharedBytes, fields.copiedBytes);
          if (fields.kind === Kind.Error && fields.error) {
            finish(errorFromWorker(tool, fields.error, { known: () => [...this.#registry.keys()], timeoutMs }));
          } else {
            finish(undefined, value);
          }
        },
        (error: unknown) => finish(this.#dispatchError(tool, error)),
      );
      if (port) {
        const open = port;
        task.finally(() => open.close()).catch(() => undefined);
      }
    });
  }

  #dispatchError(tool: string, error: unknown): ToolBridgeError {
    if (error instanceof ToolBridgeError) return error;
    if (error instanceof Error && error.name === 'DataCloneError') {
      return new InvalidArgsError(`args cannot be sent to a worker: ${error.message}`, { cause: error });
    }
    if (this.#closing) return new ClosedError();
    return new WorkerCrashedError(tool, error);
  }

  tools(): ToolInfo[] {
    return [...this.#registry.values()];
  }

  stats(): BridgeStats {
    return this.#stats.snapshot();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
      await this.#pool.close();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Starts a pool of worker threads with the built-in tools and the given tool modules loaded, and resolves
 * once every initial worker has loaded them. A module that fails to load rejects with `TOOL_LOAD_FAILED`
 * naming it; two tools of one name reject with `DUPLICATE_TOOL`.
 *
 * @example
 * const bridge = await createBridge({ tools: [new URL('./my-tools.js', import.meta.url)] });
 * const y = await bridge.call('my.scale', { x, k: 2 });
 * await bridge.close();
 */
export async function createBridge(options?: BridgeOptions): Promise<Bridge> {
  const resolved = resolveOptions(options);
  const pool = new LocalPool({
    minThreads: resolved.minThreads,
    maxThreads: resolved.maxThreads,
    idleTimeoutMs: resolved.idleTimeoutMs,
    startTimeoutMs: resolved.startTimeoutMs,
    hardHeapMb: resolved.hardHeapMb,
    runtime: { modules: [...resolved.modules], msgpackThreshold: resolved.msgpackThreshold },
  });
  let tools: ToolInfo[];
  try {
    tools = await pool.start();
  } catch (error) {
    await pool.destroy().catch(() => undefined);
    throw error;
  }
  return new ToolBridge(resolved, pool, tools);
}

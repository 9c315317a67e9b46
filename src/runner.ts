import { performance } from 'node:perf_hooks';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { errorFromWorker } from './codec/error-record.js';
import {
  decodeMessage,
  encodeMessage,
  Kind,
  type CodecPolicy,
  type Decoded,
  type Encoded,
  type ErrorRecord,
  type WireMessage,
} from './codec/message.js';
import {
  AbortedError,
  ClosedError,
  InvalidArgsError,
  TimeoutError,
  ToolBridgeError,
  WorkerCrashedError,
} from './errors.js';
import { ledger } from './memory/ledger.js';
import type { Dispatcher } from './pool/local-pool.js';
import type { StatsRecorder } from './telemetry/stats.js';
import type { ToolInfo } from './tool.js';

/** An encoded message, with the time its encoding took. */
type Sent = Encoded & { encodeMs: number };

/** The phases of a call's task, in ms: see `ToolStats`. */
export interface CallTiming {
  waitMs: number;
  runMs: number;
  codecMs: number;
}

/** The outcome of one call of a batch: its value, or its typed error. */
export type Outcome<R = unknown> = { ok: true; value: R } | { ok: false; error: ToolBridgeError };

/** One call inside a chunk. */
export interface ChunkItem {
  args: unknown;
  /** Its time limit in ms (Infinity for none), counted from `start`. */
  timeoutMs: number;
  /** `performance.now()` when the caller made it. */
  start: number;
}

/** A chunk's reply value, as `workers/runtime.ts` writes it. */
interface ChunkResult {
  v: unknown[];
  e?: Record<number, ErrorRecord>;
}

/**
 * How long a call that timed out or was aborted may keep its worker to stop on its own (a tool that
 * watches `ctx.signal`) before the worker is stopped and replaced.
 */
const STOP_GRACE_MS = 50;

/** Weight of the newest chunk in the running per-call cost of a tool (used to size batch chunks). */
const COST_SMOOTHING = 0.3;

/**
 * Sends calls and chunks of calls to the pool: encodes them, enforces time limits and aborts, decodes the
 * replies into values or typed errors, and counts bytes and chunks. Knows nothing of Piscina.
 */
export class CallRunner {
  readonly #poolOf: (info: ToolInfo) => Dispatcher;
  readonly #policy: CodecPolicy;
  readonly #stats: StatsRecorder;
  readonly #known: () => readonly string[];
  readonly #perCallMs = new Map<string, number>();
  #closing = false;
  #nextCallId = 1;

  constructor(
    poolOf: (info: ToolInfo) => Dispatcher,
    policy: CodecPolicy,
    stats: StatsRecorder,
    known: () => readonly string[],
  ) {
    this.#poolOf = poolOf;
    this.#policy = policy;
    this.#stats = stats;
    this.#known = known;
  }

  /** From now on, failures of the pool are reported as `CLOSED`. */
  markClosing(): void {
    this.#closing = true;
  }

  /** The measured run time of one call of `tool` inside a chunk, in ms, once a chunk has run. */
  perCallMs(tool: string): number | undefined {
    return this.#perCallMs.get(tool);
  }

  /**
   * Runs one call; resolves with the tool's result or rejects with a typed error. `timing`, when given,
   * receives the phases of the task that answered.
   */
  async runOne(
    info: ToolInfo,
    args: unknown,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    timing?: CallTiming,
  ): Promise<unknown> {
    const callId = this.#nextCallId++;
    const deadline = timeoutMs === Infinity ? 0 : Date.now() + timeoutMs;
    const { message, copy, encodeMs } = this.#encode({ kind: Kind.Call, callId, tool: info.name, deadline }, args);
    let decoded: Decoded;
    let limit = timeoutMs;
    try {
      for (let retries = info.retries; ; retries--) {
        try {
          decoded = await this.#dispatch(info, message, limit, signal, encodeMs, timing);
          break;
        } catch (error) {
          if (!(retries > 0 && error instanceof ToolBridgeError && error.code === 'WORKER_CRASHED')) throw error;
          // A retry gets what is left of the call's time, not a new limit.
          if (deadline > 0) {
            limit = deadline - Date.now();
            if (limit <= 0) throw new TimeoutError(info.name, timeoutMs);
          }
        }
      }
    } finally {
      // The copies made for this call are the codec's own: no one holds them once it is over.
      if (copy) ledger().releaseHandle(copy);
    }
    const { fields, value } = decoded;
    if (fields.kind === Kind.Error && fields.error) {
      throw errorFromWorker(info.name, fields.error, { known: this.#known, timeoutMs });
    }
    return value;
  }

  /**
   * Runs calls of one tool as one worker task. Never rejects: each call gets its own outcome. A worker
   * crash fails the whole chunk, after the tool's `retries` (1 for idempotent tools by default).
   */
  async runChunk(info: ToolInfo, items: readonly ChunkItem[], signal?: AbortSignal): Promise<Outcome[]> {
    const outcomes: Outcome[] = new Array<Outcome>(items.length);
    // Calls whose args cannot be sent fail alone; the others go on.
    let sendable = items.map((_, i) => i);
    let encoded: Sent | undefined;
    const now = Date.now();
    const deadlines = (indices: number[]) =>
      indices.map((i) => {
        const { timeoutMs, start } = items[i]!;
        return timeoutMs === Infinity ? 0 : now + timeoutMs - (performance.now() - start);
      });
    const encode = (indices: number[]) => {
      const limits = deadlines(indices);
      const latest = limits.includes(0) ? 0 : Math.max(...limits);
      return this.#encode(
        {
          kind: Kind.Call,
          callId: this.#nextCallId++,
          tool: info.name,
          deadline: latest,
          count: indices.length,
          deadlines: limits,
        },
        indices.map((i) => items[i]!.args),
      );
    };
    try {
      encoded = encode(sendable);
    } catch {
      sendable = sendable.filter((i) => {
        try {
          // A trial encoding, to find the call at fault; it is not sent, so its bytes are not counted.
          const trial = encodeMessage(
            { kind: Kind.Call, callId: 0, tool: info.name, deadline: 0 },
            items[i]!.args,
            this.#policy,
            `calls[${i}].args`,
          );
          if (trial.copy) ledger().releaseHandle(trial.copy);
          return true;
        } catch (error) {
          outcomes[i] = { ok: false, error: asInvalidArgs(error) };
          return false;
        }
      });
      if (sendable.length > 0) encoded = encode(sendable);
    }
    if (encoded === undefined) return outcomes;
    try {
      return await this.#dispatchChunk(info, items, sendable, encoded, deadlines(sendable), signal, outcomes);
    } finally {
      if (encoded.copy) ledger().releaseHandle(encoded.copy);
    }
  }

  async #dispatchChunk(
    info: ToolInfo,
    items: readonly ChunkItem[],
    sendable: number[],
    encoded: Sent,
    limits: number[],
    signal: AbortSignal | undefined,
    outcomes: Outcome[],
  ): Promise<Outcome[]> {
    const timeoutMs = limits.includes(0) ? Infinity : Math.max(1, Math.max(...limits) - Date.now());
    for (let retries = info.retries; ; retries--) {
      try {
        const { fields, value } = await this.#dispatch(info, encoded.message, timeoutMs, signal, encoded.encodeMs);
        this.#stats.chunk(info.name);
        if (fields.kind === Kind.Error && fields.error) {
          const error = errorFromWorker(info.name, fields.error, { known: this.#known, timeoutMs });
          for (const i of sendable) outcomes[i] = { ok: false, error };
          return outcomes;
        }
        const result = value as ChunkResult;
        if (fields.runMs) this.#learnCost(info.name, fields.runMs / sendable.length);
        sendable.forEach((i, k) => {
          const record = result.e?.[k];
          outcomes[i] = record
            ? {
                ok: false,
                error: errorFromWorker(info.name, record, { known: this.#known, timeoutMs: items[i]!.timeoutMs }),
              }
            : { ok: true, value: result.v[k] };
        });
        return outcomes;
      } catch (error) {
        const typed = error instanceof ToolBridgeError ? error : new WorkerCrashedError(info.name, error);
        if (typed.code === 'WORKER_CRASHED' && retries > 0) continue;
        for (const i of sendable) outcomes[i] = { ok: false, error: typed };
        return outcomes;
      }
    }
  }

  #learnCost(tool: string, ms: number): void {
    const previous = this.#perCallMs.get(tool);
    this.#perCallMs.set(tool, previous === undefined ? ms : previous + COST_SMOOTHING * (ms - previous));
  }

  #encode(head: Parameters<typeof encodeMessage>[0], args: unknown, root = 'args'): Sent {
    try {
      const start = performance.now();
      const encoded = encodeMessage(head, args, this.#policy, root);
      this.#stats.bytes(head.tool, encoded.sharedBytes, encoded.copiedBytes);
      this.#stats.codecs(encoded.counts);
      encoded.encodeMs = performance.now() - start;
      return encoded as Sent;
    } catch (error) {
      throw asInvalidArgs(error);
    }
  }

  /**
   * Sends a message and resolves with the decoded reply. Rejects with `TIMEOUT` or `ABORTED` at once when
   * the limit passes or the signal fires (the tool is told through `ctx.signal`, and its worker stopped
   * after a grace period), with `WORKER_CRASHED` when the worker dies, and with `CLOSED` when closing.
   */
  #dispatch(
    info: ToolInfo,
    message: WireMessage,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    encodeMs: number,
    timing?: CallTiming,
  ): Promise<Decoded> {
    const tool = info.name;
    const sent = performance.now();
    if (signal?.aborted) return Promise.reject(new AbortedError(tool, signal.reason));
    return new Promise<Decoded>((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      let port: MessagePort | undefined;
      const limited = timeoutMs !== Infinity;
      const stopper = limited || signal ? new AbortController() : undefined;

      const finish = (error: ToolBridgeError | undefined, decoded?: Decoded) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve(decoded!);
      };
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
      if (signal) {
        const channel = new MessageChannel();
        port = channel.port1;
        (message as WireMessage & { p?: MessagePort }).p = channel.port2;
        transferList = [channel.port2];
        signal.addEventListener('abort', onAbort, { once: true });
      }
      if (limited) timer = setTimeout(() => stop(new TimeoutError(tool, timeoutMs)), timeoutMs);

      const task = this.#poolOf(info).submit(message, { signal: stopper?.signal, transferList });
      task.then(
        (reply) => {
          if (settled) {
            // A late reply (the call timed out or was aborted): nobody reads it.
            if (reply.r) ledger().discard(reply.r);
            return;
          }
          if (reply.r && reply.b) ledger().receive(reply.b, reply.r);
          const received = performance.now();
          let decoded: Decoded;
          try {
            decoded = decodeMessage(reply);
          } catch (error) {
            return finish(new WorkerCrashedError(tool, error));
          }
          const { fields } = decoded;
          this.#stats.bytes(tool, fields.sharedBytes, fields.copiedBytes);
          const end = performance.now();
          const runMs = fields.runMs ?? 0;
          const codecMs = encodeMs + (end - received) + (fields.codecMs ?? 0);
          const totalMs = encodeMs + (end - sent);
          this.#stats.task(tool, { totalMs, runMs, codecMs });
          if (timing) {
            timing.runMs = runMs;
            timing.codecMs = codecMs;
            timing.waitMs = Math.max(0, totalMs - runMs - codecMs);
          }
          finish(undefined, decoded);
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
}

function asInvalidArgs(error: unknown): ToolBridgeError {
  if (error instanceof ToolBridgeError) return error;
  return new InvalidArgsError(`args cannot be encoded: ${String(error)}`, { cause: error });
}

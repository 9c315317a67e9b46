import { performance } from 'node:perf_hooks';
import { errorFromWorker } from '../codec/error-record.js';
import {
  encodeMessage,
  Kind,
  SPLIT_MERGE,
  type CodecPolicy,
  type SplitPlan,
  type WireMessage,
  type Decoded,
  type Encoded,
  type ErrorRecord,
} from '../codec/message.js';
import { TimeoutError, ToolBridgeError, UnavailableError, WorkerCrashedError } from '../errors.js';
import { ModuleNeeded, withModules } from '../codec/lazy-modules.js';
import { Sender, type CallTiming } from './sender.js';
import { ledger } from '../memory/ledger.js';
import type { BroadcastReply, Dispatcher, PoolBackend } from '../dispatch/dispatcher.js';
import { readReply } from './replies.js';
import { asInvalidArgs, ended, moduleFailure } from './call-errors.js';
import type { ChunkCalls, ChunkOutcomes } from './chunk-calls.js';
import type { ChunkResult } from '../runtime-protocol.js';
import type { StatsRecorder } from '../telemetry/stats.js';
import type { Progress, ToolInfo } from '../tool/define.js';

/** How one call travels besides its args: the call options that concern its transport. */
export interface Route {
  durable?: boolean | undefined;
  affinity?: string | number | undefined;
  onProgress?: ((progress: Progress) => void) | undefined;
}

const NO_ROUTE: Route = Object.freeze({});

/** A tool's pool as the transport uses it: the dispatch seam, and broadcasts where the pool has them. */
type PoolOf = Dispatcher & Pick<PoolBackend, 'broadcast'>;

/** An encoded message, with the time its encoding took. */
type Sent = Encoded & { encodeMs: number };

/** One worker's outcome of a broadcast (`bridge.broadcast`): its `threadId`, and its value or typed error. */
export type BroadcastEntry<R = unknown> =
  { workerId: number; ok: true; value: R } | { workerId: number; ok: false; error: ToolBridgeError };

/** A split call's result -> its plan's shared value, kept alive (and counted) while the result is. */
const splitShared = new WeakMap<object, unknown>();

/** Weight of the newest chunk in the running per-call cost of a tool (used to size batch chunks). */
const COST_SMOOTHING = 0.3;

export type { CallTiming };

/**
 * Sends calls and chunks of calls to the pool: encodes them, hands them to the {@link Sender} (time limits,
 * aborts, retries), turns the replies into values or typed errors, and counts bytes and chunks. Knows
 * nothing of Piscina.
 */
export class CallTransport {
  readonly #poolOf: (info: ToolInfo) => PoolOf;
  readonly #policy: CodecPolicy;
  readonly #stats: StatsRecorder;
  readonly #sender: Sender;
  readonly #known: () => readonly string[];
  readonly #perCallMs = new Map<string, number>();
  #nextCallId = 1;

  constructor(
    poolOf: (info: ToolInfo) => PoolOf,
    policy: CodecPolicy,
    stats: StatsRecorder,
    known: () => readonly string[],
  ) {
    this.#poolOf = poolOf;
    this.#policy = policy;
    this.#stats = stats;
    this.#known = known;
    this.#sender = new Sender(poolOf, stats);
  }

  /** From now on, failures of the pool are reported as `CLOSED`. */
  markClosing(): void {
    this.#sender.closing = true;
  }

  /** Whether a call of `info` sent now would start at once (its pool has a free worker). */
  idle(info: ToolInfo): boolean {
    return this.#poolOf(info).idle();
  }

  /**
   * Runs one call on every live worker of the tool's pool, each within `timeoutMs`; resolves with one entry
   * per worker. With
   * `sticky`, each worker started later runs it too, before any other call (its outcome there is reported
   * as a `TOOLBRIDGE_STICKY` process warning when it fails).
   */
  async broadcast(info: ToolInfo, args: unknown, sticky: boolean, timeoutMs: number): Promise<BroadcastEntry[]> {
    const tool = info.name;
    const pool = this.#poolOf(info);
    if (pool.broadcast === undefined) throw new UnavailableError(tool, 'broadcasts run on a local bridge only');
    const sent = await withModules(() =>
      this.#encode({ kind: Kind.Call, callId: this.#nextCallId++, tool, deadline: 0 }, args),
    );
    const count = (shared: number, copied: number) => this.#stats.bytes(tool, shared, copied);
    const entry = async ({ workerId, reply, error, timedOut }: BroadcastReply): Promise<BroadcastEntry> => {
      try {
        if (timedOut) throw new TimeoutError(tool, timeoutMs);
        if (reply === undefined) throw error instanceof ToolBridgeError ? error : new WorkerCrashedError(tool, error);
        return { workerId, ok: true, value: await readReply(reply, tool, this.#known, count) };
      } catch (failure) {
        return { workerId, ok: false, error: failure as ToolBridgeError };
      }
    };
    const onReplay = (reply: BroadcastReply) =>
      void entry(reply).then((outcome) => {
        if (outcome.ok) return;
        process.emitWarning(
          `sticky broadcast of ${tool} failed on worker ${outcome.workerId}: ${outcome.error.message}`,
          {
            code: 'TOOLBRIDGE_STICKY',
          },
        );
      });
    try {
      const replies = await pool.broadcast(sent.message, sticky ? { sticky, onReplay, timeoutMs } : { timeoutMs });
      return await Promise.all(replies.map(entry));
    } finally {
      // A sticky broadcast's args are sent again to each new worker: they are kept as long as the pool.
      if (!sticky && sent.copy) ledger().releaseHandle(sent.copy);
    }
  }

  /** The measured run time of one call of `tool` inside a chunk, in ms, once a chunk has run. */
  perCallMs(tool: string): number | undefined {
    return this.#perCallMs.get(tool);
  }

  /**
   * Runs one call; resolves with the tool's result or rejects with a typed error. `timing`, when given,
   * receives the phases of the task that answered; `onEnd`, when given, is told the call's duration in ms and
   * whether it failed, just before the promise settles; `route` says how it travels (durable, affinity key,
   * progress listener). (The hot path: one promise, settled from the reply.)
   */
  runOne(
    info: ToolInfo,
    args: unknown,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    timing?: CallTiming,
    onEnd?: (ms: number, failed: boolean) => void,
    route: Route = NO_ROUTE,
  ): Promise<unknown> {
    const start = performance.now();
    const callId = this.#nextCallId++;
    const deadline = timeoutMs === Infinity ? 0 : Date.now() + timeoutMs;
    let sent: Sent;
    try {
      sent = this.#encode({ kind: Kind.Call, callId, tool: info.name, deadline }, args, start);
    } catch (error) {
      // The args hold a table (or need MessagePack) and this thread has not loaded that module yet.
      if (error instanceof ModuleNeeded) {
        return error.load().then(
          () => this.runOne(info, args, timeoutMs, signal, timing, onEnd, route),
          (failure: unknown) => Promise.reject(ended(onEnd, performance.now() - start, moduleFailure(failure))),
        );
      }
      return Promise.reject(ended(onEnd, performance.now() - start, error));
    }
    const { message, copy } = sent;
    if (route.durable === true) message.d = true;
    if (route.affinity !== undefined) message.k = String(route.affinity);
    return new Promise<unknown>((resolve, reject) => {
      const finish = (failure: unknown, value?: unknown) => {
        try {
          // The copies made for this call are the codec's own: no one holds them once it is over.
          if (copy) ledger().releaseHandle(copy);
        } catch (unexpected) {
          failure ??= unexpected;
        }
        failure = ended(onEnd, performance.now() - start, failure);
        if (failure !== undefined) reject(failure);
        else resolve(value);
      };
      const settle = (error: ToolBridgeError | undefined, decoded?: Decoded) => {
        let failure: unknown = error;
        try {
          if (decoded !== undefined && decoded.fields.kind === Kind.Error && decoded.fields.error) {
            failure = errorFromWorker(info.name, decoded.fields.error, { known: this.#known, timeoutMs });
          } else if (decoded?.plan) {
            // The tool split the call: its parts, then their merge, run on the pool's workers.
            this.#runSplit(info, message, decoded.value as SplitPlan, deadline, timeoutMs, signal).then(
              (value) => finish(undefined, value),
              (splitFailure: unknown) => finish(splitFailure),
            );
            return;
          }
        } catch (unexpected) {
          // Settling must not throw from the reply handler: the call fails with it instead.
          failure = unexpected;
        }
        finish(failure, decoded?.value);
      };
      this.#sender.attempt(info, message, timeoutMs, signal, start, sent.encodeMs, timing, settle, route.onProgress);
    });
  }

  /**
   * Runs the parts of a split call (`ToolSpec.split`) at once on the pool, then their merge if the tool has
   * one (else the plan's shared value is the result). Each part gets
   * the call's args as encoded for its plan (the same message: shared arrays, and copies already made, are
   * not copied again) and the plan's shared value; the first part to fail fails the call.
   */
  async #runSplit(
    info: ToolInfo,
    call: WireMessage,
    plan: SplitPlan,
    deadline: number,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const tool = info.name;
    this.#stats.split(tool, plan.n);
    const args: WireMessage = { e: call.e, b: call.b, w: call.w, v: call.v, m: call.m };
    const send = async (x: number, extra: { s: unknown; n?: number; p?: unknown[] }): Promise<unknown> => {
      const y = await withModules(() => this.#encode({ kind: Kind.Call, callId: 0, tool, deadline }, extra));
      try {
        const left = deadline === 0 ? Infinity : Math.max(1, deadline - Date.now());
        const reply = await this.#sender.dispatch(info, { ...args, x, y: y.message }, left, signal, y.encodeMs);
        if (reply.fields.kind === Kind.Error && reply.fields.error) {
          throw errorFromWorker(tool, reply.fields.error, { known: this.#known, timeoutMs });
        }
        return reply.value;
      } finally {
        if (y.copy) ledger().releaseHandle(y.copy);
      }
    };
    const shared = { s: plan.s, n: plan.n };
    const results = await Promise.all(Array.from({ length: plan.n }, (_, i) => send(i, shared)));
    // Without a merge, what the plan named (the shared value the parts filled, by default) is the result.
    if (plan.o === true) return 'v' in plan ? plan.v : plan.s;
    const value = await send(SPLIT_MERGE, { s: plan.s, p: results });
    // The plan's shared buffers are counted in the ledger through the values decoded here: they stay counted
    // as long as the result (which may be one of them, under another handle) is alive.
    if (typeof value === 'object' && value !== null) splitShared.set(value, plan.s);
    return value;
  }

  /**
   * Runs calls of one tool as one worker task. Never rejects: each call gets its own outcome. A worker
   * crash fails the whole chunk, after the tool's `retries` (1 for idempotent tools by default).
   */
  async runChunk(info: ToolInfo, calls: ChunkCalls, signal?: AbortSignal): Promise<ChunkOutcomes> {
    const { args } = calls;
    /** Errors by position (calls that could not be sent, then those that failed), made on the first. */
    let errors: Array<ToolBridgeError | undefined> | undefined;
    // Calls whose args cannot be sent fail alone; the others go on.
    let sendable: number[] | undefined;
    let encoded: Sent | undefined;
    // Each call's deadline on the wall clock (0: none), from its time limit and when it was made.
    const now = Date.now();
    const elapsedBase = performance.now();
    const deadlines = (indices: number[] | undefined) => {
      const out = new Array<number>(indices?.length ?? args.length);
      for (let k = 0; k < out.length; k++) {
        const i = indices === undefined ? k : indices[k]!;
        const timeoutMs = calls.timeoutMs(i);
        out[k] = timeoutMs === Infinity ? 0 : now + timeoutMs - (elapsedBase - calls.start(i));
      }
      return out;
    };
    /** The deadlines of the calls last encoded (those that are sent). */
    let limits: number[] = [];
    const encode = (indices: number[] | undefined) => {
      limits = deadlines(indices);
      const latest = limits.includes(0) ? 0 : Math.max(...limits);
      return this.#encode(
        {
          kind: Kind.Call,
          callId: this.#nextCallId++,
          tool: info.name,
          deadline: latest,
          count: indices?.length ?? args.length,
          independentDepth: 1,
          // A chunk of calls none of which has a limit (the usual batch) sends no per-call deadlines.
          deadlines: latest === 0 && !limits.some((limit) => limit > 0) ? undefined : limits,
        },
        indices === undefined ? args : indices.map((i) => args[i]),
      );
    };
    try {
      encoded = await withModules(() => encode(sendable));
    } catch {
      const good: number[] = [];
      for (let i = 0; i < args.length; i++) {
        try {
          // A trial encoding, to find the call at fault; it is not sent, so its bytes are not counted.
          const trial = await withModules(() =>
            encodeMessage(
              { kind: Kind.Call, callId: 0, tool: info.name, deadline: 0 },
              args[i],
              this.#policy,
              calls.position ? `calls[${calls.position(i)}].args` : 'args',
            ),
          );
          if (trial.copy) ledger().releaseHandle(trial.copy);
          good.push(i);
        } catch (error) {
          (errors ??= new Array<ToolBridgeError | undefined>(args.length))[i] = asInvalidArgs(error);
        }
      }
      sendable = good;
      if (good.length > 0) encoded = encode(good);
    }
    if (encoded === undefined) return { values: [], errors };
    try {
      return await this.#dispatchChunk(info, calls, sendable, encoded, limits, signal, errors);
    } finally {
      if (encoded.copy) ledger().releaseHandle(encoded.copy);
    }
  }

  /**
   * Sends an encoded chunk and gives each sent call (`sendable`, or all) its outcome; `errors` holds those of
   * the calls that could not be sent.
   */
  async #dispatchChunk(
    info: ToolInfo,
    calls: ChunkCalls,
    sendable: number[] | undefined,
    encoded: Sent,
    limits: number[],
    signal: AbortSignal | undefined,
    errors: Array<ToolBridgeError | undefined> | undefined,
  ): Promise<ChunkOutcomes> {
    const size = calls.args.length;
    const count = sendable?.length ?? size;
    /** Sets the error of each sent call, from its position in the chunk. */
    const failAll = (error: (i: number) => ToolBridgeError): ChunkOutcomes => {
      const out = errors ?? new Array<ToolBridgeError | undefined>(size);
      for (let k = 0; k < count; k++) {
        const i = sendable === undefined ? k : sendable[k]!;
        out[i] = error(i);
      }
      return { values: [], errors: out };
    };
    // Each call is told its own limit, not the time its chunk had left.
    const fromWorker = (i: number, record: ErrorRecord) =>
      errorFromWorker(info.name, record, { known: this.#known, timeoutMs: calls.timeoutMs(i) });
    const timeoutMs = limits.includes(0) ? Infinity : Math.max(1, Math.max(...limits) - Date.now());
    let decoded: Decoded;
    try {
      decoded = await this.#sender.dispatch(info, encoded.message, timeoutMs, signal, encoded.encodeMs);
    } catch (error) {
      const typed = error instanceof ToolBridgeError ? error : new WorkerCrashedError(info.name, error);
      // A chunk stopped at its deadline tells each call the limit it was given.
      return failAll((i) => (typed.code === 'TIMEOUT' ? new TimeoutError(info.name, calls.timeoutMs(i)) : typed));
    }
    const { fields, value } = decoded;
    this.#stats.chunk(info.name);
    const whole = fields.kind === Kind.Error ? fields.error : undefined;
    if (whole) return failAll((i) => fromWorker(i, whole));
    const { v, e } = value as ChunkResult;
    if (fields.runMs) this.#learnCost(info.name, fields.runMs / count);
    // Every call sent and none failed (the usual chunk): the worker's list of values is the answer.
    if (sendable === undefined && e === undefined) return { values: v };
    const values = new Array<unknown>(size);
    for (let k = 0; k < count; k++) {
      const i = sendable === undefined ? k : sendable[k]!;
      const record = e?.[k];
      if (record) (errors ??= new Array<ToolBridgeError | undefined>(size))[i] = fromWorker(i, record);
      else values[i] = v[k];
    }
    return { values, errors };
  }

  #learnCost(tool: string, ms: number): void {
    const previous = this.#perCallMs.get(tool);
    this.#perCallMs.set(tool, previous === undefined ? ms : previous + COST_SMOOTHING * (ms - previous));
  }

  /** Encodes a call; `start` is `performance.now()` when its encoding began. */
  #encode(head: Parameters<typeof encodeMessage>[0], args: unknown, start = performance.now()): Sent {
    try {
      const encoded = encodeMessage(head, args, this.#policy, 'args');
      this.#stats.bytes(head.tool, encoded.sharedBytes, encoded.copiedBytes);
      this.#stats.codecs(encoded.counts);
      encoded.encodeMs = performance.now() - start;
      return encoded as Sent;
    } catch (error) {
      throw error instanceof ModuleNeeded ? error : asInvalidArgs(error);
    }
  }
}

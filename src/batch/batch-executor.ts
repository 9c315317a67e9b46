import { performance } from 'node:perf_hooks';
import {
  AbortedError,
  InvalidArgsError,
  InvalidOptionsError,
  isFailure,
  describeValue,
  type ToolBridgeError,
} from '../errors.js';
import { checkKnownKeys } from '../known-keys.js';
import type { ChunkCalls, ChunkOutcomes, Outcome } from '../call/chunk-calls.js';
import type { CallTransport } from '../call/transport.js';
import type { ToolCatalog } from '../registry/catalog.js';
import type { StatsRecorder } from '../telemetry/stats.js';
import type { ToolInfo } from '../tool/define.js';

/** One call of a batch. */
export interface BatchCall {
  tool: string;
  args?: unknown;
  /** Time limit of this call in ms, counted from the start of the batch. */
  timeoutMs?: number;
}

/** Receives outcomes of a batch's calls: outcome `k` is that of the call at position `indices[k]`. */
export type BatchEmit = (indices: ArrayLike<number>, outcomes: ChunkOutcomes) => void;

/** The outcome of one call of a batch: `{ ok: true, value }` or `{ ok: false, error }`. */
export type BatchEntry<R = unknown> = Outcome<R>;

/** An outcome as `bridge.stream` yields it, with the call's position in the input. */
export type StreamEntry<R = unknown> = { index: number } & Outcome<R>;

export interface BatchProgress {
  /** Calls with an outcome so far. */
  done: number;
  total: number;
  /** Calls that failed so far. */
  failed: number;
}

export interface BatchOptions {
  /**
   * Calls of one tool per worker task. By default it is sized from the tool's measured cost to take a few
   * milliseconds (starting small until a chunk has been measured), and never above an even share of the
   * remaining calls over the threads, so that one batch keeps every worker busy.
   */
  chunkSize?: number;
  /** Aborts what has not finished: finished calls keep their values, the rest are `ABORTED`. */
  signal?: AbortSignal;
  /** Called after each chunk completes. */
  onProgress?: (progress: BatchProgress) => void;
}

export interface BatchContext {
  transport: CallTransport;
  stats: StatsRecorder;
  catalog: ToolCatalog;
  /** The threads of a tool's pool, and its queue bound: a batch never has more chunks waiting than this. */
  poolOf: (info: ToolInfo) => { threads: number; maxQueue: number };
  /** The time limit of a call of `info` given its own `timeoutMs` (validated; throws INVALID_OPTIONS). */
  limitOf: (info: ToolInfo, timeoutMs: number | undefined) => number;
  /** A call's args checked against its tool's input schema (converted where it says so); throws INVALID_ARGS. */
  checkArgs?: (info: ToolInfo, args: unknown) => unknown;
}

const CALL_FIELDS = ['tool', 'args', 'timeoutMs'] as const satisfies ReadonlyArray<keyof BatchCall>;

/** Aim of automatic chunk sizing: milliseconds of tool work per chunk. */
const TARGET_CHUNK_MS = 2;
/** Chunk size before a tool's cost is known. */
const FIRST_CHUNK = 16;
const MAX_CHUNK = 8192;

/** Checks batch options eagerly; throws INVALID_OPTIONS quoting the bad value. */
export function checkBatchOptions(options: BatchOptions | undefined): BatchOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionsError(`batch options must be an object, got ${describeValue(options)}`);
  }
  checkKnownKeys('options', options, ['chunkSize', 'signal', 'onProgress']);
  const { chunkSize, signal, onProgress } = options;
  if (chunkSize !== undefined && (!Number.isSafeInteger(chunkSize) || chunkSize < 1)) {
    throw new InvalidOptionsError(`options.chunkSize must be a positive integer, got ${describeValue(chunkSize)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidOptionsError(`options.signal must be an AbortSignal, got ${describeValue(signal)}`);
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new InvalidOptionsError(`options.onProgress must be a function, got ${describeValue(onProgress)}`);
  }
  return options;
}

interface Group {
  info: ToolInfo;
  /** Its position in the batch's list of groups. */
  id: number;
  /** Positions in the batch of its calls, in order (filled once every call has been checked). */
  indices: Int32Array;
  /** Its calls: how many, then (while `indices` is filled) how many are in `indices`. */
  count: number;
  /** Position in `indices` of its next call to send. */
  next: number;
  /** The time limit of its calls that set none. */
  limit: number;
}

const NO_INDICES = new Int32Array(0);

/** Whether a call object has no key but {@link CALL_FIELDS} (no array made). */
function onlyCallFields(call: object): boolean {
  for (const key in call) {
    if (!(CALL_FIELDS as readonly string[]).includes(key)) return false;
  }
  return true;
}

/**
 * Runs a batch: groups the calls by tool, cuts each group into chunks and keeps up to two chunks per
 * thread in flight (fewer if the pool's queue bound is lower), round-robin over the tools. `emit` receives each
 * call's outcome exactly once, a chunk's together as it completes (`outcomes[k]` is the call at
 * `indices[k]`); the promise resolves when every call has one.
 */
export function runBatch(
  ctx: BatchContext,
  calls: readonly BatchCall[],
  options: BatchOptions,
  emit: BatchEmit,
): Promise<void> {
  const total = calls.length;
  const start = performance.now();
  let done = 0;
  let failed = 0;
  /** One call failed before its chunk ran (bad call, unknown tool, aborted while queued). */
  const settle = (index: number, error: ToolBridgeError) => {
    done++;
    failed++;
    emit([index], { values: [], errors: [error] });
  };
  const progress = () => {
    if (!options.onProgress) return;
    try {
      options.onProgress({ done, total, failed });
    } catch (error) {
      process.emitWarning(`toolbridge: onProgress threw: ${String(error)}`);
    }
  };

  const groups = new Map<string, Group>();
  const queue: Group[] = [];
  /** The group of a tool's calls; TOOL_NOT_FOUND for a name no tool has. */
  const groupOf = (tool: string): Group => {
    let found = groups.get(tool);
    if (found === undefined) {
      const info = ctx.catalog.get(tool);
      if (info === undefined) throw ctx.catalog.notFound(tool);
      const limit = ctx.limitOf(info, undefined);
      found = { info, id: queue.length, indices: NO_INDICES, count: 0, next: 0, limit };
      groups.set(tool, found);
      queue.push(found);
    }
    return found;
  };
  // Per call: a few checks, its group's id (-1 once settled here) and, if it set one, its own time limit (NaN
  // for the group's). No object is made per call: this loop is most of a batch's main-thread work.
  const groupIds = new Int32Array(total);
  let ownLimits: Float64Array | undefined;
  /** Args that passed their tool's input schema, by call (converted where it says so). */
  let checked: unknown[] | undefined;
  let group: Group | undefined;
  for (let index = 0; index < total; index++) {
    const call = calls[index] as BatchCall | null | undefined;
    if (call === null || typeof call !== 'object' || typeof call.tool !== 'string') {
      const got = describeValue(call);
      const error = new InvalidArgsError(`calls[${index}] must be { tool, args?, timeoutMs? }, got ${got}`, {
        path: `calls[${index}]`,
      });
      groupIds[index] = -1;
      settle(index, error);
      continue;
    }
    try {
      if (!onlyCallFields(call)) checkKnownKeys(`calls[${index}]`, call, CALL_FIELDS);
      // Runs of calls to one tool (the usual batch) find their group without a lookup.
      if (group === undefined || group.info.name !== call.tool) group = groupOf(call.tool);
      if (call.timeoutMs !== undefined) {
        const limit = ctx.limitOf(group.info, call.timeoutMs);
        (ownLimits ??= new Float64Array(total).fill(Number.NaN))[index] = limit;
      }
      if (group.info.inputSchema && ctx.checkArgs)
        (checked ??= new Array<unknown>(total))[index] = ctx.checkArgs(group.info, call.args);
      groupIds[index] = group.id;
      group.count++;
    } catch (error) {
      groupIds[index] = -1;
      settle(index, error as ToolBridgeError);
      group = undefined;
    }
  }
  for (const group of queue) {
    group.indices = new Int32Array(group.count);
    group.count = 0;
  }
  for (let index = 0; index < total; index++) {
    const id = groupIds[index]!;
    if (id >= 0) queue[id]!.indices[queue[id]!.count++] = index;
  }
  /** The calls at `indices` of `group`, as a chunk reads them. */
  const chunkOf = (group: Group, indices: Int32Array): ChunkCalls => {
    const args = new Array<unknown>(indices.length);
    for (let k = 0; k < indices.length; k++) {
      args[k] = checked !== undefined && group.info.inputSchema ? checked[indices[k]!] : calls[indices[k]!]!.args;
    }
    const limits = ownLimits;
    return {
      args,
      timeoutMs:
        limits === undefined
          ? () => group.limit
          : (k) => {
              const own = limits[indices[k]!]!;
              return Number.isNaN(own) ? group.limit : own;
            },
      start: () => start,
      position: (k) => indices[k]!,
    };
  };

  const internal = new AbortController();
  // Only a caller's signal aborts a batch: without one, chunks go with no signal, so no abort port (a
  // MessageChannel made and transferred with each chunk costs more than the rest of a small chunk's sending).
  const chunkSignal = options.signal ? internal.signal : undefined;
  const onAbort = () => internal.abort(options.signal?.reason);
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });

  // Up to two chunks per thread of each pool the batch uses (within the pool's queue bound).
  const pools = new Set(queue.map((group) => ctx.poolOf(group.info)));
  let maxInFlight = 0;
  for (const { threads, maxQueue } of pools) maxInFlight += Math.min(threads * 2, threads + maxQueue);
  maxInFlight = Math.max(1, maxInFlight);
  let inFlight = 0;
  let turn = 0;

  return new Promise<void>((resolve) => {
    const finishIfDone = () => {
      if (done < total) return;
      options.signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    const abortQueued = () => {
      for (const group of queue) {
        for (const index of group.indices.subarray(group.next)) {
          settle(index, new AbortedError(group.info.name, options.signal?.reason));
        }
        group.next = group.indices.length;
      }
    };
    const nextChunk = (): { group: Group; indices: Int32Array } | undefined => {
      for (let k = 0; k < queue.length; k++) {
        const group = queue[(turn + k) % queue.length]!;
        const left = group.indices.length - group.next;
        if (left === 0) continue;
        turn = (turn + k + 1) % queue.length;
        const size =
          options.chunkSize ??
          autoChunkSize(ctx.transport.perCallMs(group.info.name), left, ctx.poolOf(group.info).threads);
        const indices = group.indices.subarray(group.next, group.next + size);
        group.next += indices.length;
        return { group, indices };
      }
      return undefined;
    };
    const pump = () => {
      if (internal.signal.aborted) abortQueued();
      while (inFlight < maxInFlight && !internal.signal.aborted) {
        const chunk = nextChunk();
        if (chunk === undefined) break;
        inFlight++;
        const started = performance.now();
        const { group, indices } = chunk;
        void ctx.transport.runChunk(group.info, chunkOf(group, indices), chunkSignal).then((outcomes) => {
          inFlight--;
          let errors = 0;
          for (let k = 0; k < indices.length; k++) {
            const error = outcomes.errors?.[k];
            if (error === undefined) continue;
            failed++;
            if (isFailure(error)) errors++;
          }
          done += indices.length;
          // The chunk's outcomes go out as one array: a batch assembles its result from them at the end,
          // rather than storing each young outcome into one large array as it arrives (which costs the
          // garbage collector more than the outcomes themselves).
          emit(indices, outcomes);
          ctx.stats.calls(group.info.name, indices.length, errors, performance.now() - started);
          progress();
          pump();
        });
      }
      finishIfDone();
    };
    internal.signal.addEventListener('abort', () => {
      abortQueued();
      progress();
      finishIfDone();
    });
    if (done > 0) progress();
    pump();
  });
}

/**
 * Calls per chunk for a tool whose calls cost `cost` ms each (undefined before a chunk of it has run): about
 * {@link TARGET_CHUNK_MS} of work.
 */
export function chunkSizeFor(cost: number | undefined): number {
  if (cost === undefined) return FIRST_CHUNK;
  return Math.min(MAX_CHUNK, Math.max(1, Math.round(TARGET_CHUNK_MS / Math.max(cost, 1e-6))));
}

/** {@link chunkSizeFor}, and never more than an even share of the `left` calls over the threads. */
function autoChunkSize(cost: number | undefined, left: number, threads: number): number {
  return Math.min(chunkSizeFor(cost), Math.max(1, Math.ceil(left / threads)));
}

/** A worker's replies: a call's result or error encoded for the pool, and the gauges the pool reads. */
import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { workerData } from 'node:worker_threads';
import { toErrorRecord } from '../src/codec/error-record.js';
import { ModuleNeeded } from '../src/codec/lazy-modules.js';
import { encodeMessage, Kind, type CodecCounts, type ErrorRecord, type WireMessage } from '../src/codec/message.js';
import { QuotaExceededError } from '../src/errors.js';
import { ledger } from '../src/memory/ledger.js';
import {
  GAUGE_ARROW,
  GAUGE_CLONE,
  GAUGE_COPIED,
  GAUGE_COUNT,
  GAUGE_EXTERNAL,
  GAUGE_HEAP,
  GAUGE_MSGPACK,
  GAUGE_SHARED,
  type RuntimeConfig,
} from '../src/runtime-protocol.js';

const policy = (workerData as RuntimeConfig).codec;

/** This worker's gauges, read by the pool (heap, codec counts: see `GAUGE_*`). */
export const gauges = new Float64Array(new SharedArrayBuffer(GAUGE_COUNT * Float64Array.BYTES_PER_ELEMENT));
/**
 * Least time between two heap samples after tasks: a sample costs a few microseconds, which a stream of tiny
 * calls would feel, and a millisecond of work moves the heap little next to any sensible `maxHeapMb`.
 */
const HEAP_SAMPLE_MS = 1;
let heapSampledAt = -Infinity;
/** Samples the heap for the pool's watchdog, after a task (at most every {@link HEAP_SAMPLE_MS}). */
export const sampleHeap = (): void => {
  const now = performance.now();
  if (now - heapSampledAt < HEAP_SAMPLE_MS) return;
  heapSampledAt = now;
  const heap = getHeapStatistics();
  gauges[GAUGE_HEAP] = heap.used_heap_size;
  gauges[GAUGE_EXTERNAL] = heap.external_memory;
};

/** Adds what an encoding sent by each path to this worker's codec gauges. */
function countCodecs(counts: CodecCounts): void {
  gauges[GAUGE_SHARED]! += counts.shared;
  gauges[GAUGE_ARROW]! += counts.arrow;
  gauges[GAUGE_CLONE]! += counts.clone;
  gauges[GAUGE_MSGPACK]! += counts.msgpack;
  gauges[GAUGE_COPIED]! += counts.copied;
}

/**
 * `runMs`: time in the tool; `codecMs`: time decoding the call (the encoding's own time is added).
 * `independentDepth`: 2 for a chunk's `{ v }` result (see `takeApart`).
 */
export function reply(
  callId: number,
  tool: string,
  result: unknown,
  runMs: number,
  codecMs: number,
  independentDepth = 0,
  split?: number,
): WireMessage | Promise<WireMessage> {
  try {
    const encoded = encodeMessage(
      { kind: Kind.Result, callId, tool, deadline: 0, runMs, codecMs, independentDepth },
      result,
      policy,
      'result',
    );
    countCodecs(encoded.counts);
    const { message } = encoded;
    // Shared memory this worker allocated for the result now belongs to the caller.
    const ids = message.b && ledger().handOver(message.b);
    if (ids) message.r = ids;
    if (split !== undefined) message.x = split;
    return message;
  } catch (error) {
    // A table (or MessagePack) in the result, and this worker has not loaded that module yet.
    if (error instanceof ModuleNeeded) {
      return error.load().then(
        () => reply(callId, tool, result, runMs, codecMs, independentDepth, split),
        (failure: unknown) => fail(callId, tool, failure, '', runMs, codecMs),
      );
    }
    // A result that cannot cross (a function, say) is the tool's fault, not the caller's: TOOL_FAILED.
    // One that would pass the shared-memory quota is QUOTA_EXCEEDED.
    return fail(callId, tool, error, error instanceof QuotaExceededError ? undefined : '', runMs, codecMs);
  }
}

export function fail(callId: number, tool: string, error: unknown, code?: string, runMs = 0, codecMs = 0): WireMessage {
  const record: ErrorRecord = toErrorRecord(error);
  if (code !== undefined) record.code = code;
  const head = { kind: Kind.Error, callId, tool, deadline: 0, error: record, runMs, codecMs };
  return encodeMessage(head, undefined, policy, 'error').message;
}

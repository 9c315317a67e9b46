import type { ToolBridgeError } from '../errors.js';

/** The outcome of one call of a batch: its value, or its typed error. */
export type Outcome<R = unknown> = { ok: true; value: R } | { ok: false; error: ToolBridgeError };

/**
 * The outcomes of a chunk's calls by position, without an object per call (a batch makes its entries once,
 * at the end): call `k` failed with `errors[k]` if that is set, else its value is `values[k]`.
 */
export interface ChunkOutcomes {
  values: readonly unknown[];
  errors?: ReadonlyArray<ToolBridgeError | undefined>;
}

/** The outcome of call `k` of a chunk, as an object. */
export function outcomeAt(outcomes: ChunkOutcomes, k: number): Outcome {
  const error = outcomes.errors?.[k];
  return error === undefined ? { ok: true, value: outcomes.values[k] } : { ok: false, error };
}

/**
 * The calls of one chunk (calls of one tool sent as one worker task), read by position: a batch and the
 * micro-batcher each describe their calls without making an object per call.
 */
export interface ChunkCalls {
  /** Each call's args, in order. */
  readonly args: readonly unknown[];
  /** Call `k`'s time limit in ms (Infinity for none), counted from {@link ChunkCalls.start}. */
  timeoutMs(k: number): number;
  /** `performance.now()` when call `k` was made. */
  start(k: number): number;
  /** Call `k`'s position in its batch, which names it in errors (`calls[i].args`); none for single calls. */
  position?(k: number): number;
}

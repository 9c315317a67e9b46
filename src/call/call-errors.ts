import { InvalidArgsError, isFailure, ToolBridgeError } from '../errors.js';

/**
 * Tells `onEnd` a call is over; returns the call's error, or what `onEnd` threw (a `slowCall` listener, say),
 * which the call then rejects with.
 */
export function ended(onEnd: ((ms: number, failed: boolean) => void) | undefined, ms: number, error: unknown): unknown {
  try {
    onEnd?.(ms, isFailure(error));
  } catch (thrown) {
    return thrown;
  }
  return error;
}

/** The error of a call whose args need a module (apache-arrow, msgpackr) that cannot be loaded. */
export function moduleFailure(failure: unknown): ToolBridgeError {
  const detail = failure instanceof Error ? failure.message : String(failure);
  return new InvalidArgsError(`args cannot be encoded: a module they need failed to load: ${detail}`, {
    cause: failure,
  });
}

export function asInvalidArgs(error: unknown): ToolBridgeError {
  if (error instanceof ToolBridgeError) return error;
  return new InvalidArgsError(`args cannot be encoded: ${String(error)}`, { cause: error });
}

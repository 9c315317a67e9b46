import {
  AbortedError,
  InvalidArgsError,
  QuotaExceededError,
  TimeoutError,
  ToolBridgeError,
  ToolFailedError,
  ToolLoadError,
  ToolNotFoundError,
  type ErrorCode,
} from '../errors.js';
import type { ErrorRecord } from './envelope.js';

/** The parts of a thrown value that cross threads. */
export function toErrorRecord(error: unknown): ErrorRecord {
  if (error instanceof Error) {
    const code = error instanceof ToolBridgeError ? error.code : '';
    const path = error instanceof InvalidArgsError ? (error.path ?? '') : '';
    return { name: error.name, message: error.message, stack: error.stack ?? '', code, path };
  }
  return { name: 'Error', message: `Non-error value thrown: ${String(error)}`, stack: '', code: '', path: '' };
}

/** Rebuilds an error thrown in a worker as an `Error` with the original name, message and stack. */
export function reviveError(record: ErrorRecord): Error {
  const error = new Error(record.message);
  Object.defineProperty(error, 'name', { value: record.name, configurable: true, writable: true });
  error.stack = record.stack || `${record.name}: ${record.message}`;
  return error;
}

/** What the caller's side knows of a call, to rebuild the errors that name it. */
export interface CallSide {
  known: () => readonly string[];
  timeoutMs: number;
}

/**
 * The typed error the caller receives for an error record from a worker. A tool that stops because its
 * `ctx.signal` fired and rethrows the signal's reason reports `TIMEOUT` or `ABORTED`, as the caller's own
 * timer would.
 */
export function errorFromWorker(tool: string, record: ErrorRecord, call: CallSide): ToolBridgeError {
  const cause = reviveError(record);
  switch (record.code as ErrorCode | '') {
    case 'TIMEOUT':
      return new TimeoutError(tool, call.timeoutMs);
    case 'ABORTED':
      return new AbortedError(tool, cause);
    case 'INVALID_ARGS':
      return new InvalidArgsError(record.message, { cause, ...(record.path ? { path: record.path } : {}) });
    case 'TOOL_NOT_FOUND':
      return new ToolNotFoundError(tool, call.known());
    case 'TOOL_LOAD_FAILED':
      return new ToolLoadError(tool, cause);
    case 'QUOTA_EXCEEDED':
      return new QuotaExceededError(`${tool}: ${record.message}`, undefined, { cause });
    default:
      return new ToolFailedError(tool, cause);
  }
}

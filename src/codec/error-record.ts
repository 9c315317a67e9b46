import {
  AbortedError,
  ClosedError,
  DuplicateToolError,
  InvalidArgsError,
  InvalidOptionsError,
  QueueFullError,
  QuotaExceededError,
  SessionClosedError,
  SessionLostError,
  TimeoutError,
  ToolBridgeError,
  ToolFailedError,
  ToolLoadError,
  ToolNotFoundError,
  UnavailableError,
  WorkerCrashedError,
  type ErrorCode,
  type QuotaDetail,
} from '../errors.js';
import type { ErrorRecord } from './envelope.js';

/** Keys every error record carries on its own. */
const RECORDED = new Set(['name', 'message', 'stack']);

/**
 * The error's own enumerable properties that structured clone can carry (a property that cannot cross, a
 * function say, is left out), or undefined when it has none. Runs only when a tool fails.
 */
function ownProperties(error: Error, skip: ReadonlySet<string>): Record<string, unknown> | undefined {
  let props: Record<string, unknown> | undefined;
  for (const key of Object.keys(error)) {
    if (RECORDED.has(key) || skip.has(key)) continue;
    const value = (error as unknown as Record<string, unknown>)[key];
    try {
      structuredClone(value);
    } catch {
      continue;
    }
    (props ??= {})[key] = value;
  }
  return props;
}

const NONE: ReadonlySet<string> = new Set();
const OWN_CODE: ReadonlySet<string> = new Set(['code']);

/** The parts of a thrown value that cross threads. */
export function toErrorRecord(error: unknown): ErrorRecord {
  if (error instanceof Error) {
    const ours = error instanceof ToolBridgeError;
    const code = ours ? error.code : '';
    const path = error instanceof InvalidArgsError ? (error.path ?? '') : '';
    const record: ErrorRecord = { name: error.name, message: error.message, stack: error.stack ?? '', code, path };
    // A toolbridge error's code travels in the record; any other error's `code` (ENOENT, ...) is a property.
    const props = ownProperties(error, ours ? OWN_CODE : NONE);
    if (props !== undefined) record.props = props;
    return record;
  }
  return { name: 'Error', message: `Non-error value thrown: ${String(error)}`, stack: '', code: '', path: '' };
}

/**
 * Rebuilds an error thrown in a worker as an `Error` with the original name, message, stack and own
 * enumerable properties.
 */
export function reviveError(record: ErrorRecord): Error {
  const error = new Error(record.message);
  Object.defineProperty(error, 'name', { value: record.name, configurable: true, writable: true });
  error.stack = record.stack || `${record.name}: ${record.message}`;
  if (record.props !== undefined) Object.assign(error, record.props);
  return error;
}

/** What the caller's side knows of a call, to rebuild the errors that name it. */
export interface CallSide {
  known: () => readonly string[];
  timeoutMs: number;
}

/** Copies the record's properties that the rebuilt error does not set itself (a subclass's own fields). */
function withProps<E extends ToolBridgeError>(error: E, record: ErrorRecord): E {
  if (record.props === undefined) return error;
  for (const [key, value] of Object.entries(record.props)) {
    if (!(key in error)) (error as unknown as Record<string, unknown>)[key] = value;
  }
  return error;
}

/** A rebuilt error with the message (and properties) the tool gave it. */
function asThrown<E extends ToolBridgeError>(error: E, record: ErrorRecord): E {
  error.message = record.message;
  return withProps(error, record);
}

/**
 * The typed error the caller receives for an error record from a worker: a toolbridge error thrown in the
 * worker keeps its class and code; any other error becomes `TOOL_FAILED` with the original as `cause`. A
 * tool that stops because its `ctx.signal` fired and rethrows the signal's reason reports `TIMEOUT` or
 * `ABORTED`, as the caller's own timer would.
 */
export function errorFromWorker(tool: string, record: ErrorRecord, call: CallSide): ToolBridgeError {
  const cause = reviveError(record);
  const props = record.props ?? {};
  switch (record.code as ErrorCode | '') {
    case 'TIMEOUT':
      return new TimeoutError(tool, call.timeoutMs);
    case 'ABORTED':
      return new AbortedError(tool, cause);
    case 'INVALID_ARGS':
      return withProps(
        new InvalidArgsError(record.message, { cause, ...(record.path ? { path: record.path } : {}) }),
        record,
      );
    case 'TOOL_NOT_FOUND':
      return new ToolNotFoundError(tool, call.known());
    case 'TOOL_LOAD_FAILED':
      return new ToolLoadError(tool, cause);
    case 'QUOTA_EXCEEDED':
      return new QuotaExceededError(`${tool}: ${record.message}`, props.detail as QuotaDetail | undefined, { cause });
    case 'TOOL_FAILED':
      // The tool threw a ToolFailedError of its own: its cause is what it wrapped.
      return withProps(new ToolFailedError(tool, cause), record);
    // Codes a tool has little reason to throw, kept as thrown all the same (with the tool's message).
    case 'WORKER_CRASHED':
      return asThrown(new WorkerCrashedError(tool, cause), record);
    case 'CLOSED':
      return asThrown(new ClosedError(), record);
    case 'QUEUE_FULL':
      return asThrown(new QueueFullError(typeof props.maxQueue === 'number' ? props.maxQueue : 0), record);
    case 'DUPLICATE_TOOL':
      return asThrown(new DuplicateToolError(tool, []), record);
    case 'INVALID_OPTIONS':
      return asThrown(new InvalidOptionsError(record.message), record);
    case 'UNAVAILABLE':
      return asThrown(new UnavailableError(tool), record);
    case 'SESSION_LOST':
      return asThrown(new SessionLostError(tool, record.message), record);
    case 'SESSION_CLOSED':
      return asThrown(new SessionClosedError(tool), record);
    default:
      return new ToolFailedError(tool, cause);
  }
}

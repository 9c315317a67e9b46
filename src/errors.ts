/**
 * Every error toolbridge raises is a {@link ToolBridgeError} with a stable string `code`. Match on the
 * code (or the subclass), never on the message: messages may be reworded, codes may not.
 *
 * | code | raised when |
 * | --- | --- |
 * | `TOOL_NOT_FOUND` | the tool name is not registered (before any work is done) |
 * | `INVALID_ARGS` | the arguments cannot be carried, or a tool rejected their shape |
 * | `TOOL_FAILED` | the tool threw or rejected; `cause` is the original error |
 * | `TIMEOUT` | the call ran past its `timeoutMs` |
 * | `ABORTED` | the caller's `signal` fired |
 * | `WORKER_CRASHED` | the worker running the call died |
 * | `CLOSED` | the bridge is closed or closing |
 * | `TOOL_LOAD_FAILED` | a tool module could not be loaded in a worker |
 * | `DUPLICATE_TOOL` | two tool definitions share one name |
 * | `INVALID_OPTIONS` | an option passed to toolbridge is invalid |
 * | `QUEUE_FULL` | the pool's queue is at `maxQueue`: the call was refused at once |
 * | `QUOTA_EXCEEDED` | a shared-memory allocation would pass `memory.maxSharedMb` |
 * | `UNAVAILABLE` | no host serves the tool (a remote bridge, `toolbridge/nats`): refused at once |
 * | `SESSION_LOST` | a session's worker died (or was stopped past a hard limit): its state is gone |
 * | `SESSION_CLOSED` | a call on a session that was closed (by `close()`, idle time, or the bridge closing) |
 */
export type ErrorCode =
  | 'TOOL_NOT_FOUND'
  | 'INVALID_ARGS'
  | 'TOOL_FAILED'
  | 'TIMEOUT'
  | 'ABORTED'
  | 'WORKER_CRASHED'
  | 'CLOSED'
  | 'TOOL_LOAD_FAILED'
  | 'DUPLICATE_TOOL'
  | 'INVALID_OPTIONS'
  | 'QUEUE_FULL'
  | 'QUOTA_EXCEEDED'
  | 'UNAVAILABLE'
  | 'SESSION_LOST'
  | 'SESSION_CLOSED';

/**
 * Marks toolbridge's errors, shared by every copy of this module in the process (the same key for all), so
 * that an error raised by one installed copy of toolbridge is recognised by another.
 */
const ERROR_BRAND: unique symbol = Symbol.for('toolbridge.error') as never;

const plainInstanceOf = Function.prototype[Symbol.hasInstance];

/**
 * Base class of every error toolbridge raises. `instanceof` (on it and on each subclass) also recognises
 * the errors of another installed copy of toolbridge, by brand and class name.
 */
export class ToolBridgeError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  override get name(): string {
    return this.constructor.name;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (plainInstanceOf.call(this, value)) return true;
    if (typeof value !== 'object' || value === null || (value as { [ERROR_BRAND]?: true })[ERROR_BRAND] !== true) {
      return false;
    }
    if (this === ToolBridgeError) return true;
    // A subclass: the value's class, or one of its bases, has the same name.
    for (let proto = Object.getPrototypeOf(value) as object | null; proto; proto = Object.getPrototypeOf(proto)) {
      if ((proto as { constructor?: { name?: string } }).constructor?.name === this.name) return true;
    }
    return false;
  }
}
Object.defineProperty(ToolBridgeError.prototype, ERROR_BRAND, { value: true });

export class ToolNotFoundError extends ToolBridgeError {
  declare readonly code: 'TOOL_NOT_FOUND';
  readonly tool: string;

  constructor(tool: string, known: readonly string[]) {
    const hint = known.length > 0 ? ` Registered tools: ${known.join(', ')}.` : '';
    super('TOOL_NOT_FOUND', `No tool named ${JSON.stringify(tool)} is registered.${hint}`);
    this.tool = tool;
  }
}

/** One failing path of a call's args. */
export interface ArgsIssue {
  /** Where, as a JavaScript-like path: `args.query`, `args.items[2].x`. */
  path: string;
  message: string;
}

export class InvalidArgsError extends ToolBridgeError {
  declare readonly code: 'INVALID_ARGS';
  /** Where in the arguments the problem is, as a JavaScript-like path (`args.items[2].fn`), if known. */
  readonly path: string | undefined;
  /** Every failing path, when the args failed the tool's `inputSchema`. */
  readonly issues: ArgsIssue[] | undefined;

  constructor(message: string, options?: { path?: string; cause?: unknown; issues?: ArgsIssue[] }) {
    super('INVALID_ARGS', message, options);
    this.path = options?.path;
    this.issues = options?.issues;
  }
}

export class ToolFailedError extends ToolBridgeError {
  declare readonly code: 'TOOL_FAILED';
  readonly tool: string;

  constructor(tool: string, cause: Error) {
    super('TOOL_FAILED', `Tool ${JSON.stringify(tool)} failed: ${cause.message}`, { cause });
    this.tool = tool;
  }
}

export class TimeoutError extends ToolBridgeError {
  declare readonly code: 'TIMEOUT';
  readonly tool: string;
  readonly timeoutMs: number;

  constructor(tool: string, timeoutMs: number) {
    super('TIMEOUT', `Tool ${JSON.stringify(tool)} did not finish within ${timeoutMs} ms.`);
    this.tool = tool;
    this.timeoutMs = timeoutMs;
  }
}

export class AbortedError extends ToolBridgeError {
  declare readonly code: 'ABORTED';

  constructor(tool: string, reason: unknown) {
    super('ABORTED', `Call to ${JSON.stringify(tool)} was aborted.`, { cause: reason });
  }
}

export class WorkerCrashedError extends ToolBridgeError {
  declare readonly code: 'WORKER_CRASHED';
  readonly tool: string;

  constructor(tool: string, cause: unknown) {
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    super('WORKER_CRASHED', `The worker running ${JSON.stringify(tool)} died${detail}`, { cause });
    this.tool = tool;
  }
}

export class ClosedError extends ToolBridgeError {
  declare readonly code: 'CLOSED';

  constructor() {
    super('CLOSED', 'The bridge is closed.');
  }
}

export class ToolLoadError extends ToolBridgeError {
  declare readonly code: 'TOOL_LOAD_FAILED';
  /** The module (URL) that failed to load. */
  readonly module: string;

  constructor(module: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super('TOOL_LOAD_FAILED', `Tool module ${module} failed to load in a worker: ${detail}`, { cause });
    this.module = module;
  }
}

export class DuplicateToolError extends ToolBridgeError {
  declare readonly code: 'DUPLICATE_TOOL';
  readonly tool: string;

  constructor(tool: string, modules: readonly string[]) {
    super('DUPLICATE_TOOL', `Tool ${JSON.stringify(tool)} is defined more than once (in ${modules.join(' and ')}).`);
    this.tool = tool;
  }
}

export class InvalidOptionsError extends ToolBridgeError {
  declare readonly code: 'INVALID_OPTIONS';

  constructor(message: string) {
    super('INVALID_OPTIONS', message);
  }
}

export class QueueFullError extends ToolBridgeError {
  declare readonly code: 'QUEUE_FULL';
  readonly maxQueue: number;

  constructor(maxQueue: number) {
    super(
      'QUEUE_FULL',
      `The pool's queue is full (${maxQueue} calls waiting): the call was refused. Wait for the bridge's 'drain' event.`,
    );
    this.maxQueue = maxQueue;
  }
}

/** What a refused shared-memory allocation asked for, against what was allowed and in use (MiB). */
export interface QuotaDetail {
  requestedBytes: number;
  limitMb: number;
  inUseMb: number;
}

export class QuotaExceededError extends ToolBridgeError {
  declare readonly code: 'QUOTA_EXCEEDED';
  /** Set where the allocation was refused; a refusal inside a tool carries its message only. */
  readonly detail: QuotaDetail | undefined;

  constructor(message: string, detail?: QuotaDetail, options?: { cause?: unknown }) {
    super('QUOTA_EXCEEDED', message, options);
    this.detail = detail;
  }

  static refuse(detail: QuotaDetail): QuotaExceededError {
    const mb = (value: number) => `${Math.round(value * 10) / 10} MiB`;
    return new QuotaExceededError(
      `Shared memory quota exceeded: ${mb(detail.requestedBytes / 1024 / 1024)} asked with ${mb(detail.inUseMb)} in use, over memory.maxSharedMb (${mb(detail.limitMb)})`,
      detail,
    );
  }
}

/** A remote call found no host serving its tool (`toolbridge/nats`): it was refused at once, it never ran. */
export class UnavailableError extends ToolBridgeError {
  declare readonly code: 'UNAVAILABLE';

  constructor(tool: string, detail = 'no host serves it') {
    super('UNAVAILABLE', `Tool ${JSON.stringify(tool)} is unavailable: ${detail}.`);
  }
}

/**
 * A session's worker is gone (it crashed, or was stopped past a hard limit): the session's state is lost,
 * and its calls in flight and later ones reject with this. Open a new session to go on.
 */
export class SessionLostError extends ToolBridgeError {
  declare readonly code: 'SESSION_LOST';
  readonly session: string;

  constructor(session: string, detail: string, options?: { cause?: unknown }) {
    super('SESSION_LOST', `Session ${JSON.stringify(session)} was lost: ${detail}.`, options);
    this.session = session;
  }
}

/** A call on a session that is closed: by its `close()`, its idle timeout, or its bridge closing. */
export class SessionClosedError extends ToolBridgeError {
  declare readonly code: 'SESSION_CLOSED';
  readonly session: string;

  constructor(session: string, why = 'it was closed') {
    super('SESSION_CLOSED', `Session ${JSON.stringify(session)} is closed: ${why}.`);
    this.session = session;
  }
}

/**
 * Whether an outcome counts against a tool's error rate and the bridge's health: every error but the
 * caller's own abort (`ABORTED`), which says nothing of the tool or the pool.
 */
export function isFailure(error: unknown): boolean {
  return error !== undefined && !(error instanceof ToolBridgeError && error.code === 'ABORTED');
}

/** Describes a value for an error message: its type and, when short, the value itself. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string')
    return `${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)} (string)`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return `${String(value)} (${typeof value})`;
  }
  if (Array.isArray(value)) return `an array (length ${value.length})`;
  if (typeof value === 'object') {
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name !== 'string' || name === '') return 'a null-prototype object';
    if (name === 'Object') return 'an object';
    return `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}`;
  }
  if (typeof value === 'function') return 'a function';
  return typeof value;
}

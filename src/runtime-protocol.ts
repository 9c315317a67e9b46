import type { ErrorRecord } from './codec/envelope.js';
import type { CodecPolicy } from './codec/message.js';
import type { LedgerMemory } from './memory/ledger.js';
import type { ToolInfo } from './tool/define.js';
import type { SessionInfo } from './tool/session.js';

/** What the pool passes to each worker at start-up. */
export interface RuntimeConfig {
  /** Tool module URLs, loaded in order after the built-in tools. */
  modules: string[];
  /** How values are encoded (the bridge's `codec` options). */
  codec: CodecPolicy;
  /** The process's shared-memory ledger. */
  ledger: LedgerMemory;
  /** The pool's most threads: what a split call's plan is told (`SplitSpec.plan`). */
  threads: number;
}

/** Posted by a worker on its parent port just before it imports a tool module. */
export interface LoadingNotice {
  toolbridge: 'loading';
  threadId: number;
  module: string;
}

/** Posted by a worker on its parent port once its tool modules are loaded (or failed to). */
export interface ReadyNotice {
  toolbridge: 'ready';
  threadId: number;
  tools: ToolInfo[];
  /** The sessions its modules define (`defineSession`). */
  sessions: SessionInfo[];
  /**
   * The worker's gauges, written after every task: `[0]` its V8 heap in use, in bytes. Shared, so the
   * main thread reads them when it needs them and no message carries them.
   */
  gauges: SharedArrayBuffer;
  /** How many handles of each shared-memory ledger entry the worker holds (released if it dies). */
  held: SharedArrayBuffer;
  /** Set when a module failed to load or a tool name is taken twice. */
  error?: ErrorRecord & { module: string; tool?: string; modules?: string[] };
}

export type RuntimeNotice = LoadingNotice | ReadyNotice;

/** Gauges in `ReadyNotice.gauges`, a Float64Array: the heap in use (bytes), then values sent by each path. */
export const GAUGE_HEAP = 0;
export const GAUGE_SHARED = 1;
export const GAUGE_ARROW = 2;
export const GAUGE_CLONE = 3;
export const GAUGE_MSGPACK = 4;
export const GAUGE_COPIED = 5;
/** The worker's V8 heap limit (`heap_size_limit`, bytes), written at start. */
export const GAUGE_HEAP_LIMIT = 6;
/** Memory the worker's isolate holds outside its V8 heap (`external_memory`: its ArrayBuffers), bytes. */
export const GAUGE_EXTERNAL = 7;
/**
 * The pool's number (`WireMessage.q`) of the latest task the worker has begun, written as it begins it: the
 * pool tells from it whether a task it sent ahead to a busy worker had begun when that worker died.
 */
export const GAUGE_STARTED = 8;
export const GAUGE_COUNT = 9;

/** What a chunk of a batch returns: every call's value by position, and the errors by position. */
export interface ChunkResult {
  v: unknown[];
  e?: Record<number, ErrorRecord>;
}

export const BUILTIN_MODULE = 'toolbridge:builtin';

export function isRuntimeNotice(value: unknown): value is RuntimeNotice {
  return typeof value === 'object' && value !== null && 'toolbridge' in value;
}

import type { ErrorRecord } from './codec/envelope.js';
import type { ToolInfo } from './tool.js';

/** What the pool passes to each worker at start-up. */
export interface RuntimeConfig {
  /** Tool module URLs, loaded in order after the built-in tools. */
  modules: string[];
  /** See `CodecPolicy.msgpackThreshold`. */
  msgpackThreshold: number;
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
  /** Set when a module failed to load or a tool name is taken twice. */
  error?: ErrorRecord & { module: string; tool?: string; modules?: string[] };
}

export type RuntimeNotice = LoadingNotice | ReadyNotice;

export const BUILTIN_MODULE = 'toolbridge:builtin';

export function isRuntimeNotice(value: unknown): value is RuntimeNotice {
  return typeof value === 'object' && value !== null && 'toolbridge' in value;
}

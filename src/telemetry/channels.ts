/**
 * toolbridge's `node:diagnostics_channel` channels, the convention APMs subscribe to (as they do for
 * undici). Nothing is built or published while a channel has no subscriber.
 *
 * @example
 * import { subscribe } from 'node:diagnostics_channel';
 * subscribe('toolbridge:call:end', (message) => console.log(message));
 */
import { channel } from 'node:diagnostics_channel';
import type { ToolBridgeError } from '../errors.js';

/** Published on `toolbridge:call:start`; the same object is published again on `:end` or `:error`. */
export interface CallMessage {
  /** The bridge's `id`. */
  bridge: number;
  tool: string;
  /** Unique per bridge process, to pair start and end. */
  id: number;
  /** `performance.now()` at the call. */
  startTime: number;
  /** Set on `:end` and `:error`: milliseconds from the call to settling. */
  durationMs?: number;
  /** Set on `:end` and `:error` when the call ran as a task of its own: its phases in ms. */
  phases?: { waitMs: number; runMs: number; codecMs: number };
  /** Set on `:error`. */
  error?: ToolBridgeError | unknown;
}

/** Published on `toolbridge:cache:hit` and `toolbridge:cache:miss`. */
export interface CacheMessage {
  tool: string;
}

export const callStart = channel('toolbridge:call:start');
export const callEnd = channel('toolbridge:call:end');
export const callError = channel('toolbridge:call:error');
export const cacheHit = channel('toolbridge:cache:hit');
export const cacheMiss = channel('toolbridge:cache:miss');
/** Published with the bridge's `recycle` event payload (`RecycleEvent`) for every recycle. */
export const workerRecycle = channel('toolbridge:worker:recycle');

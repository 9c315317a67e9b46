/**
 * What crosses a session's port, on both sides: the API the session's worker exposes through comlink, and a
 * comlink transfer handler for values toolbridge's codec has already encoded (typed arrays by reference in
 * shared memory, Arrow tables as frames, the rest by structured clone or MessagePack), so that session
 * calls carry data the way tool calls do. Worker-safe: it loads comlink alone.
 */
import { transferHandlers, type TransferHandler } from 'comlink';
import type { WireMessage } from '../codec/message.js';

/** A value encoded by toolbridge's codec, on its way over a session's port. */
export class Packed {
  readonly message: WireMessage;

  constructor(message: WireMessage) {
    this.message = message;
  }
}

import type { Scalar } from './scalar.js';

export { isScalar, type Scalar } from './scalar.js';

/**
 * What a session's worker exposes on the session's port. Args and results go through the codec
 * ({@link Packed}), except a list of scalar args and a scalar result, which go as they are (no envelope).
 * An error is always an encoded error record.
 */
export interface SessionPort {
  /** Runs `method` of the session's object (one call at a time unless the session is concurrent). */
  invoke(method: string, args: Packed | Scalar[]): Promise<Packed | Scalar>;
  /** Waits for the calls in flight, runs the object's own `close()` if any, and ends the session. */
  close(): Promise<Packed>;
}

const HANDLER = 'toolbridge.packed';

/** Registers the handler for {@link Packed} values with this thread's comlink (once). */
export function registerPacked(): void {
  if (transferHandlers.has(HANDLER)) return;
  const handler: TransferHandler<Packed, WireMessage> = {
    canHandle: (value): value is Packed => value instanceof Packed,
    // Shared buffers in the message are shared by postMessage itself: nothing to transfer.
    serialize: (packed) => [packed.message, []],
    deserialize: (message) => new Packed(message),
  };
  transferHandlers.set(HANDLER, handler as TransferHandler<unknown, unknown>);
}

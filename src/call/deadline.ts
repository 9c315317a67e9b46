import { AbortedError, TimeoutError, type ToolBridgeError } from '../errors.js';

const NOTHING_TO_WATCH = (): void => undefined;

/**
 * Watches one call's time limit and its caller's signal: calls `stop` once, with `TIMEOUT` when `timeoutMs`
 * passes or `ABORTED` when the signal fires, whichever comes first. Returns the function that stops
 * watching (call it when the call settles). The one place a call's deadline and abort are turned into its
 * error, for single calls, chunks and calls waiting in a micro-batch.
 */
export function watchCall(
  tool: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  stop: (error: ToolBridgeError) => void,
): () => void {
  if (timeoutMs === Infinity && signal === undefined) return NOTHING_TO_WATCH;
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  const end = (error: ToolBridgeError) => {
    if (done) return;
    unwatch();
    stop(error);
  };
  const onAbort = () => end(new AbortedError(tool, signal?.reason));
  const unwatch = () => {
    done = true;
    if (timer !== undefined) clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  };
  if (timeoutMs !== Infinity) timer = setTimeout(() => end(new TimeoutError(tool, timeoutMs)), timeoutMs);
  signal?.addEventListener('abort', onAbort, { once: true });
  return unwatch;
}

import { ClosedError, ToolBridgeError } from '../../errors.js';
import type { WorkerSet } from './worker-set.js';
import type { WorkerRecord } from './worker-slot.js';

/**
 * The worker for a new session, with the session counted on it: the serving worker holding the fewest
 * sessions; when every one holds some and the pool may grow (up to `maxThreads`), a new worker (waited for).
 */
export async function placeSession(
  workers: WorkerSet,
  maxThreads: number,
  signal: AbortSignal | undefined,
): Promise<WorkerRecord> {
  for (;;) {
    if (workers.closing) throw new ClosedError();
    if (signal?.aborted) throw new ToolBridgeError('ABORTED', 'The session was not opened: its opening was stopped');
    let best: WorkerRecord | undefined;
    let serving = 0;
    let starting = 0;
    for (const slot of workers.slots) {
      if (slot.draining !== undefined || slot.gone) continue;
      serving++;
      const record = slot.current;
      if (record?.ready !== true) {
        starting++;
        continue;
      }
      if (best === undefined || record.sessions < best.sessions) best = record;
    }
    const mayGrow = serving < maxThreads && !workers.backingOff;
    if (best !== undefined && (best.sessions === 0 || (!mayGrow && starting === 0))) {
      best.sessions++;
      return best;
    }
    const failure = workers.loadFailure();
    if (failure) throw failure;
    if (starting === 0) {
      if (mayGrow) workers.add();
      else if (serving === 0) workers.fill();
    }
    await workers.change(signal);
  }
}

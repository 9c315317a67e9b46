import { vi } from 'vitest';
import { createBridge, type Bridge, type BridgeOptions } from 'toolbridge';

export const fixture = (name: string): URL => new URL(`./fixtures/${name}`, import.meta.url);

/** A bridge with the basic test tools loaded, and every initial worker ready. */
export async function testBridge(options: BridgeOptions = {}): Promise<Bridge> {
  return allReady(await createBridge({ maxThreads: 2, tools: [fixture('basic-tools.js')], ...options }));
}

/**
 * Resolves once every worker the bridge started is ready: `createBridge` resolves when the first one is,
 * and tests that count on the others (their thread ids, their heaps) wait for them.
 */
export async function allReady(bridge: Bridge): Promise<Bridge> {
  await vi.waitFor(
    () => {
      if (!bridge.stats().memory.workers.every((worker) => worker.state === 'ready')) throw new Error('starting');
    },
    { timeout: 20_000, interval: 5 },
  );
  return bridge;
}

/** Rejection of a promise, or a failure if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected the promise to reject, but it resolved');
}

import { createBridge, type Bridge, type BridgeOptions } from 'toolbridge';

export const fixture = (name: string): URL => new URL(`./fixtures/${name}`, import.meta.url);

/** A bridge with the basic test tools loaded. */
export function testBridge(options: BridgeOptions = {}): Promise<Bridge> {
  return createBridge({ maxThreads: 2, tools: [fixture('basic-tools.js')], ...options });
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

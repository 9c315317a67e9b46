/**
 * A call whose args need a module toolbridge loads on first need (here apache-arrow, made to fail as when the
 * app has no copy toolbridge can resolve) fails alone, typed, and leaves nothing counted in flight.
 */
import { describe, expect, test, vi } from 'vitest';
import { HANG, InProcessDispatcher, info, pipelineOver } from './in-process-dispatcher.js';

vi.mock('apache-arrow', () => {
  throw new Error("Cannot find package 'apache-arrow'");
});

/** Looks like an apache-arrow Table (of any copy), which makes the codec load apache-arrow. */
class Table {
  batches = [];
  schema = { fields: [] };
  getChildAt(): null {
    return null;
  }
}

describe('a module the args need fails to load', () => {
  test('the call is INVALID_ARGS naming the failure; other calls go on; nothing stays in flight', async () => {
    const dispatcher = new InProcessDispatcher({ echo: (args: unknown) => args, hang: HANG });
    const { pipeline, inFlight } = await pipelineOver(dispatcher, [info('echo')]);
    const error = await pipeline.call('echo', { table: new Table() }, undefined).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'INVALID_ARGS' });
    // The import's own error (here as the test runner reports the failed mock) is the message's end and the cause.
    expect((error as Error).message).toMatch(/^args cannot be encoded: a module they need failed to load: /);
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect(dispatcher.submitted).toBe(0);
    expect(await pipeline.call('echo', { a: 1 }, undefined)).toEqual({ a: 1 });
    expect(inFlight()).toBe(0);
  });
});

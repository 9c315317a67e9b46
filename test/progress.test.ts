/** ctx.progress in a tool reaches the caller's onProgress, in order. */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createBridge, type Bridge, type Progress } from 'toolbridge';
import { fixture, rejection } from './helpers.js';

let bridge: Bridge;
beforeAll(async () => {
  bridge = await createBridge({ maxThreads: 1, tools: [fixture('remote-tools.js')] });
});
afterAll(() => bridge.close());

test('a tool reports progress; the caller receives each note in order, all of them before the call settles', async () => {
  // Notes travel on a port of their own, the result on the pool's: repeated, so that the two race.
  for (let round = 0; round < 20; round++) {
    const notes: Progress[] = [];
    expect(await bridge.call('remote.steps', { n: 4 }, { onProgress: (p) => notes.push(p) })).toBe(4);
    expect(notes).toEqual([1, 2, 3, 4].map((i) => ({ done: i, total: 4, message: `step ${i}` })));
  }
});

test('without a listener progress costs nothing; a listener that throws does not fail the call', async () => {
  expect(await bridge.call('remote.steps', { n: 2 })).toBe(2);
  expect(
    await bridge.call(
      'remote.steps',
      { n: 2 },
      {
        onProgress: () => {
          throw new Error('listener broke');
        },
      },
    ),
  ).toBe(2);
  expect((await rejection(bridge.call('remote.steps', { n: 1 }, { onProgress: 5 as never }))).code).toBe(
    'INVALID_OPTIONS',
  );
});

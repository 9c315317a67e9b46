import { afterEach, describe, expect, test } from 'vitest';
import { createBridge, type Bridge } from 'toolbridge';
import { fixture, rejection } from './helpers.js';

// A busy worker is sent the next call ahead when both its running call and the next one are of tools known
// to take well under a millisecond (README, "Workers"): the cases where that call must not be lost, nor run
// at the same time as the first.

let bridge: Bridge | undefined;
afterEach(async () => {
  await bridge?.destroy();
  bridge = undefined;
});

async function oneWorker(): Promise<Bridge> {
  bridge = await createBridge({ maxThreads: 1, tools: [fixture('ahead-tools.js')] });
  return bridge;
}

const sentAhead = (b: Bridge) => b.stats().pools.default!.sentAhead;

/** Both tools of the fault tests, to time first (a failed call's time is not counted for its tool). */
const FAULT_AND_QUICK: Array<[string, unknown]> = [
  ['ahead.fault', {}],
  ['ahead.quick', {}],
];

/** Runs calls of each tool one at a time, so that the pool learns how long they take. */
async function learn(b: Bridge, calls: Array<[string, unknown]>, times = 30): Promise<void> {
  for (let i = 0; i < times; i++) for (const [tool, args] of calls) await b.call(tool, args);
}

/**
 * Runs `attempt` until a call was sent ahead during one (the pool sends ahead only calls of tools it has
 * timed under a millisecond: on a loaded machine a round may time longer); at most `tries` times.
 */
async function untilSentAhead(b: Bridge, attempt: () => Promise<void>, tries = 20): Promise<void> {
  for (let i = 0; i < tries; i++) {
    const before = sentAhead(b);
    await attempt();
    if (sentAhead(b) > before) return;
  }
  throw new Error(`no call was sent ahead in ${tries} attempts`);
}

describe('calls sent ahead to a busy worker', () => {
  test('are counted in stats().pools[name].sentAhead and answered in order', async () => {
    const b = await oneWorker();
    expect(sentAhead(b)).toBe(0);
    await learn(b, [['ahead.quick', {}]]);
    await untilSentAhead(b, async () => {
      const values = Array.from({ length: 50 }, (_, i) => i);
      const results = await Promise.all(values.map((value) => b.call<{ value: number }>('ahead.quick', { value })));
      expect(results.map((r) => r.value)).toEqual(values);
    });
  });

  test('an async tool still runs one call at a time in its worker', async () => {
    const b = await oneWorker();
    await learn(b, [['ahead.overlap', {}]]);
    await untilSentAhead(b, async () => {
      const peaks = await Promise.all(Array.from({ length: 20 }, () => b.call<number>('ahead.overlap', {})));
      expect(peaks.every((peak) => peak === 1)).toBe(true);
    });
  });

  test('a worker that dies under the call before: the call sent ahead runs on its replacement', async () => {
    const b = await oneWorker();
    await learn(b, FAULT_AND_QUICK);
    await untilSentAhead(b, async () => {
      const crash = b.call('ahead.fault', { exit: true });
      const next = b.call<{ threadId: number; value: number }>('ahead.quick', { value: 1 });
      expect((await rejection(crash)).code).toBe('WORKER_CRASHED');
      const answered = await next;
      expect(answered.value).toBe(1);
      // The replacement learns nothing yet: these calls time the tools again.
      await learn(b, [
        ['ahead.fault', {}],
        ['ahead.quick', {}],
      ]);
    });
  });

  test('calls that end their workers among many: every other call is answered', async () => {
    bridge = await createBridge({ maxThreads: 2, tools: [fixture('ahead-tools.js')] });
    const b = bridge;
    await learn(b, FAULT_AND_QUICK);
    // 600 calls from 8 callers, one in ten ending its worker: a call sent ahead behind one of those must run
    // elsewhere, and the answer of the call just before one must not be lost when its worker ends.
    const total = 600;
    let next = 0;
    const lost: number[] = [];
    let crashed = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < total) {
          const i = next++;
          if (i % 10 === 7) {
            const error = await rejection(b.call('ahead.fault', { exit: true }));
            if (error.code === 'WORKER_CRASHED') crashed++;
            continue;
          }
          try {
            const answer = await b.call<{ value: number }>('ahead.quick', { value: i });
            if (answer.value !== i) lost.push(i);
          } catch {
            lost.push(i);
          }
        }
      }),
    );
    expect(lost).toEqual([]);
    expect(crashed).toBe(total / 10);
    expect(sentAhead(b)).toBeGreaterThan(0);
  });

  test('a call stopped at its time limit: the call sent ahead behind it runs on the replacement', async () => {
    const b = await oneWorker();
    await learn(b, FAULT_AND_QUICK);
    await untilSentAhead(b, async () => {
      const hang = b.call('ahead.fault', { hang: true }, { timeoutMs: 100 });
      const next = b.call<{ value: number }>('ahead.quick', { value: 2 });
      expect((await rejection(hang)).code).toBe('TIMEOUT');
      expect((await next).value).toBe(2);
      await learn(b, [
        ['ahead.fault', {}],
        ['ahead.quick', {}],
      ]);
    });
  });

  test('a call with a time limit is never sent ahead', async () => {
    const b = await oneWorker();
    await learn(b, [['ahead.quick', {}]]);
    // The same burst without limits is sent ahead; with them, none of it.
    await untilSentAhead(b, async () => {
      await Promise.all(Array.from({ length: 50 }, () => b.call('ahead.quick', {})));
    });
    const before = sentAhead(b);
    await Promise.all(Array.from({ length: 50 }, () => b.call('ahead.quick', {}, { timeoutMs: 10_000 })));
    expect(sentAhead(b)).toBe(before);
  });
});

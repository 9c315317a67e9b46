import { describe, expect, test } from 'vitest';
import { AHEAD_MS, TaskCosts, mayWaitInWorker } from '../../src/dispatch/local/ahead.js';
import { CallQueue } from '../../src/dispatch/local/queue.js';

describe('sending ahead: what may wait in a busy worker', () => {
  const message = { e: '' };
  test('a call of a known tool with nothing that could need it dropped', () => {
    expect(mayWaitInWorker(message, { tool: 't' })).toBe(true);
    expect(mayWaitInWorker(message, { tool: 't', deadline: 0 })).toBe(true);
  });

  test.each([
    ['no tool named', { tool: undefined }, {}],
    ['a signal', { signal: new AbortController().signal }, {}],
    ['a deadline', { deadline: Date.now() + 1000 }, {}],
    ['a port to hand over', { transferList: [new MessageChannel().port1] }, {}],
    ['an affinity key', {}, { k: 'user-1' }],
    ['a part of a split call', {}, { x: 0 }],
  ])('not a call with %s', (_, options, fields) => {
    expect(mayWaitInWorker({ ...message, ...fields }, { tool: 't', ...options })).toBe(false);
  });

  test('a tool is short once its running average is under the threshold', () => {
    const costs = new TaskCosts();
    expect(costs.short('t')).toBe(false);
    expect(costs.short(undefined)).toBe(false);
    costs.record('t', AHEAD_MS / 10);
    expect(costs.short('t')).toBe(true);
    // One long call moves the average a fifth of the way: several make the tool long.
    costs.record('t', AHEAD_MS * 2);
    expect(costs.short('t')).toBe(true);
    for (let i = 0; i < 10; i++) costs.record('t', AHEAD_MS * 5);
    expect(costs.short('t')).toBe(false);
    expect(costs.short('other')).toBe(false);
  });
});

describe('the call queue', () => {
  test('peek leaves the head; a job put back goes first again', async () => {
    const queue = new CallQueue(() => undefined);
    const answers: string[] = [];
    const wait = (e: string) => queue.push({ e }, {}).then((reply) => answers.push(`${e}:${reply.e}`));
    const a = wait('a');
    const b = wait('b');
    expect(queue.peek()?.message.e).toBe('a');
    expect(queue.waiting).toBe(2);
    const first = queue.take()!;
    expect(first.message.e).toBe('a');
    expect(queue.peek()?.message.e).toBe('b');
    queue.unshift(first);
    expect(queue.waiting).toBe(2);
    expect(queue.take()).toBe(first);
    first.resolve({ e: 'done' });
    const second = queue.take()!;
    expect(second.message.e).toBe('b');
    second.resolve({ e: 'done' });
    await Promise.all([a, b]);
    expect(answers).toEqual(['a:done', 'b:done']);
    expect(queue.take()).toBeUndefined();
    expect(queue.empty).toBe(true);
  });
});

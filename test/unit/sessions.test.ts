import { describe, expect, test } from 'vitest';
import { AffinityMap } from '../../src/dispatch/local/affinity.js';
import { StatsRecorder } from '../../src/telemetry/stats.js';
import { defineSession, isSessionDefinition, sessionsOfModule } from '../../src/tool/session.js';
import { defineTool } from '../../src/tool/define.js';

describe('defineSession', () => {
  const create = () => ({ ping: () => 'pong' });

  test('defaults, frozen, branded', () => {
    const session = defineSession({ name: 'a.b', create });
    expect(session).toMatchObject({ name: 'a.b', description: '', pool: 'default', concurrent: false });
    expect(session.idleTimeoutMs).toBe(Infinity);
    expect(Object.isFrozen(session)).toBe(true);
    expect(isSessionDefinition(session)).toBe(true);
    expect(isSessionDefinition(defineTool({ name: 'a.t', run: () => 1 }))).toBe(false);
  });

  test.each([
    [{ name: 'bad name!', create }, /dotted identifier/],
    [{ name: 'a.b' }, /create must be a function/],
    [{ name: 'a.b', create, concurrent: 'yes' }, /concurrent must be a boolean/],
    [{ name: 'a.b', create, idleTimeoutMs: 0 }, /idleTimeoutMs must be a positive number/],
    [{ name: 'a.b', create, pool: 'no pool' }, /pool must be a pool name/],
    [{ name: 'a.b', create, idleTimeout: 5 }, /idleTimeout.*idleTimeoutMs/],
  ])('rejects %o with INVALID_OPTIONS', (spec, message) => {
    let error: (Error & { code?: string }) | undefined;
    try {
      defineSession(spec as never);
    } catch (thrown) {
      error = thrown as Error & { code?: string };
    }
    expect(error?.code).toBe('INVALID_OPTIONS');
    expect(error?.message).toMatch(message);
  });

  test('a module exports sessions by name and in a default array, each once', () => {
    const one = defineSession({ name: 'a.one', create });
    const two = defineSession({ name: 'a.two', create });
    const tool = defineTool({ name: 'a.tool', run: () => 1 });
    expect(sessionsOfModule({ one, again: one, tool, default: [two, tool] })).toEqual([one, two]);
  });
});

describe('AffinityMap', () => {
  test('keeps the latest keys, forgetting the least recently set first', () => {
    const map = new AffinityMap<number>(3);
    map.set('a', 1);
    map.set('b', 2);
    map.set('c', 3);
    map.set('a', 4); // a is now the most recent
    map.set('d', 5); // b goes
    expect(map.get('b')).toBeUndefined();
    expect([map.get('a'), map.get('c'), map.get('d')]).toEqual([4, 3, 5]);
    expect(map.size).toBe(3);
    map.delete('a');
    expect(map.get('a')).toBeUndefined();
  });
});

describe('session stats', () => {
  test('open, ended and calls per session and per worker', () => {
    const stats = new StatsRecorder(true);
    stats.sessionOpened('s', 1);
    stats.sessionOpened('s', 1);
    stats.sessionOpened('s', 2);
    stats.sessionCall('s', 2, false);
    stats.sessionCall('s', 4, true);
    stats.sessionBytes('s', 100, 8);
    stats.sessionEnded('s', 1, false);
    stats.sessionEnded('s', 2, true);
    const figures = {
      recycles: [],
      workers: [],
      pools: {},
      codecs: { shared: 0, arrow: 0, clone: 0, msgpack: 0, copied: 0 },
    };
    const cache = { hits: 0, misses: 0, hitRate: 0, entries: 0, bytes: 0, evictions: 0, timeSavedMs: 0, skipped: 0 };
    const snapshot = stats.snapshot(cache, figures);
    expect(snapshot.sessions.s).toMatchObject({
      open: 1,
      opened: 3,
      closed: 1,
      lost: 1,
      calls: 2,
      errors: 1,
      bytes: { shared: 100, copied: 8 },
      workers: { 1: 1 },
    });
    expect(snapshot.bytes).toEqual({ shared: 100, copied: 8 });
    expect(snapshot.tools).toEqual({});
  });
});

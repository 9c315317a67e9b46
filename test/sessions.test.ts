import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { tableFromArrays, type Table } from 'apache-arrow';
import {
  createBridge,
  shared,
  SessionClosedError,
  SessionLostError,
  type Bridge,
  type BridgeOptions,
  type SessionDefinition,
} from 'toolbridge';
import { allReady, fixture, rejection } from './helpers.js';

const open: Bridge[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((bridge) => bridge.close({ timeoutMs: 10_000 })));
});

async function sessionBridge(options: BridgeOptions = {}): Promise<Bridge> {
  const bridge = await createBridge({ maxThreads: 2, tools: [fixture('session-tools.js')], ...options });
  open.push(bridge);
  return allReady(bridge);
}

interface Counter {
  add(by?: number): number;
  value(): number;
  threadId(): number;
}

interface Index {
  query(q: Float32Array, k: number): number[];
  queries(): number;
  isShared(): boolean;
  poke(i: number, v: number): void;
  scaled(k: number): Float32Array;
}

interface Sleeper {
  nap(ms: number): number;
  together(count: number, ms?: number): number;
  meet(gate: Int32Array, count: number): boolean;
  threadId(): number;
}

/** Waits until `check` passes, polling (never a fixed sleep). */
const until = (check: () => boolean) =>
  vi.waitFor(
    () => {
      if (!check()) throw new Error('not yet');
    },
    { timeout: 20_000, interval: 5 },
  );

describe('sessions', () => {
  test('a session keeps its state across 1,000 calls, on one worker', async () => {
    const bridge = await sessionBridge();
    const counter = await bridge.open<Counter>('test.counter', { start: 10 });
    const thread = await counter.threadId();
    let last = 0;
    for (let i = 0; i < 1000; i++) last = await counter.add(2);
    expect(last).toBe(2010);
    expect(await counter.value()).toBe(2010);
    expect(await counter.threadId()).toBe(thread);
    expect(bridge.sessions().map((info) => info.name)).toContain('test.counter');
    const stats = bridge.stats().sessions['test.counter']!;
    expect(stats).toMatchObject({ open: 1, opened: 1, calls: 1003, errors: 0, workers: { [thread]: 1 } });
    expect(bridge.stats().memory.workers.find((worker) => worker.id === thread)?.sessions).toBe(1);
    expect(bridge.metrics()).toContain('toolbridge_sessions_open{session="test.counter"} 1');
    expect(bridge.metrics()).toContain('toolbridge_session_calls_total{session="test.counter"} 1003');
    await counter.close();
    expect(bridge.stats().sessions['test.counter']).toMatchObject({ open: 0, closed: 1 });
    expect(bridge.metrics()).toContain('toolbridge_sessions_ended_total{session="test.counter",how="closed"} 1');
  });

  test('a 50 MiB shared matrix reaches the session without a copy, and results come back shared', async () => {
    const bridge = await sessionBridge({ maxThreads: 1 });
    const dim = 64;
    const matrix = shared(Float32Array, (50 * 1024 * 1024) / 4);
    for (let i = 0; i < matrix.length; i += 97) matrix[i] = (i % 13) - 6;
    const index = await bridge.open<Index>('test.index', { matrix, dim });
    expect(await index.isShared()).toBe(true);
    // The worker writes into the caller's own memory: the same bytes, not a copy.
    await index.poke(5, 123.5);
    expect(matrix[5]).toBe(123.5);
    const row = shared(Float32Array, dim);
    row.set(matrix.subarray(dim * 3, dim * 4));
    const hits = await index.query(row, 3);
    expect(hits[0]).toBe(3);
    const doubled = await index.scaled(2);
    expect(doubled.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(doubled[5]).toBe(247);
    const stats = bridge.stats().sessions['test.index']!;
    expect(stats.bytes.copied).toBe(0);
    expect(stats.bytes.shared).toBeGreaterThanOrEqual(50 * 1024 * 1024 * 2);
    await index.close();
  });

  test('an Arrow table crosses a session call as a frame', async () => {
    const bridge = await sessionBridge({ maxThreads: 1 });
    const frames = await bridge.open<{ sum(table: Table): number; same(table: Table): Table }>('test.frames');
    const table = tableFromArrays({ x: Float64Array.from([1, 2, 3]) });
    expect(await frames.sum(table)).toBe(6);
    const back = await frames.same(table);
    expect(back.numRows).toBe(3);
    expect([...back.getChild('x')!.toArray()]).toEqual([1, 2, 3]);
    expect(bridge.stats().codecs.arrow).toBeGreaterThanOrEqual(2);
  });

  test('two sessions on a two-worker pool go to two workers and run at the same time', async () => {
    const bridge = await sessionBridge();
    const a = await bridge.open<Sleeper>('test.serial');
    const b = await bridge.open<Sleeper>('test.serial');
    expect(await a.threadId()).not.toBe(await b.threadId());
    const gate = shared(Int32Array, 1);
    expect(await Promise.all([a.meet(gate, 2), b.meet(gate, 2)])).toEqual([true, true]);
  });

  test('a session grows the pool to a new worker when every worker holds one', async () => {
    const bridge = await sessionBridge({ maxThreads: 2, minThreads: 1 });
    const a = await bridge.open<Sleeper>('test.serial');
    const b = await bridge.open<Sleeper>('test.serial');
    expect(await a.threadId()).not.toBe(await b.threadId());
    expect(bridge.stats().pools.default!.threads).toBe(2);
  });

  test("a session's methods run one at a time, unless it is concurrent", async () => {
    const bridge = await sessionBridge({ maxThreads: 1 });
    const serial = await bridge.open<Sleeper>('test.serial');
    const concurrent = await bridge.open<Sleeper>('test.parallel');
    const most = (values: number[]) => Math.max(...values);
    expect(most(await Promise.all([serial.nap(20), serial.nap(20), serial.nap(20)]))).toBe(1);
    // Three calls that each wait for the other two: they meet only if they run at once.
    expect(most(await Promise.all([concurrent.together(3), concurrent.together(3), concurrent.together(3)]))).toBe(3);
    // A concurrent session's close waits for the calls in flight: they answer, then it closes.
    const naps = [concurrent.nap(30), concurrent.nap(30)];
    await concurrent.close();
    expect((await Promise.all(naps)).every((n) => n >= 1)).toBe(true);
  });

  test('close() runs the object’s close, frees the worker, and later calls reject with SESSION_CLOSED', async () => {
    const bridge = await sessionBridge({ maxThreads: 1 });
    const flag = shared(Int32Array, 1);
    const session = await bridge.open<{ ping(): string }>('test.closing', { flag });
    expect(await session.ping()).toBe('pong');
    expect(session.open).toBe(true);
    await Promise.all([session.close(), session.close()]);
    expect(Atomics.load(flag, 0)).toBe(1);
    expect(session.open).toBe(false);
    const error = await rejection(session.ping());
    expect(error).toBeInstanceOf(SessionClosedError);
    expect(error.code).toBe('SESSION_CLOSED');
    expect(bridge.stats().memory.workers[0]!.sessions).toBe(0);
    // Symbol.asyncDispose is close (what `await using` calls).
    const other = await bridge.open<{ ping(): string }>('test.closing', { flag: shared(Int32Array, 1) });
    await other[Symbol.asyncDispose]();
    expect(other.open).toBe(false);
  });

  test('a session idle past idleTimeoutMs is closed', async () => {
    const bridge = await sessionBridge({ maxThreads: 1 });
    const flag = shared(Int32Array, 1);
    const session = await bridge.open<{ ping(): string }>('test.closing', { flag }, { idleTimeoutMs: 30 });
    expect(await session.ping()).toBe('pong');
    await until(() => Atomics.load(flag, 0) === 1);
    expect(session.open).toBe(false);
    const error = await rejection(session.ping());
    expect(error.code).toBe('SESSION_CLOSED');
    expect(error.message).toMatch(/idle/);
  });

  test('a crash fails the session with SESSION_LOST; the pool and other sessions keep serving', async () => {
    const bridge = await sessionBridge();
    const fragile = await bridge.open<{ crash(): void; threadId(): number }>('test.fragile');
    const counter = await bridge.open<Counter>('test.counter');
    expect(await fragile.threadId()).not.toBe(await counter.threadId());
    const pending = counter.add(1);
    const error = await rejection(fragile.crash());
    expect(error).toBeInstanceOf(SessionLostError);
    expect(error.code).toBe('SESSION_LOST');
    expect(error.message).toMatch(/exited with code 3/);
    expect(await pending).toBe(1);
    expect((await rejection(fragile.threadId())).code).toBe('SESSION_LOST');
    expect(fragile.open).toBe(false);
    expect(await counter.add(1)).toBe(2);
    const calls = await Promise.all(Array.from({ length: 8 }, () => bridge.call<number>('test.whoami')));
    expect(calls.every((id) => typeof id === 'number')).toBe(true);
    expect(bridge.stats().sessions['test.fragile']).toMatchObject({ open: 0, lost: 1 });
    // A new session opens on the replacement worker.
    const again = await bridge.open<{ threadId(): number }>('test.fragile');
    expect(typeof (await again.threadId())).toBe('number');
  });

  test('a graceful recycle waits for the worker’s sessions to close', async () => {
    const bridge = await sessionBridge({ maxThreads: 1 });
    const counter = await bridge.open<Counter>('test.counter');
    const thread = await counter.threadId();
    let recycled = false;
    const recycling = bridge.recycle().then(() => (recycled = true));
    // The replacement starts and serves new calls; the session stays on its worker.
    await until(() => bridge.stats().memory.workers.some((worker) => worker.state === 'ready' && worker.id !== thread));
    expect(await bridge.call('test.whoami')).not.toBe(thread);
    for (let i = 0; i < 20; i++) await counter.add(1);
    expect(await counter.threadId()).toBe(thread);
    expect(recycled).toBe(false);
    expect(bridge.stats().memory.workers.find((worker) => worker.id === thread)?.state).toBe('draining');
    await counter.close();
    await recycling;
    expect(bridge.stats().memory.workers.map((worker) => worker.id)).not.toContain(thread);
  });

  test('a hard heap limit loses the session (SESSION_LOST), as a crash does', async () => {
    const bridge = await sessionBridge({ maxThreads: 1, memory: { hardHeapMb: 64 } });
    const session = await bridge.open<{ hog(): void }>('test.hog');
    const error = await rejection(session.hog());
    expect(error.code).toBe('SESSION_LOST');
    expect(typeof (await bridge.call('test.whoami'))).toBe('number');
  });

  test('errors: unknown session, failing create, failing method, bad options, after close', async () => {
    const bridge = await sessionBridge({ maxThreads: 1 });
    expect((await rejection(bridge.open('test.nope'))).code).toBe('TOOL_NOT_FOUND');
    const broken = await rejection(bridge.open('test.broken'));
    expect(broken.code).toBe('TOOL_FAILED');
    expect((broken.cause as Error).name).toBe('TypeError');
    const fragile = await bridge.open<{ fail(message: string): void }>('test.fragile');
    const failed = await rejection(fragile.fail('bad input'));
    expect(failed.code).toBe('TOOL_FAILED');
    expect((failed.cause as Error).name).toBe('RangeError');
    expect((failed.cause as Error & { details?: unknown }).details).toEqual({ why: 'asked' });
    // The session survives its method's error.
    expect(fragile.open).toBe(true);
    expect('fail' in fragile).toBe(true);
    expect((fragile as unknown as Record<string, unknown>).nope).toBeUndefined();
    expect((await rejection(bridge.open('test.counter', {}, { idleTimeoutMs: -1 }))).code).toBe('INVALID_OPTIONS');
    expect((await rejection(bridge.open('test.counter', {}, { idle: 5 } as never))).code).toBe('INVALID_OPTIONS');
    expect((await rejection(bridge.open('test.counter', { f: () => 1 }))).code).toBe('INVALID_ARGS');
    expect(bridge.stats().memory.workers[0]!.sessions).toBe(1);
    await bridge.close();
    expect((await rejection(bridge.open('test.counter'))).code).toBe('CLOSED');
    expect((await rejection(fragile.fail('x'))).code).toBe('SESSION_CLOSED');
  });

  test('bridge.close() closes open sessions (their close runs); destroy() ends them at once', async () => {
    const bridge = await sessionBridge({ maxThreads: 1 });
    const flag = shared(Int32Array, 1);
    const session = await bridge.open<{ ping(): string }>('test.closing', { flag });
    await bridge.close();
    expect(Atomics.load(flag, 0)).toBe(1);
    expect(session.open).toBe(false);

    const other = await sessionBridge({ maxThreads: 1 });
    const sleeper = await other.open<Sleeper>('test.serial');
    const gate = shared(Int32Array, 1);
    // A call running in the worker (it waits for a second arrival that never comes).
    const waiting = rejection(sleeper.meet(gate, 2));
    await until(() => Atomics.load(gate, 0) === 1);
    await other.destroy();
    expect((await waiting).code).toBe('SESSION_CLOSED');
    // Closing a session its bridge ended settles at once.
    await sleeper.close();
    expect(sleeper.open).toBe(false);
  });

  test('`await using` (Node >= 24; Symbol.asyncDispose before) closes a session; the process exits on its own', async () => {
    // Node 20 and 22 cannot parse `await using`: they run the same script written with Symbol.asyncDispose.
    const awaitUsing = Number(process.versions.node.split('.')[0]) >= 24;
    const script = fileURLToPath(fixture(awaitUsing ? 'session-await-using.mjs' : 'session-dispose.mjs'));
    const { stdout } = await promisify(execFile)(process.execPath, [script], { timeout: 20_000 });
    expect(stdout).toBe('ping=pong\nclosed=1\ncount=2\nopen after bridge.close=false\n');
  });

  test('the definition types the proxy', async () => {
    const bridge = await sessionBridge({ maxThreads: 1 });
    type Def = SessionDefinition<{ start?: number }, Counter>;
    const counter = await bridge.open<Def>('test.counter', { start: 1 });
    const value: number = await counter.add(1);
    expect(value).toBe(2);
  });
});

describe('affinity', () => {
  test('calls with one key run on one worker; the key moves when that worker dies', async () => {
    const bridge = await sessionBridge();
    const first = await bridge.call<number>('test.whoami', {}, { affinity: 'user-1' });
    for (let i = 0; i < 20; i++) {
      // Other calls keep the workers busy meanwhile; the key's calls still land on its worker.
      const [keyed] = await Promise.all([
        bridge.call<number>('test.whoami', {}, { affinity: 'user-1' }),
        bridge.call('test.slowWho', { ms: 1 }),
      ]);
      expect(keyed).toBe(first);
    }
    await rejection(bridge.call('test.crashWorker', {}, { affinity: 'user-1' }));
    await until(() => bridge.stats().memory.workers.every((worker) => worker.id !== first));
    const moved = await bridge.call<number>('test.whoami', {}, { affinity: 'user-1' });
    expect(moved).not.toBe(first);
    expect(await bridge.call<number>('test.whoami', {}, { affinity: 'user-1' })).toBe(moved);
  });

  test('a key whose worker stays busy moves to a free worker', async () => {
    const bridge = await sessionBridge();
    const home = await bridge.call<number>('test.whoami', {}, { affinity: 7 });
    const gate = shared(Int32Array, 1);
    const serial = await bridge.open<Sleeper>('test.serial');
    // Block the key's worker (a session there, waiting for a meeting that comes only at the end).
    const blockers = [serial];
    if ((await serial.threadId()) !== home) blockers.push(await bridge.open<Sleeper>('test.serial'));
    const blocker = blockers[blockers.length - 1]!;
    expect(await blocker.threadId()).toBe(home);
    const blocked = blocker.meet(gate, 2);
    await until(() => Atomics.load(gate, 0) === 1);
    const elsewhere = await bridge.call<number>('test.whoami', {}, { affinity: 7 });
    expect(elsewhere).not.toBe(home);
    Atomics.add(gate, 0, 1);
    Atomics.notify(gate, 0);
    expect(await blocked).toBe(true);
  });

  test('affinity must be a string or a number', async () => {
    const bridge = await sessionBridge({ maxThreads: 1 });
    expect((await rejection(bridge.call('test.whoami', {}, { affinity: {} as never }))).code).toBe('INVALID_OPTIONS');
  });
});

describe('broadcast', () => {
  test('runs once on every live worker and answers per worker', async () => {
    const bridge = await sessionBridge();
    const entries = await bridge.broadcast<{ threadId: number; warmed: string[] }>('test.warm', { key: 'a' });
    expect(entries).toHaveLength(2);
    const ids = entries.map((entry) => entry.workerId);
    expect(new Set(ids).size).toBe(2);
    for (const entry of entries) {
      expect(entry.ok).toBe(true);
      if (entry.ok) expect(entry.value).toEqual({ threadId: entry.workerId, warmed: ['a'] });
    }
    expect((await rejection(bridge.broadcast('test.nope'))).code).toBe('TOOL_NOT_FOUND');
    expect((await rejection(bridge.broadcast('test.warm', {}, { stick: true } as never))).code).toBe('INVALID_OPTIONS');
  });

  test('a failing worker gives an error entry; the others their values', async () => {
    const bridge = await sessionBridge();
    const entries = await bridge.broadcast('test.crashWorker');
    expect(entries).toHaveLength(2);
    expect(entries.every((entry) => !entry.ok && entry.error.code === 'WORKER_CRASHED')).toBe(true);
    expect(typeof (await bridge.call('test.whoami'))).toBe('number');
  });

  test('each worker has the time limit: one that does not answer in time is TIMEOUT, and replaced', async () => {
    const bridge = await sessionBridge();
    const entries = await bridge.broadcast('test.slowWho', { ms: 60_000 }, { timeoutMs: 100 });
    expect(entries).toHaveLength(2);
    expect(entries.every((entry) => !entry.ok && entry.error.code === 'TIMEOUT')).toBe(true);
    expect(typeof (await bridge.call('test.whoami'))).toBe('number');
    expect((await rejection(bridge.broadcast('test.warm', {}, { timeoutMs: -1 })))?.code).toBe('INVALID_OPTIONS');
  });

  test('a sticky broadcast also runs on a worker started later, before its first call', async () => {
    const bridge = await sessionBridge();
    await bridge.broadcast('test.warm', { key: 'plain' });
    await bridge.broadcast('test.warm', { key: 'sticky' }, { sticky: true });
    await rejection(bridge.call('test.crashWorker'));
    await allReady(bridge);
    await until(() => bridge.stats().memory.workers.length === 2);
    const entries = await bridge.broadcast<{ threadId: number; warmed: string[] }>('test.warmed');
    const warmed = entries.map((entry) => (entry.ok ? entry.value.warmed : []));
    // The old worker ran both; its replacement only the sticky one, and before anything else.
    expect(warmed).toContainEqual(['plain', 'sticky']);
    expect(warmed).toContainEqual(['sticky']);
  });
});

import { tableFromArrays, type Table } from 'apache-arrow';
import { describe, expect, test } from 'vitest';
import { withModules } from '../../src/codec/lazy-modules.js';
import { decodeMessage, encodeMessage, Kind, type Head } from '../../src/codec/message.js';
import { shapeOf } from '../../src/codec/shape.js';
import { kindOf, ValueKind } from '../../src/codec/value-kind.js';
import { BufferTable } from '../../src/codec/buffers.js';
import { MAX_DEPTH, takeApart } from '../../src/codec/walk.js';
import { copyValue } from '../../src/cache/copy-value.js';

const head: Head = { kind: Kind.Call, callId: 7, tool: 'unit.tool', deadline: 0 };
const policy = { msgpackThreshold: 4096, flatMsgpackThreshold: 4096 };

/** Encodes and decodes in this thread, as the two sides of a call would. */
async function roundTrip(value: unknown) {
  const encoded = await withModules(() => encodeMessage(head, value, policy, 'args'));
  const decoded = await withModules(() => decodeMessage(encoded.message));
  return { encoded, decoded };
}

describe('value kinds', () => {
  test('every walker sees the same kind for each value', () => {
    const cases: Array<[object, ValueKind]> = [
      [new Float64Array(1), ValueKind.View],
      [new DataView(new ArrayBuffer(1)), ValueKind.View],
      [[1], ValueKind.Array],
      [new Map(), ValueKind.Map],
      [new Set(), ValueKind.Set],
      [new ArrayBuffer(1), ValueKind.ArrayBuffer],
      [new SharedArrayBuffer(1), ValueKind.SharedArrayBuffer],
      [new Date(), ValueKind.Date],
      [/x/, ValueKind.RegExp],
      [new TypeError('x'), ValueKind.Error],
      [new Proxy([], {}), ValueKind.Proxy],
      [Promise.resolve(), ValueKind.Uncloneable],
      [new WeakMap(), ValueKind.Uncloneable],
      [{ a: 1 }, ValueKind.Record],
      [new (class Point {})(), ValueKind.Record],
    ];
    for (const [value, kind] of cases) expect(kindOf(value, false), ValueKind[kind]).toBe(kind);
  });

  test('shapes describe values without their data', () => {
    expect(shapeOf({ q: new Float32Array(384), k: 5, e: new RangeError('x') })).toBe(
      '{ q: Float32Array(384), k: number, e: RangeError }',
    );
    expect(shapeOf(tableFromArrays({ x: Float64Array.from([1, 2]) }))).toBe('Table(2 x 1)');
  });
});

describe('the codec', () => {
  test('a value with no views comes back equal, and is not copied on the way (same objects)', async () => {
    const value = { a: [1, 'two', { three: 3n }], m: new Map([[1, new Set([2])]]), d: new Date(5), e: new Error('x') };
    const parts = takeApart(value, new BufferTable(), 'args');
    expect(parts.plain).toBe(value);
    const { decoded } = await roundTrip(value);
    expect(decoded.value).toEqual(value);
  });

  test('a shared typed array crosses by reference; a large plain one is copied once and counted', async () => {
    const sharedArray = new Float64Array(new SharedArrayBuffer(80)).fill(2);
    const plain = new Float64Array(4096).fill(3);
    const { encoded, decoded } = await roundTrip({ sharedArray, plain });
    const out = decoded.value as { sharedArray: Float64Array; plain: Float64Array };
    expect(out.sharedArray.buffer).toBe(sharedArray.buffer);
    expect(out.plain.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect([...out.plain.subarray(0, 2)]).toEqual([3, 3]);
    expect(encoded.counts).toMatchObject({ shared: 1, copied: 1 });
    expect(encoded.copiedBytes).toBeGreaterThanOrEqual(plain.byteLength);
  });

  test('plain parts above the threshold go as MessagePack and come back equal', async () => {
    const rows = Array.from({ length: 400 }, (_, i) => ({ i, name: `row ${i}`, tags: new Set([i % 3]) }));
    const { encoded, decoded } = await roundTrip({ rows });
    expect(encoded.counts.msgpack).toBe(1);
    expect(decoded.value).toEqual({ rows });
  });

  test('a value that can hold no object twice is flat: MessagePack without identity tracking', () => {
    const walk = (value: unknown, independentDepth = 0) =>
      takeApart(value, new BufferTable(), 'args', independentDepth).mayShare;
    const record = { a: 1, b: 'x' };
    // Containers are tracked, so one met once each is flat; records of primitives only at the top.
    expect(walk({ xs: [1, 2, 3], names: ['a', 'b'], m: new Map([[1, [2]]]) })).toBe(false);
    expect(walk(record)).toBe(false);
    expect(walk([record, { a: 2 }])).toBe(true);
    expect(walk({ d: new Date(1) })).toBe(true);
    // A chunk's list of calls' args (depth 1): each call's own record of primitives may stand there.
    expect(walk([record, { a: 2 }], 1)).toBe(false);
    expect(walk([{ inner: record }], 1)).toBe(true);
    // A container met twice, or a cycle, is shared.
    const list = [1, 2];
    expect(walk({ x: list, y: list })).toBe(true);
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    expect(walk(loop)).toBe(true);
  });

  test('shared references keep their identity on every path (clone, MessagePack, flat MessagePack)', async () => {
    const record = { a: 1 };
    const list = [1, 2];
    const value = { x: record, y: record, l1: list, l2: list, rows: Array.from({ length: 600 }, (_, i) => i) };
    for (const thresholds of [
      { msgpackThreshold: 1e9, flatMsgpackThreshold: 1e9 },
      { msgpackThreshold: 0, flatMsgpackThreshold: 0 },
    ]) {
      const encoded = await withModules(() => encodeMessage(head, value, thresholds, 'args'));
      const out = (await withModules(() => decodeMessage(encoded.message))).value as typeof value;
      expect(out).toEqual(value);
      expect(out.x).toBe(out.y);
      expect(out.l1).toBe(out.l2);
    }
    // A flat value above the flat threshold goes as MessagePack; below it, by structured clone.
    const flat = { rows: Array.from({ length: 600 }, (_, i) => ({ i, even: i % 2 === 0 })) };
    const chunk = { ...head, count: 1, independentDepth: 1 };
    const packed = await withModules(() => encodeMessage(chunk, [flat.rows[0], ...flat.rows], policy, 'args'));
    expect(packed.counts.msgpack).toBe(1);
    expect(packed.message.m).toBeInstanceOf(Uint8Array);
    expect((await withModules(() => decodeMessage(packed.message))).value).toEqual([flat.rows[0], ...flat.rows]);
    const small = await withModules(() => encodeMessage(chunk, [{ i: 1 }], policy, 'args'));
    expect(small.counts.clone).toBe(1);
  });

  test('an Arrow table crosses as a frame over the same shared memory', async () => {
    const table = tableFromArrays({ x: Float64Array.from([1, 2, 3]), s: ['a', 'b', 'c'] });
    const { encoded, decoded } = await roundTrip({ table });
    expect(encoded.counts.arrow).toBe(1);
    const out = (decoded.value as { table: Table }).table;
    expect(out.toArray().map((row) => row.toJSON())).toEqual(table.toArray().map((row) => row.toJSON()));
  });

  test('cycles through containers that hold views keep their identity', async () => {
    const node: Record<string, unknown> = { x: new Float64Array(new SharedArrayBuffer(8)) };
    node.self = node;
    const { decoded } = await roundTrip([node]);
    const out = (decoded.value as Array<Record<string, unknown>>)[0]!;
    expect(out.self).toBe(out);
    expect(out.x).toBeInstanceOf(Float64Array);
  });

  test('what cannot cross is INVALID_ARGS naming its path', () => {
    const fail = (value: unknown) => {
      try {
        encodeMessage(head, value, policy, 'args');
      } catch (error) {
        return error as Error & { code: string; path?: string };
      }
      throw new Error('expected a failure');
    };
    expect(fail({ a: [1, () => 1] })).toMatchObject({ code: 'INVALID_ARGS', path: 'args.a[1]' });
    expect(fail({ p: new Proxy({}, {}) }).message).toContain('args.p is a Proxy');
    expect(fail({ w: new WeakMap() }).message).toContain('a WeakMap');
    let deep: unknown = 1;
    for (let i = 0; i <= MAX_DEPTH; i++) deep = [deep];
    expect(fail(deep).message).toContain(`nested deeper than ${MAX_DEPTH} levels`);
  });
});

describe('the cache copy', () => {
  test('copies deeply, shared memory included, and keeps cycles', () => {
    const sharedArray = new Float64Array(new SharedArrayBuffer(16)).fill(1);
    const value: Record<string, unknown> = { sharedArray, list: [new Map([['k', new Date(3)]])] };
    value.self = value;
    const { value: copy, bytes } = copyValue(value);
    const out = copy as typeof value;
    expect(out).not.toBe(value);
    expect(out.self).toBe(out);
    expect((out.sharedArray as Float64Array).buffer).not.toBe(sharedArray.buffer);
    expect((out.sharedArray as Float64Array).buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(out.list).toEqual(value.list);
    expect(bytes).toBeGreaterThanOrEqual(16);
  });
});

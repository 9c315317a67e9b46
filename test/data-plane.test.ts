import {
  Bool,
  Dictionary,
  Field,
  Float64,
  Int32,
  RecordBatch,
  Schema,
  Struct,
  Table,
  TimestampMillisecond,
  Utf8,
  makeData,
  makeVector,
  tableFromArrays,
  vectorFromArray,
} from 'apache-arrow';
import { tableFromArrays as tableFromArraysOfAnotherCopy } from 'apache-arrow-17';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InvalidArgsError, isShared, shared, toShared, type Bridge } from 'toolbridge';
import { rejection, testBridge } from './helpers.js';

let bridge: Bridge;
beforeAll(async () => {
  bridge = await testBridge();
});
afterAll(() => bridge.close());

/** Runs `fn` and returns how much `bytes.shared` and `bytes.copied` moved meanwhile. */
async function measure<T>(fn: () => Promise<T>): Promise<{ value: T; shared: number; copied: number }> {
  const before = bridge.stats().bytes;
  const value = await fn();
  const after = bridge.stats().bytes;
  return { value, shared: after.shared - before.shared, copied: after.copied - before.copied };
}

const CONSTRUCTORS = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
] as const;

describe('typed arrays in shared memory', () => {
  test.each(CONSTRUCTORS.map((C) => [C.name, C] as const))(
    '%s crosses both ways as a view of the same memory',
    async (_, C) => {
      const x = shared(C, 64);
      for (let i = 0; i < x.length; i++) x[i] = i % 100;
      const {
        value: y,
        copied,
        shared: sharedBytes,
      } = await measure(() => bridge.call<typeof x>('test.fill', { x, value: 7 }));
      expect(y).toBeInstanceOf(C);
      expect(isShared(y)).toBe(true);
      expect([...x]).toEqual(new Array(64).fill(7)); // written in the worker, seen here: same memory
      y[3] = 99;
      expect(x[3]).toBe(99); // and the result is a view of it too
      expect(copied).toBe(0);
      expect(sharedBytes).toBe(2 * x.byteLength);
    },
  );

  test.each([BigInt64Array, BigUint64Array].map((C) => [C.name, C] as const))(
    '%s crosses with no copy',
    async (_, C) => {
      const x = shared(C, 8);
      const { value: y, copied } = await measure(() => bridge.call<typeof x>('test.fill', { x, value: 5n }));
      expect(y).toBeInstanceOf(C);
      expect([...x]).toEqual(new Array(8).fill(5n));
      expect(copied).toBe(0);
    },
  );

  test('a subarray keeps its offset and length', async () => {
    const whole = shared(Float64Array, 10);
    const part = whole.subarray(3, 7);
    const info = await bridge.call<Record<string, unknown>>('test.inspect', { part });
    expect(info.part).toEqual({ type: 'Float64Array', length: 4, byteOffset: 24, shared: true });
    const filled = await bridge.call<Float64Array>('test.fill', { x: part, value: 1 });
    expect([...whole]).toEqual([0, 0, 0, 1, 1, 1, 1, 0, 0, 0]);
    expect(filled.byteOffset).toBe(24);
    expect(filled.length).toBe(4);
  });

  test('a tool result allocated with shared() comes back with no copy', async () => {
    const x = shared(Float32Array, 1000).fill(2);
    const { value, copied } = await measure(() => bridge.call<Float32Array>('test.scale', { x, k: 3 }));
    expect(value).toBeInstanceOf(Float32Array);
    expect(isShared(value)).toBe(true);
    expect(value.every((v) => v === 6)).toBe(true);
    expect(copied).toBe(0);
  });

  test('a large array not in shared memory is copied once into shared memory, and counted', async () => {
    const x = new Float64Array(1 << 16).fill(1);
    const { value, copied } = await measure(() =>
      bridge.call<Record<string, { shared: boolean }>>('test.inspect', { x }),
    );
    expect(value.x?.shared).toBe(true);
    expect(copied).toBe(x.byteLength);
  });

  test('a small array not in shared memory goes by structured clone, and is counted', async () => {
    const x = new Int32Array([1, 2, 3]);
    const { value, copied } = await measure(() => bridge.call<{ x: Int32Array }>('test.echo', { x }));
    expect(value.x).toEqual(x);
    expect(value.x).not.toBe(x);
    expect(copied).toBe(2 * x.byteLength);
  });

  test('a result not in shared memory is copied and counted', async () => {
    const { value, copied } = await measure(() => bridge.call<Float64Array>('test.local', { n: 10_000 }));
    expect(value.length).toBe(10_000);
    expect(value[9_999]).toBe(1.5);
    expect(copied).toBe(80_000);
  });
});

describe('toShared', () => {
  test('copies a typed array into shared memory once; a shared one is returned as it is', () => {
    const local = Float64Array.from([1, 2, 3]);
    const copy = toShared(local);
    expect(isShared(copy)).toBe(true);
    expect([...copy]).toEqual([1, 2, 3]);
    expect(toShared(copy)).toBe(copy);
  });

  test('copies an Arrow table into shared memory', async () => {
    const table = tableFromArrays({ x: Float64Array.from([1, 2, 3]), s: ['a', 'b', 'c'] });
    const sharedTable = toShared(table);
    const buffers = sharedTable.batches.flatMap((b) => b.data.children.map((c) => c.values as ArrayBufferView));
    expect(buffers.every(isShared)).toBe(true);
    expect(sharedTable.toArray().map((r) => r.toJSON())).toEqual(table.toArray().map((r) => r.toJSON()));
    const { copied } = await measure(() => bridge.call('test.noop', { t: sharedTable }));
    expect(copied).toBe(0);
  });

  test('rejects other values', () => {
    expect(() => toShared({} as never)).toThrow(InvalidArgsError);
  });
});

function rows(table: Table): unknown[] {
  return table.toArray().map((row) => row.toJSON());
}

describe('Arrow tables', () => {
  const mixed = () => {
    const n = 6;
    return new Table({
      f64: makeVector(Float64Array.from({ length: n }, (_, i) => i * 1.5)),
      i32: vectorFromArray([1, null, 3, null, 5, 6], new Int32()),
      i64: makeVector(BigInt64Array.from({ length: n }, (_, i) => BigInt(i) * 10_000_000_000n)),
      flag: vectorFromArray([true, false, null, true, true, false], new Bool()),
      name: vectorFromArray(['a', 'bb', null, 'dddd', '', 'é'], new Utf8()),
      cat: vectorFromArray(['x', 'y', 'x', null, 'z', 'x'], new Dictionary(new Utf8(), new Int32())),
      at: vectorFromArray([0, 1_000, null, 86_400_000, 1, 2], new TimestampMillisecond()),
    });
  };

  test('numeric, boolean, utf8, dictionary, timestamp and null-bearing columns round-trip', async () => {
    const table = mixed();
    const back = await bridge.call<{ t: Table }>('test.echo', { t: table });
    expect(back.t).toBeInstanceOf(Table);
    expect(back.t.schema.fields.map(String)).toEqual(table.schema.fields.map(String));
    expect(rows(back.t)).toEqual(rows(table));
    expect(back.t.getChild('i32')!.nullCount).toBe(2);
  });

  test('arrive inside the tool as Arrow tables over shared memory', async () => {
    const table = toShared(mixed());
    const stats = await bridge.call<Record<string, { count: number; nulls: number; mean: number }>>('frame.describe', {
      table,
    });
    expect(stats.i32).toMatchObject({ count: 4, nulls: 2, mean: 3.75 });
  });

  test('a table over shared memory crosses with no column byte copied, both ways', async () => {
    const n = 100_000;
    const x = shared(Float64Array, n).fill(1);
    const table = new Table({ x: makeVector(x), y: makeVector(shared(Int32Array, n)) });
    const {
      value,
      copied,
      shared: sharedBytes,
    } = await measure(() => bridge.call<{ t: Table }>('test.echo', { t: table }));
    expect(copied).toBe(0);
    expect(sharedBytes).toBeGreaterThanOrEqual(2 * (8 * n + 4 * n));
    // The returned table reads the very memory the caller owns.
    x[5] = 42;
    expect(value.t.getChild('x')!.get(5)).toBe(42);
  });

  test('a table not in shared memory is copied once and counted', async () => {
    const table = tableFromArrays({ x: new Float64Array(1000).fill(2) });
    const { value, copied } = await measure(() => bridge.call<{ t: Table }>('test.echo', { t: table }));
    expect(rows(value.t)).toEqual(rows(table));
    expect(copied).toBeGreaterThanOrEqual(8000);
  });

  test('sliced tables, multiple batches and empty tables round-trip', async () => {
    const table = tableFromArrays({ x: Float64Array.from([1, 2, 3, 4, 5]), s: ['a', 'b', 'c', 'd', 'e'] });
    const sliced = table.slice(1, 4);
    const batches = table.concat(tableFromArrays({ x: Float64Array.from([6]), s: ['f'] }));
    const empty = table.slice(0, 0);
    const back = await bridge.call<Table[]>('test.echo', [sliced, batches, empty]);
    expect(rows(back[0]!)).toEqual(rows(sliced));
    expect(back[1]!.batches.length).toBe(2);
    expect(rows(back[1]!)).toEqual(rows(batches));
    expect(back[2]!.numRows).toBe(0);
  });

  test('a table built from makeData over shared buffers keeps them', async () => {
    const values = shared(Float64Array, 4).fill(3);
    const data = makeData({ type: new Float64(), length: 4, data: values });
    const schema = new Schema([new Field('v', new Float64())]);
    const batch = new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: 4, children: [data] }));
    const table = new Table(schema, [batch]);
    const { value, copied } = await measure(() => bridge.call<{ table: Table }>('test.echo', { table }));
    expect(copied).toBe(0);
    expect(value.table.getChild('v')!.toArray()).toEqual(Float64Array.from([3, 3, 3, 3]));
  });
});

describe('a table from a second copy of apache-arrow (an app with another version installed)', () => {
  test('is recognised and refused with INVALID_ARGS saying what to install, never sent as a plain object', async () => {
    const table = tableFromArraysOfAnotherCopy({ x: Float64Array.from([1, 2, 3]) });
    const error = await rejection(bridge.call('test.inspect', { table }));
    expect(error).toBeInstanceOf(InvalidArgsError);
    expect((error as InvalidArgsError).path).toBe('args.table');
    expect(error.message).toContain('another copy of apache-arrow');
    expect(error.message).toContain('npm ls apache-arrow');
    expect(() => toShared(table as never)).toThrow(/another copy of apache-arrow/);
    // The pool serves on.
    expect(await bridge.call('test.echo', 1)).toBe(1);
  });
});

describe('odd values', () => {
  test('a subclass of a typed array crosses as its built-in type, with its values, both ways', async () => {
    class Vec extends Float64Array {}
    const big = new Vec(4096).fill(2.5);
    const small = new Vec(4).fill(1.5);
    const inShared = Object.setPrototypeOf(shared(Float64Array, 3).fill(4), Vec.prototype) as Float64Array;
    const seen = (await bridge.call('test.inspect', { big, small, inShared })) as Record<string, { type: string }>;
    expect(Object.values(seen).map((s) => s.type)).toEqual(['Float64Array', 'Float64Array', 'Float64Array']);
    const echoed = await bridge.call<{ big: Float64Array }>('test.echo', { big });
    expect(echoed.big).toBeInstanceOf(Float64Array);
    expect([...echoed.big.subarray(0, 2)]).toEqual([2.5, 2.5]);
    const returned = await bridge.call<Float64Array>('test.subclassed', { n: 4096 });
    expect(returned).toBeInstanceOf(Float64Array);
    expect(returned.length).toBe(4096);
    expect(returned[4095]).toBe(7);
  });

  test('a Proxy result (an Arrow row, say) is TOOL_FAILED with its path; no worker crashes', async () => {
    const exits: unknown[] = [];
    const onExit = (event: unknown) => exits.push(event);
    bridge.on('workerExit', onExit);
    try {
      const error = await rejection(bridge.call('test.proxy'));
      expect(error.code).toBe('TOOL_FAILED');
      expect(error.message).toContain('result.rows[0] is a Proxy');
      expect(error.message).toContain('row.toJSON()');
      const arg = await rejection(bridge.call('test.echo', { rows: [new Proxy({ a: 1 }, {})] }));
      expect(arg.code).toBe('INVALID_ARGS');
      expect((arg as InvalidArgsError).path).toBe('args.rows[0]');
      expect(await bridge.call('test.echo', 'after')).toBe('after');
      expect(exits).toEqual([]);
    } finally {
      bridge.off('workerExit', onExit);
    }
  });

  test('a sparse array crosses by its elements, not its length', async () => {
    const sparse: number[] = [];
    sparse.length = 20_000_000;
    sparse[5] = 1;
    sparse[10_000_000] = 2;
    const { x } = await bridge.call<{ x: number[] }>('test.echo', { x: sparse });
    expect(x.length).toBe(20_000_000);
    expect(Object.keys(x)).toEqual(['5', '10000000']);
  });

  test('a cyclic value holding typed arrays keeps its shape and identities both ways', async () => {
    type Node = { list: unknown[]; self?: Node; x?: Float64Array; y?: Float64Array };
    const root: Node = { list: [] };
    root.list.push(root);
    root.self = root;
    root.x = shared(Float64Array, 4).fill(3);
    root.y = new Float64Array(4096).fill(5);
    root.list.push(root.x);
    const back = await bridge.call<Node>('test.echo', root);
    expect(back.self).toBe(back);
    expect(back.list[0]).toBe(back);
    expect(back.list[1]).toBe(back.x);
    expect(back.x![0]).toBe(3);
    expect(back.y![4095]).toBe(5);
  });
});

describe('plain values', () => {
  const sample = () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    return {
      number: 0,
      nan: NaN,
      inf: -Infinity,
      big: 2n ** 70n,
      text: 'héllo',
      nothing: null,
      missing: undefined,
      list: [1, 'two', [3, { four: 4 }]],
      map: new Map<unknown, unknown>([
        ['k', 1],
        [2, { v: new Float32Array([1, 2]) }],
      ]),
      set: new Set([1, 'a']),
      date: new Date(1_700_000_000_000),
      regexp: /a+b/gi,
      nested: { deep: { deeper: { ints: new Int16Array([1, -1]), shared: shared(Uint8Array, 3).fill(9) } } },
      cyclic,
    };
  };

  const check = (back: ReturnType<typeof sample>) => {
    const expected = sample();
    expect(Object.is(back.number, 0)).toBe(true);
    expect(back.nan).toBeNaN();
    expect(back.inf).toBe(-Infinity);
    expect(back.big).toBe(2n ** 70n);
    expect(back.text).toBe('héllo');
    expect(back.nothing).toBeNull();
    expect('missing' in back).toBe(true);
    expect(back.missing).toBeUndefined();
    expect(back.list).toEqual(expected.list);
    expect(back.map).toBeInstanceOf(Map);
    expect(back.map).toEqual(expected.map);
    expect(back.set).toEqual(expected.set);
    expect(back.date).toEqual(expected.date);
    expect(back.regexp).toEqual(expected.regexp);
    expect(back.nested.deep.deeper.ints).toEqual(new Int16Array([1, -1]));
    expect(isShared(back.nested.deep.deeper.shared)).toBe(true);
    expect([...back.nested.deep.deeper.shared]).toEqual([9, 9, 9]);
    expect(back.cyclic.self).toBe(back.cyclic);
  };

  test('round-trip exactly by structured clone', async () => {
    check(await bridge.call('test.echo', sample()));
  });

  test('round-trip exactly as MessagePack', async () => {
    const packed = await testBridge({ maxThreads: 1, codec: { msgpackThreshold: 0 } });
    try {
      const { copied } = await (async () => {
        const before = packed.stats().bytes.copied;
        check(await packed.call('test.echo', sample()));
        return { copied: packed.stats().bytes.copied - before };
      })();
      expect(copied).toBeGreaterThan(0); // the MessagePack bytes themselves
    } finally {
      await packed.close();
    }
  });

  test('large values go as MessagePack above the threshold and come back equal', async () => {
    const big = Array.from({ length: 20_000 }, (_, i) => ({ id: i, label: `row ${i}`, tags: ['a', 'b'] }));
    const { value, copied } = await measure(() => bridge.call('test.echo', big));
    expect(value).toEqual(big);
    expect(copied).toBeGreaterThan(100_000);
  });

  test('a batch of record args crosses as flat MessagePack both ways; each call gets its own result', async () => {
    const before = bridge.stats().codecs;
    const calls = Array.from({ length: 3000 }, (_, i) => ({ tool: 'test.echo', args: { i, label: `#${i}` } }));
    const out = await bridge.batch(calls, { chunkSize: 1500 });
    expect(out.map((entry) => (entry.ok ? entry.value : entry.error))).toEqual(calls.map((call) => call.args));
    // Two chunks, each well above codec.flatMsgpackThreshold: args and results as MessagePack.
    expect(bridge.stats().codecs.msgpack - before.msgpack).toBe(4);
  });

  test('-0 is kept: such a value always goes by structured clone', async () => {
    const packed = await testBridge({ maxThreads: 1, codec: { msgpackThreshold: 0 } });
    try {
      const back = await packed.call<{ z: number; rest: string }>('test.echo', { z: -0, rest: 'x'.repeat(100) });
      expect(Object.is(back.z, -0)).toBe(true);
    } finally {
      await packed.close();
    }
  });

  test('a scalar and undefined round-trip', async () => {
    expect(await bridge.call('test.echo', 'just a string')).toBe('just a string');
    expect(await bridge.call('test.echo')).toBeUndefined();
  });
});

describe('args the runtime cannot carry are INVALID_ARGS, with the path', () => {
  const detached = () => {
    const buffer = new ArrayBuffer(8);
    const view = new Float64Array(buffer);
    structuredClone(buffer, { transfer: [buffer] });
    return view;
  };
  test.each([
    ['a function', { a: { b: [1, () => 0] } }, 'args.a.b[1]'],
    ['a symbol', { s: Symbol('x') }, 'args.s'],
    ['a detached buffer', { data: { x: detached() } }, 'args.data.x'],
    ['a promise', { p: Promise.resolve(1) }, 'args.p'],
    ['the reserved key', { o: { __toolbridge_ref: 1 } }, 'args.o.__toolbridge_ref'],
    ['a map value', { m: new Map([['key', () => 0]]) }, 'args.m.key'],
  ])('%s', async (_, args, path) => {
    const error = await rejection(bridge.call('test.echo', args));
    expect(error).toBeInstanceOf(InvalidArgsError);
    expect(error.code).toBe('INVALID_ARGS');
    expect((error as InvalidArgsError).path).toBe(path);
    expect(error.message).toContain(path);
  });

  test('the bridge keeps serving after bad args', async () => {
    expect(await bridge.call('test.echo', 1)).toBe(1);
  });
});

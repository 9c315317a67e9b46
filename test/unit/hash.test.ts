import { beforeAll, describe, expect, test } from 'vitest';
import { tableFromArrays } from 'apache-arrow';
import { hashArgs, loadHasher } from '../../src/cache/content-hash.js';

beforeAll(() => loadHasher());

describe('content hash', () => {
  test('objects hash by content, keys in any order', () => {
    expect(hashArgs({ a: 1, b: [2, 'x'] })).toBe(hashArgs({ b: [2, 'x'], a: 1 }));
    expect(hashArgs({ a: 1 })).not.toBe(hashArgs({ a: 2 }));
    expect(hashArgs({ a: 1 })).toMatch(/^[0-9a-f]{16}$/);
  });

  test('Error arguments hash by name, message and cause (two errors are two keys)', () => {
    expect(hashArgs({ e: new RangeError('first') })).not.toBe(hashArgs({ e: new RangeError('second') }));
    expect(hashArgs({ e: new RangeError('same') })).toBe(hashArgs({ e: new RangeError('same') }));
    expect(hashArgs(new Error('x'))).not.toBe(hashArgs(new TypeError('x')));
    expect(hashArgs(new Error('x', { cause: 1 }))).not.toBe(hashArgs(new Error('x', { cause: 2 })));
  });

  test('typed arrays hash by type and bytes, not identity', () => {
    expect(hashArgs(Float64Array.from([1, 2]))).toBe(hashArgs(Float64Array.from([1, 2])));
    expect(hashArgs(Float64Array.from([1, 2]))).not.toBe(hashArgs(Float64Array.from([1, 3])));
    expect(hashArgs(new Int32Array(2))).not.toBe(hashArgs(new Uint32Array(2)));
  });

  test('every kind is told apart: Map, Set, Date, RegExp, arrays and records of the same content', () => {
    const values = [
      new Map([[1, 2]]),
      new Set([1, 2]),
      [1, 2],
      { 0: 1, 1: 2 },
      new Date(12),
      /12/,
      12,
      '12',
      12n,
      null,
      undefined,
      true,
    ];
    const keys = values.map((value) => hashArgs(value));
    expect(new Set(keys).size).toBe(values.length);
  });

  test('cycles hash without looping; arguments past maxBytes are not hashed', () => {
    const a: Record<string, unknown> = { x: 1 };
    a.self = a;
    expect(hashArgs(a)).toMatch(/^[0-9a-f]{16}$/);
    expect(hashArgs({ x: new Float64Array(1024) }, 1024)).toBeUndefined();
    expect(hashArgs({ x: new Float64Array(16) }, 1024)).toBeDefined();
  });

  test('a table over maxBytes is given up before its columns are hashed', () => {
    const table = tableFromArrays({ a: new Float64Array(100), b: new Float64Array(100) });
    expect(hashArgs({ table }, 4096)).toMatch(/^[0-9a-f]{16}$/);
    const column = table.batches[0]!.data.children[0]!;
    const values = column.values;
    let reads = 0;
    Object.defineProperty(column, 'values', { get: () => (reads++, values) });
    expect(hashArgs({ table }, 1000)).toBeUndefined();
    const givenUp = reads;
    reads = 0;
    expect(hashArgs({ table }, 4096)).toBeDefined();
    // Hashing reads each column once more than sizing the table does.
    expect(givenUp).toBeLessThan(reads);
  });
});

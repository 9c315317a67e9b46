import { describe, expect, test } from 'vitest';
import { readWire, writeWire } from '../../src/nats/wire.js';

describe('a WireMessage as one message body', () => {
  test('envelope, buffers and a MessagePack plain part come back equal, each buffer shared and aligned', () => {
    const a = new SharedArrayBuffer(24);
    new Float64Array(a).set([1.5, -2, 3e300]);
    const b = new SharedArrayBuffer(3);
    new Uint8Array(b).set([7, 8, 9]);
    // An envelope of odd length puts the next field off an 8-byte boundary unless the body pads it.
    const message = { e: 'env\u00ff\u0000x', b: [a, b], m: Uint8Array.from([0x81, 0xa1, 0x6b, 0x01]) };
    const body = writeWire(message);
    // Delivered at an odd offset inside a larger buffer, as a network read may.
    const framed = new Uint8Array(body.length + 3);
    framed.set(body, 3);
    const back = readWire(framed.subarray(3));
    expect(back.e).toBe(message.e);
    expect(back.b!.map((buffer) => buffer instanceof SharedArrayBuffer)).toEqual([true, true]);
    expect(Array.from(new Float64Array(back.b![0]!))).toEqual([1.5, -2, 3e300]);
    expect(Array.from(new Uint8Array(back.b![1]!))).toEqual([7, 8, 9]);
    expect(Array.from(back.m!)).toEqual([0x81, 0xa1, 0x6b, 0x01]);
    expect(back.v).toBeUndefined();
  });

  test('a structured-clone plain part goes by V8 serialization; no buffers, no plain part', () => {
    const v = { when: new Date(5), tags: new Set(['x']), nested: new Map([[1, [2n]]]) };
    expect(readWire(writeWire({ e: 'e', v })).v).toEqual(v);
    const bare = readWire(writeWire({ e: 'only' }));
    expect(bare).toEqual({ e: 'only' });
  });

  test('a body that is not ours, or cut short, is refused with a clear error', () => {
    expect(() => readWire(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]))).toThrow(/not a toolbridge message/);
    const body = writeWire({ e: 'abc', b: [new SharedArrayBuffer(64)] });
    expect(() => readWire(body.subarray(0, body.length - 10))).toThrow(/truncated/);
  });
});

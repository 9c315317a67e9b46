import type { Table } from 'apache-arrow';
import { shareTable } from '../codec/arrow-frame.js';
import { looksLikeTable } from '../codec/arrow-table.js';
import { allocateShared } from '../memory/ledger.js';

/** A deep copy of a result and its size in bytes (buffers by length, other leaves roughly). */
export interface CopiedValue {
  value: unknown;
  bytes: number;
}

/**
 * Copies a value deeply, shared memory included: typed arrays over a `SharedArrayBuffer` get a new one,
 * Arrow tables get new column buffers. What the copy's holder writes never shows in the original, and the
 * other way round.
 */
export function copyValue(value: unknown): CopiedValue {
  let bytes = 0;
  const seen = new Map<object, unknown>();
  const copy = (v: unknown): unknown => {
    if (typeof v === 'string') {
      bytes += v.length + 8;
      return v;
    }
    if (typeof v !== 'object' || v === null) {
      bytes += 8;
      return v;
    }
    const known = seen.get(v);
    if (known !== undefined) return known;
    let out: unknown;
    if (ArrayBuffer.isView(v)) {
      bytes += v.byteLength;
      const Ctor = v.constructor as new (buffer: ArrayBufferLike, offset?: number, length?: number) => ArrayBufferView;
      const buffer =
        v.buffer instanceof SharedArrayBuffer ? allocateShared(v.byteLength) : new ArrayBuffer(v.byteLength);
      new Uint8Array(buffer).set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      out = v instanceof DataView ? new DataView(buffer) : new Ctor(buffer);
    } else if (looksLikeTable(v)) {
      const copied = shareTable(v as Table, { copyAll: true });
      bytes += copied.copiedBytes;
      out = copied.table;
    } else if (Array.isArray(v)) {
      const list: unknown[] = new Array<unknown>(v.length);
      seen.set(v, list);
      for (let i = 0; i < v.length; i++) list[i] = copy(v[i]);
      return list;
    } else if (v instanceof Map) {
      const map = new Map<unknown, unknown>();
      seen.set(v, map);
      for (const [key, item] of v) map.set(copy(key), copy(item));
      return map;
    } else if (v instanceof Set) {
      const set = new Set<unknown>();
      seen.set(v, set);
      for (const item of v) set.add(copy(item));
      return set;
    } else if (v instanceof ArrayBuffer) {
      bytes += v.byteLength;
      out = v.slice(0);
    } else if (v instanceof SharedArrayBuffer) {
      bytes += v.byteLength;
      const buffer = allocateShared(v.byteLength);
      new Uint8Array(buffer).set(new Uint8Array(v));
      out = buffer;
    } else if (v instanceof Date || v instanceof RegExp || v instanceof Error) {
      bytes += 16;
      out = structuredClone(v);
    } else {
      const record: Record<string, unknown> = {};
      seen.set(v, record);
      for (const key of Object.keys(v)) {
        bytes += key.length + 8;
        record[key] = copy((v as Record<string, unknown>)[key]);
      }
      return record;
    }
    seen.set(v, out);
    return out;
  };
  const value_ = copy(value);
  return { value: value_, bytes };
}

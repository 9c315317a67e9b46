import type { Table } from 'apache-arrow';
import { shareTable } from '../codec/arrow-frame.js';
import { kindOf, ValueKind } from '../codec/value-kind.js';
import { allocateForViews, allocateShared } from '../memory/ledger.js';

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
    const kind = kindOf(v, false);
    switch (kind) {
      case ValueKind.Array: {
        const list: unknown[] = new Array<unknown>((v as unknown[]).length);
        seen.set(v, list);
        for (let i = 0; i < list.length; i++) list[i] = copy((v as unknown[])[i]);
        return list;
      }
      case ValueKind.Map: {
        const map = new Map<unknown, unknown>();
        seen.set(v, map);
        for (const [key, item] of v as Map<unknown, unknown>) map.set(copy(key), copy(item));
        return map;
      }
      case ValueKind.Set: {
        const set = new Set<unknown>();
        seen.set(v, set);
        for (const item of v as Set<unknown>) set.add(copy(item));
        return set;
      }
      case ValueKind.Record: {
        const record: Record<string, unknown> = {};
        seen.set(v, record);
        for (const key of Object.keys(v)) {
          bytes += key.length + 8;
          record[key] = copy((v as Record<string, unknown>)[key]);
        }
        return record;
      }
      default: {
        const out = copyLeaf(v, kind);
        seen.set(v, out);
        return out;
      }
    }
  };

  /** A copy of an object that holds no other values to walk. */
  const copyLeaf = (v: object, kind: ValueKind): unknown => {
    switch (kind) {
      case ValueKind.View: {
        const view = v as ArrayBufferView;
        bytes += view.byteLength;
        const Ctor = view.constructor as new (
          buffer: ArrayBufferLike,
          offset: number,
          length: number,
        ) => ArrayBufferView;
        const shared = view.buffer instanceof SharedArrayBuffer;
        const buffer = shared ? allocateForViews(view.byteLength) : new ArrayBuffer(view.byteLength);
        new Uint8Array(buffer).set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
        if (view instanceof DataView) return new DataView(buffer, 0, view.byteLength);
        return new Ctor(buffer, 0, view.byteLength / (view as Uint8Array).BYTES_PER_ELEMENT);
      }
      case ValueKind.Table:
      case ValueKind.ForeignTable: {
        const copied = shareTable(v as Table, { copyAll: true });
        bytes += copied.copiedBytes;
        return copied.table;
      }
      case ValueKind.ArrayBuffer:
        bytes += (v as ArrayBuffer).byteLength;
        return (v as ArrayBuffer).slice(0);
      case ValueKind.SharedArrayBuffer: {
        const source = v as SharedArrayBuffer;
        bytes += source.byteLength;
        const buffer = allocateShared(source.byteLength);
        new Uint8Array(buffer).set(new Uint8Array(source));
        return buffer;
      }
      case ValueKind.Date:
      case ValueKind.RegExp:
      case ValueKind.Error:
        bytes += 16;
        return structuredClone(v);
      // Never in a result (the call would have failed): kept as they are.
      case ValueKind.Proxy:
      case ValueKind.Uncloneable:
        return v;
      default:
        throw new Error(`copyLeaf: not a leaf kind ${ValueKind[kind]}`);
    }
  };

  const out = copy(value);
  return { value: out, bytes };
}

import { Table } from 'apache-arrow';
import { InvalidArgsError } from '../errors.js';
import { encodeFrame, type FrameRef } from './arrow-frame.js';
import type { BufferTable } from './buffers.js';
import { isDetached, type ViewRef } from './views.js';

/**
 * The key of the small objects that stand in for typed arrays and tables in the plain part of a value.
 * User objects may not use it.
 */
export const REF_KEY = '__toolbridge_ref';

/** Typed arrays under this size that are not in shared memory travel inline, by structured clone. */
export const INLINE_COPY_LIMIT = 16 * 1024;

/** The result of taking a value apart. */
export interface Parts {
  /** The value with views and tables replaced by `{ [REF_KEY]: i }` (views) or `{ [REF_KEY]: ~i }` (frames). */
  plain: unknown;
  views: ViewRef[];
  frames: FrameRef[];
  /** Rough size of the plain part in bytes, to choose between structured clone and MessagePack. */
  plainBytes: number;
  /** The plain part holds a value MessagePack would not keep exactly (-0), so it must go by clone. */
  cloneOnly: boolean;
}

type Key = string | number;

const UNCLONEABLE: ReadonlyArray<[new (...args: never[]) => object, string]> = [
  [Promise, 'a Promise'],
  [WeakMap, 'a WeakMap'],
  [WeakSet, 'a WeakSet'],
  [WeakRef, 'a WeakRef'],
];

function formatPath(root: string, keys: readonly Key[]): string {
  let out = root;
  for (const key of keys) {
    out +=
      typeof key === 'number' ? `[${key}]` : /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
  }
  return out;
}

/**
 * Walks a value, moving its typed arrays and Arrow tables out of it (see {@link Parts}) and rejecting what
 * cannot cross a thread. Containers are copied only on the way to something that was replaced, so a value
 * without views or tables comes back as it is.
 */
export function takeApart(value: unknown, buffers: BufferTable, root: string): Parts {
  const views: ViewRef[] = [];
  const frames: FrameRef[] = [];
  const keys: Key[] = [];
  let plainBytes = 0;
  let cloneOnly = false;
  let seen: Map<object, unknown> | undefined;

  const fail = (what: string): never => {
    const path = formatPath(root, keys);
    throw new InvalidArgsError(`${path} is ${what}, which cannot be sent to a worker`, { path });
  };

  const walk = (v: unknown): unknown => {
    switch (typeof v) {
      case 'string':
        plainBytes += v.length + 8;
        return v;
      case 'object':
        return v === null ? v : walkObject(v);
      case 'function':
        return fail('a function');
      case 'symbol':
        return fail('a symbol');
      case 'number':
        if (v === 0 && 1 / v < 0) cloneOnly = true;
        plainBytes += 8;
        return v;
      default:
        plainBytes += 8;
        return v;
    }
  };

  const walkObject = (v: object): unknown => {
    seen ??= new Map();
    if (seen.has(v)) return seen.get(v);
    if (ArrayBuffer.isView(v)) {
      if (isDetached(v)) fail('a view of a detached ArrayBuffer');
      // Structured clone would copy the whole underlying buffer, so only small buffers go inline.
      if (v.buffer instanceof SharedArrayBuffer || v.buffer.byteLength >= INLINE_COPY_LIMIT) {
        const ref = { [REF_KEY]: views.push(buffers.ref(v)) - 1 };
        seen.set(v, ref);
        return ref;
      }
      buffers.copiedBytes += v.buffer.byteLength;
      plainBytes += v.buffer.byteLength;
      return v;
    }
    if (v instanceof Table) {
      const ref = { [REF_KEY]: ~(frames.push(encodeFrame(v, buffers)) - 1) };
      seen.set(v, ref);
      return ref;
    }
    seen.set(v, v);
    if (Array.isArray(v)) {
      let out: unknown[] | undefined;
      for (let i = 0; i < v.length; i++) {
        keys.push(i);
        const item: unknown = v[i];
        const next = walk(item);
        keys.pop();
        if (next !== item) {
          out ??= v.slice();
          out[i] = next;
        }
      }
      if (out) seen.set(v, out);
      return out ?? v;
    }
    if (v instanceof Map) {
      let changed = false;
      const entries: Array<[unknown, unknown]> = [];
      let i = 0;
      for (const [key, item] of v) {
        keys.push(`<map key ${i}>`);
        const nextKey = walk(key);
        keys[keys.length - 1] = typeof key === 'string' || typeof key === 'number' ? key : `<map value ${i}>`;
        const next = walk(item);
        keys.pop();
        changed ||= nextKey !== key || next !== item;
        entries.push([nextKey, next]);
        i++;
      }
      if (!changed) return v;
      const out = new Map(entries);
      seen.set(v, out);
      return out;
    }
    if (v instanceof Set) {
      let changed = false;
      const items: unknown[] = [];
      let i = 0;
      for (const item of v) {
        keys.push(`<set item ${i++}>`);
        const next = walk(item);
        keys.pop();
        changed ||= next !== item;
        items.push(next);
      }
      if (!changed) return v;
      const out = new Set(items);
      seen.set(v, out);
      return out;
    }
    if (v instanceof ArrayBuffer) {
      buffers.copiedBytes += v.byteLength;
      plainBytes += v.byteLength;
      return v;
    }
    if (v instanceof SharedArrayBuffer) {
      buffers.sharedBytes += v.byteLength;
      return v;
    }
    if (v instanceof Date || v instanceof RegExp || v instanceof Error) {
      plainBytes += 16;
      return v;
    }
    for (const [Ctor, what] of UNCLONEABLE) if (v instanceof Ctor) fail(what);
    // A plain object, or a class instance (which arrives as a plain object, as with structured clone).
    let out: Record<string, unknown> | undefined;
    const record = v as Record<string, unknown>;
    for (const key in record) {
      if (!Object.hasOwn(record, key)) continue;
      if (key === REF_KEY) {
        keys.push(key);
        fail(`an object with the reserved key "${REF_KEY}"`);
      }
      plainBytes += key.length + 8;
      keys.push(key);
      const item = record[key];
      const next = walk(item);
      keys.pop();
      if (next !== item) {
        out ??= { ...record };
        out[key] = next;
      }
    }
    if (out) seen.set(v, out);
    return out ?? v;
  };

  const plain = walk(value);
  return { plain, views, frames, plainBytes, cloneOnly };
}

/**
 * Puts a value back together: replaces the stand-ins left by {@link takeApart} with the rebuilt views and
 * tables. `plain` is a fresh copy (from structured clone or MessagePack) and is changed in place.
 */
export function putTogether(plain: unknown, resolve: (ref: number) => unknown): unknown {
  const seen = new Set<object>();
  const visit = (v: unknown): unknown => {
    if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v)) return v;
    const ref = (v as Record<string, unknown>)[REF_KEY];
    if (typeof ref === 'number') return resolve(ref);
    if (seen.has(v)) return v;
    seen.add(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = visit(v[i]);
    } else if (v instanceof Map) {
      const entries = [...v];
      v.clear();
      for (const [key, item] of entries) v.set(visit(key), visit(item));
    } else if (v instanceof Set) {
      const items = [...v];
      v.clear();
      for (const item of items) v.add(visit(item));
    } else if (!(v instanceof Date || v instanceof RegExp || v instanceof Error || v instanceof ArrayBuffer)) {
      const record = v as Record<string, unknown>;
      for (const key of Object.keys(record)) record[key] = visit(record[key]);
    }
    return v;
  };
  return visit(plain);
}

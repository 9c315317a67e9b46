import type { Table } from 'apache-arrow';
import { InvalidArgsError } from '../errors.js';
import { encodeFrame, type FrameRef } from './arrow-frame.js';
import { FOREIGN_TABLE, FOREIGN_TABLE_FIX } from './arrow-table.js';
import { BufferTable } from './buffers.js';
import { kindOf, uncloneableName, unreachable, ValueKind } from './value-kind.js';
import { isDetached, type ViewRef } from './views.js';

/**
 * The key of the small objects that stand in for typed arrays and tables in the plain part of a value.
 * User objects may not use it.
 */
export const REF_KEY = '__toolbridge_ref';

/**
 * Deepest nesting of containers a value may have. Past a few thousand levels the receiving thread cannot
 * deserialize a structured clone (and the call would never settle), so a deeper value is refused where it
 * is taken apart: `INVALID_ARGS` for args, `TOOL_FAILED` for a result.
 */
export const MAX_DEPTH = 1000;

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
  /**
   * The plain part may hold one object twice (or a cycle), so it must be encoded in a way that keeps
   * identity (structured clone, or MessagePack in structured-clone mode). False when every object in it was
   * met once: its containers, each seen once, and records of primitives (and other leaf objects) only
   * at or above `independentDepth` (see {@link takeApart}).
   */
  mayShare: boolean;
  /** Typed arrays that go by reference (in shared memory), and those copied (into shared memory or inline). */
  sharedViews: number;
  copiedViews: number;
}

type Key = string | number;

const SKIPPED = Symbol('skipped keys') as unknown as Key;

/** What `seen` holds for a container while its children are walked (a cycle back to it finds this). */
const IN_PROGRESS = Symbol('in progress');

/** Arrays longer than this are walked by their present elements only (a sparse array's holes are skipped). */
const SPARSE_SCAN = 1 << 16;

function formatPath(root: string, keys: readonly Key[]): string {
  let out = root;
  // A path hundreds of levels deep is shown by its two ends.
  const shown = keys.length > 16 ? [...keys.slice(0, 8), SKIPPED, ...keys.slice(-4)] : keys;
  for (const key of shown) {
    if (key === SKIPPED) {
      out += `…(${keys.length - 12} more levels)…`;
      continue;
    }
    out +=
      typeof key === 'number' ? `[${key}]` : /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
  }
  return out;
}

/** Thrown by a walk that does not track paths, to ask for a second walk that does. */
const RETRY_WITH_PATH = Symbol('retry with path');

/** One walk over a value; see {@link takeApart}. */
class Walker {
  readonly views: ViewRef[] = [];
  readonly frames: FrameRef[] = [];
  plainBytes = 0;
  sharedViews = 0;
  copiedViews = 0;
  cloneOnly = false;
  readonly #buffers: BufferTable;
  readonly #root: string;
  /** Keys from the root to the current value; kept only when `#track` is set (for error paths). */
  readonly #keys: Key[] = [];
  readonly #track: boolean;
  #seen: Map<object, unknown> | undefined;
  #depth = 0;
  /** Copy every container as it is entered, so that cycles through copied containers keep their identity. */
  readonly #copyAll: boolean;
  /**
   * A cycle led back to a container still being walked. If that container is then copied (to swap a view
   * or table out of it), the cycle would point at the original: {@link takeApart} walks again, copy-first.
   */
  cyclic = false;
  /** An object was met twice, or a leaf object (not tracked in `seen`) below `#independentDepth`. */
  mayShare = false;
  readonly #independentDepth: number;

  constructor(buffers: BufferTable, root: string, track: boolean, independentDepth: number, copyAll = false) {
    this.#buffers = buffers;
    this.#root = root;
    this.#track = track;
    this.#independentDepth = independentDepth;
    this.#copyAll = copyAll;
  }

  fail(what: string, fix?: string): never {
    if (!this.#track) throw RETRY_WITH_PATH;
    const path = formatPath(this.#root, this.#keys);
    const advice = fix === undefined ? '' : `: ${fix}`;
    throw new InvalidArgsError(`${path} is ${what}, which cannot cross between threads${advice}`, { path });
  }

  walk(v: unknown): unknown {
    switch (typeof v) {
      case 'string':
        this.plainBytes += v.length + 8;
        return v;
      case 'object':
        return v === null ? v : this.walkObject(v);
      case 'function':
        return this.fail('a function');
      case 'symbol':
        return this.fail('a symbol');
      case 'number':
        if (v === 0 && 1 / v < 0) this.cloneOnly = true;
        this.plainBytes += 8;
        return v;
      default:
        this.plainBytes += 8;
        return v;
    }
  }

  /**
   * An object that crosses as it is, without a `seen` entry (a record of primitives, a date, a small inline
   * array...), so one met twice would go unnoticed: the value may share it, unless it is an item of the
   * independent list (see {@link takeApart}) or the value itself.
   */
  #untracked(): void {
    if (this.#depth > this.#independentDepth) this.mayShare = true;
  }

  /** Walks `v` under `key`. */
  child(key: Key, v: unknown): unknown {
    if (!this.#track) return this.walk(v);
    this.#keys.push(key);
    const out = this.walk(v);
    this.#keys.pop();
    return out;
  }

  walkObject(v: object): unknown {
    const kind = kindOf(v);
    // A record of primitives only (a call's `{ a, b }`, say) holds nothing to take out and cannot be on a
    // cycle: it goes as it is, with no bookkeeping (met twice, structured clone keeps its identity).
    // (It still counts as a level of nesting: at the limit the full walk refuses it.)
    if (
      kind === ValueKind.Record &&
      !this.#copyAll &&
      this.#depth < MAX_DEPTH &&
      this.#primitivesOnly(v as Record<string, unknown>)
    ) {
      this.#untracked();
      return v;
    }
    const seen = (this.#seen ??= new Map());
    if (seen.has(v)) {
      this.mayShare = true;
      const known = seen.get(v);
      if (known !== IN_PROGRESS) return known;
      this.cyclic = true;
      return v;
    }
    switch (kind) {
      case ValueKind.View:
        return this.walkView(v as ArrayBufferView, seen);
      case ValueKind.Table: {
        const ref = { [REF_KEY]: ~(this.frames.push(encodeFrame(v as Table, this.#buffers)) - 1) };
        seen.set(v, ref);
        return ref;
      }
      case ValueKind.ForeignTable:
        return this.fail(FOREIGN_TABLE, FOREIGN_TABLE_FIX);
      case ValueKind.Proxy:
        return this.fail(
          'a Proxy (an Arrow row from table.get(i) or table.toArray() is one: use row.toJSON(), or the table itself)',
        );
      case ValueKind.Uncloneable:
        return this.fail(uncloneableName(v));
      case ValueKind.ArrayBuffer:
        this.#untracked();
        this.#buffers.copiedBytes += (v as ArrayBuffer).byteLength;
        this.plainBytes += (v as ArrayBuffer).byteLength;
        return v;
      case ValueKind.SharedArrayBuffer:
        this.#untracked();
        this.#buffers.sharedBytes += (v as SharedArrayBuffer).byteLength;
        return v;
      case ValueKind.Date:
      case ValueKind.RegExp:
      case ValueKind.Error:
        // Cross as they are, by structured clone.
        this.#untracked();
        this.plainBytes += 16;
        return v;
      case ValueKind.Record:
      case ValueKind.Array:
      case ValueKind.Map:
      case ValueKind.Set:
        return this.#walkContainer(v, kind, seen);
      default:
        return unreachable(kind);
    }
  }

  /**
   * Whether every value of the record is a primitive, counting them as {@link walk} does; false (nothing
   * counted) at the first object, function or symbol, or at the reserved key.
   */
  #primitivesOnly(record: Record<string, unknown>): boolean {
    const before = this.plainBytes;
    // for-in rather than Object.keys: it allocates nothing and reads values through V8's enum cache. (It
    // would also see enumerable inherited keys; a record's kind means its prototype has none worth sending,
    // and such a key holding an object only sends the record down the full walk.)
    for (const key in record) {
      const item = record[key];
      const type = typeof item;
      if ((type === 'object' && item !== null) || type === 'function' || type === 'symbol' || key === REF_KEY) {
        this.plainBytes = before;
        return false;
      }
      this.walk(item);
      this.plainBytes += key.length + 8;
    }
    return true;
  }

  #walkContainer(v: object, kind: ValueKind, seen: Map<object, unknown>): unknown {
    seen.set(v, IN_PROGRESS);
    if (++this.#depth > MAX_DEPTH) this.fail(`nested deeper than ${MAX_DEPTH} levels`);
    let out: unknown;
    try {
      if (kind === ValueKind.Array) out = this.walkArray(v as unknown[]);
      else if (kind === ValueKind.Map) out = this.walkMap(v as Map<unknown, unknown>);
      else if (kind === ValueKind.Set) out = this.walkSet(v as Set<unknown>);
      else out = this.walkRecord(v as Record<string, unknown>);
    } finally {
      this.#depth--;
    }
    seen.set(v, out);
    return out;
  }

  walkView(v: ArrayBufferView, seen: Map<object, unknown>): unknown {
    if (isDetached(v)) this.fail('a view of a detached ArrayBuffer');
    // Structured clone would copy the whole underlying buffer, so only small buffers go inline.
    if (v.buffer instanceof SharedArrayBuffer) this.sharedViews++;
    else this.copiedViews++;
    if (v.buffer instanceof SharedArrayBuffer || v.buffer.byteLength >= INLINE_COPY_LIMIT) {
      const ref = { [REF_KEY]: this.views.push(this.#buffers.ref(v)) - 1 };
      seen.set(v, ref);
      return ref;
    }
    this.#untracked();
    this.#buffers.copiedBytes += v.buffer.byteLength;
    this.plainBytes += v.buffer.byteLength;
    return v;
  }

  /**
   * In copy-first mode (see {@link Walker.cyclic}), `copy` stands in for `v` from before its children are
   * walked, so that a cycle back to `v` finds the copy.
   */
  #register<T>(v: object, copy: T): T {
    this.#seen!.set(v, copy);
    return copy;
  }

  walkArray(v: unknown[]): unknown[] {
    let out = this.#copyAll ? this.#register(v, v.slice()) : undefined;
    // forEach skips the holes of a sparse array (`a[1e7] = x` walks one element, not ten million).
    if (v.length > SPARSE_SCAN) v.forEach((item, i) => (out = this.#arrayItem(v, out, item, i)));
    else for (let i = 0; i < v.length; i++) out = this.#arrayItem(v, out, v[i], i);
    return out ?? v;
  }

  #arrayItem(v: unknown[], out: unknown[] | undefined, item: unknown, i: number): unknown[] | undefined {
    const next = this.child(i, item);
    if (next !== item) {
      out ??= v.slice();
      out[i] = next;
    }
    return out;
  }

  walkMap(v: Map<unknown, unknown>): Map<unknown, unknown> {
    const first = this.#copyAll ? this.#register(v, new Map<unknown, unknown>()) : undefined;
    let changed = false;
    const entries: Array<[unknown, unknown]> = [];
    let i = 0;
    for (const [key, item] of v) {
      const nextKey = this.child(`<map key ${i}>`, key);
      const next = this.child(typeof key === 'string' || typeof key === 'number' ? key : `<map value ${i}>`, item);
      changed ||= nextKey !== key || next !== item;
      entries.push([nextKey, next]);
      i++;
    }
    if (first) {
      for (const [key, item] of entries) first.set(key, item);
      return first;
    }
    return changed ? new Map(entries) : v;
  }

  walkSet(v: Set<unknown>): Set<unknown> {
    const first = this.#copyAll ? this.#register(v, new Set<unknown>()) : undefined;
    let changed = false;
    const items: unknown[] = [];
    let i = 0;
    for (const item of v) {
      const next = this.child(`<set item ${i++}>`, item);
      changed ||= next !== item;
      items.push(next);
    }
    if (first) {
      for (const item of items) first.add(item);
      return first;
    }
    return changed ? new Set(items) : v;
  }

  /** A plain object, or a class instance (which arrives as a plain object, as with structured clone). */
  walkRecord(record: Record<string, unknown>): Record<string, unknown> {
    let out = this.#copyAll ? this.#register(record, { ...record }) : undefined;
    const keys = Object.keys(record);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      if (key === REF_KEY) {
        if (this.#track) this.#keys.push(key);
        this.fail(`an object with the reserved key "${REF_KEY}"`);
      }
      this.plainBytes += key.length + 8;
      const item = record[key];
      const next = this.child(key, item);
      if (next !== item) {
        out ??= { ...record };
        out[key] = next;
      }
    }
    return out ?? record;
  }
}

/**
 * Walks a value, moving its typed arrays and Arrow tables out of it (see {@link Parts}) and rejecting what
 * cannot cross a thread. Containers are copied only on the way to something that was replaced, so a value
 * without views or tables comes back as it is. The walk keeps no path; when it meets something it must
 * reject, a second walk that does finds the path for the error.
 *
 * `independentDepth`: how deep the items of a list of separate calls' values sit (a chunk's args list: 1;
 * its `{ v }` result: 2), which need not keep identity between them (each call gets its own copy, as a
 * single call does). 0 for one call's value.
 */
export function takeApart(value: unknown, buffers: BufferTable, root: string, independentDepth = 0): Parts {
  let walker = new Walker(buffers, root, false, independentDepth);
  let plain: unknown;
  try {
    plain = walker.walk(value);
  } catch (error) {
    if (error !== RETRY_WITH_PATH) throw error;
    walker = new Walker(new BufferTable(), root, true, independentDepth);
    plain = walker.walk(value);
  }
  if (walker.cyclic && (walker.views.length > 0 || walker.frames.length > 0)) {
    // A cycle through a container that was copied (to swap a view or table out of it) would point back at
    // the original: walk again, copying every container before its children.
    buffers.reset();
    walker = new Walker(buffers, root, false, independentDepth, true);
    plain = walker.walk(value);
  }
  const { views, frames, plainBytes, cloneOnly, mayShare, sharedViews, copiedViews } = walker;
  return { plain, views, frames, plainBytes, cloneOnly, mayShare, sharedViews, copiedViews };
}

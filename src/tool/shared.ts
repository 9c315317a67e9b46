import type { Table } from 'apache-arrow';
import { InvalidArgsError, describeValue } from '../errors.js';
import { shareTable } from '../codec/arrow-frame.js';
import { arrowTableKind, FOREIGN_TABLE, FOREIGN_TABLE_FIX, looksLikeTable } from '../codec/arrow-table.js';
import { loadedArrow } from '../codec/lazy-modules.js';
import { allocateForViews } from '../memory/ledger.js';

export type TypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

/** A typed-array constructor: `Float64Array`, `Int32Array`, ... */
export type TypedArrayConstructor =
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Uint8ClampedArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

/** Any typed-array constructor, seen as making a view over a shared buffer. */
type ViewOver = new (buffer: SharedArrayBuffer, byteOffset: number, length: number) => TypedArray;

/** The typed array a constructor makes, over a `SharedArrayBuffer`. */
export type SharedArray<C extends TypedArrayConstructor> = C extends Int8ArrayConstructor
  ? Int8Array<SharedArrayBuffer>
  : C extends Uint8ClampedArrayConstructor
    ? Uint8ClampedArray<SharedArrayBuffer>
    : C extends Uint8ArrayConstructor
      ? Uint8Array<SharedArrayBuffer>
      : C extends Int16ArrayConstructor
        ? Int16Array<SharedArrayBuffer>
        : C extends Uint16ArrayConstructor
          ? Uint16Array<SharedArrayBuffer>
          : C extends Int32ArrayConstructor
            ? Int32Array<SharedArrayBuffer>
            : C extends Uint32ArrayConstructor
              ? Uint32Array<SharedArrayBuffer>
              : C extends Float32ArrayConstructor
                ? Float32Array<SharedArrayBuffer>
                : C extends Float64ArrayConstructor
                  ? Float64Array<SharedArrayBuffer>
                  : C extends BigInt64ArrayConstructor
                    ? BigInt64Array<SharedArrayBuffer>
                    : C extends BigUint64ArrayConstructor
                      ? BigUint64Array<SharedArrayBuffer>
                      : never;

/**
 * A zero-filled typed array of `length` elements over a new `SharedArrayBuffer`. Passing it to or returning
 * it from a tool copies nothing: both threads see the same memory. Counted against `memory.maxSharedMb`:
 * past it, throws `QUOTA_EXCEEDED`.
 *
 * @example const x = shared(Float64Array, 1_000_000);
 */
export function shared<C extends TypedArrayConstructor>(Ctor: C, length: number): SharedArray<C> {
  if (typeof Ctor !== 'function' || typeof Ctor.BYTES_PER_ELEMENT !== 'number') {
    throw new InvalidArgsError(`shared() expects a typed-array constructor, got ${describeValue(Ctor)}`);
  }
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new InvalidArgsError(
      `shared(${Ctor.name}, length): length must be a non-negative integer, got ${describeValue(length)}`,
    );
  }
  return new (Ctor as unknown as ViewOver)(
    allocateForViews(length * Ctor.BYTES_PER_ELEMENT),
    0,
    length,
  ) as SharedArray<C>;
}

/** True when the view's memory is a `SharedArrayBuffer` (so it crosses threads without a copy). */
export function isShared(view: ArrayBufferView): boolean {
  return view.buffer instanceof SharedArrayBuffer;
}

/**
 * Copies a typed array or an Arrow `Table` into shared memory once and returns the shared copy. A typed
 * array already in shared memory is returned as it is; a table keeps the column buffers that are already
 * shared and copies the others.
 */
export function toShared<T extends TypedArray>(value: T): T;
export function toShared<T extends Table>(value: T): T;
export function toShared(value: TypedArray | Table): TypedArray | Table {
  if (looksLikeTable(value)) {
    // A table from another apache-arrow copy could not cross later: say so now, when toolbridge can tell.
    if (loadedArrow() !== undefined && arrowTableKind(value) === 'foreign') {
      throw new InvalidArgsError(`toShared: the value is ${FOREIGN_TABLE}: ${FOREIGN_TABLE_FIX}`);
    }
    return shareTable(value as Table).table;
  }
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    if (isShared(value)) return value;
    const Ctor = value.constructor as ViewOver;
    const copy = new Ctor(allocateForViews(value.byteLength), 0, value.length);
    (copy as Uint8Array).set(value as Uint8Array);
    return copy;
  }
  throw new InvalidArgsError(`toShared() expects a typed array or an Arrow Table, got ${describeValue(value)}`);
}

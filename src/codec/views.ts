import { DType } from '../../schemas/generated/toolbridge/wire/dtype.js';

/** Where a typed view lives: an index into the shared buffers that travel with an envelope. */
export interface ViewRef {
  buffer: number;
  byteOffset: number;
  /** In elements of `dtype`. */
  length: number;
  dtype: DType;
}

type ViewConstructor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => ArrayBufferView;

const float16: ViewConstructor | undefined = (globalThis as { Float16Array?: ViewConstructor }).Float16Array;

const CONSTRUCTORS: Record<DType, ViewConstructor | undefined> = {
  [DType.Int8]: Int8Array,
  [DType.Uint8]: Uint8Array,
  [DType.Uint8Clamped]: Uint8ClampedArray,
  [DType.Int16]: Int16Array,
  [DType.Uint16]: Uint16Array,
  [DType.Int32]: Int32Array,
  [DType.Uint32]: Uint32Array,
  [DType.Float32]: Float32Array,
  [DType.Float64]: Float64Array,
  [DType.BigInt64]: BigInt64Array,
  [DType.BigUint64]: BigUint64Array,
  [DType.DataView]: DataView as unknown as ViewConstructor,
  [DType.Float16]: float16,
};

const BY_CONSTRUCTOR = new Map<unknown, DType>();
for (const [dtype, Ctor] of Object.entries(CONSTRUCTORS)) if (Ctor) BY_CONSTRUCTOR.set(Ctor, Number(dtype) as DType);

const BY_NAME = new Map<string, DType>();
for (const [dtype, Ctor] of Object.entries(CONSTRUCTORS)) if (Ctor) BY_NAME.set(Ctor.name, Number(dtype) as DType);

/** The built-in type of a typed array (`Float64Array`), read from its internal slot: subclasses and a
 * replaced `constructor` do not change it. Undefined for a DataView. */
const typedArrayName = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Int8Array.prototype), Symbol.toStringTag)!
  .get as (this: ArrayBufferView) => string | undefined;

/**
 * The wire dtype of a view, or undefined for an unknown view type. A subclass (`class Vec extends
 * Float64Array`) travels as its built-in type, and arrives as one.
 */
export function dtypeOf(view: ArrayBufferView): DType | undefined {
  const direct = BY_CONSTRUCTOR.get(view.constructor);
  if (direct !== undefined) return direct;
  const name = typedArrayName.call(view);
  return name === undefined ? (view instanceof DataView ? DType.DataView : undefined) : BY_NAME.get(name);
}

/** Bytes per element of a dtype. */
export function bytesPerElement(dtype: DType): number {
  const Ctor = CONSTRUCTORS[dtype] as { BYTES_PER_ELEMENT?: number } | undefined;
  return Ctor?.BYTES_PER_ELEMENT ?? 1;
}

/** Rebuilds a view over one of the envelope's buffers. */
export function openView(buffers: readonly ArrayBufferLike[], ref: ViewRef): ArrayBufferView {
  const Ctor = CONSTRUCTORS[ref.dtype];
  const buffer = buffers[ref.buffer];
  if (!Ctor || !buffer) throw new Error(`Malformed envelope: view of dtype ${ref.dtype} over buffer ${ref.buffer}`);
  return new Ctor(buffer, ref.byteOffset, ref.length);
}

/** Element count of a view (`byteLength` for a DataView). */
export function lengthOf(view: ArrayBufferView): number {
  return (view as { length?: number }).length ?? view.byteLength;
}

/** Whether the view's buffer has been transferred away (detached). */
export function isDetached(view: ArrayBufferView): boolean {
  if (view.byteLength !== 0) return false;
  const buffer = view.buffer as ArrayBuffer & { detached?: boolean };
  if (typeof buffer.detached === 'boolean') return buffer.detached;
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}

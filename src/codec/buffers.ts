import { dtypeOf, lengthOf, type ViewRef } from './views.js';
import { DType } from '../../schemas/generated/toolbridge/wire/dtype.js';
import { allocateForViews } from '../memory/ledger.js';

/** Copies into shared memory start on this boundary (Arrow asks for 8; 64 suits SIMD readers too). */
export const ALIGNMENT = 64;

const align = (n: number): number => Math.ceil(n / ALIGNMENT) * ALIGNMENT;

/**
 * Collects the shared buffers a value's views live in, and the views that must first be copied into
 * shared memory. Copies are made together, into one new `SharedArrayBuffer`, by {@link flush}.
 */
export class BufferTable {
  readonly buffers: SharedArrayBuffer[] = [];
  /** Copy shared views too (for copies that must not alias the original memory). */
  readonly copyAll: boolean;
  sharedBytes = 0;
  copiedBytes = 0;
  #index: Map<SharedArrayBuffer, number> | undefined;
  #pending: Array<{ view: ArrayBufferView; ref: ViewRef }> | undefined;
  #pendingBytes = 0;

  constructor(options?: { copyAll?: boolean }) {
    this.copyAll = options?.copyAll ?? false;
  }

  /** A reference to `view`: by reference when it is in shared memory, else a copy made at {@link flush}. */
  ref(view: ArrayBufferView): ViewRef {
    const dtype = dtypeOf(view) ?? DType.Uint8;
    const length = dtypeOf(view) === undefined ? view.byteLength : lengthOf(view);
    if (view.buffer instanceof SharedArrayBuffer && !this.copyAll) {
      this.sharedBytes += view.byteLength;
      return { buffer: this.indexOf(view.buffer), byteOffset: view.byteOffset, length, dtype };
    }
    const ref: ViewRef = { buffer: -1, byteOffset: 0, length, dtype };
    (this.#pending ??= []).push({ view, ref });
    this.#pendingBytes += align(view.byteLength);
    return ref;
  }

  indexOf(buffer: SharedArrayBuffer): number {
    const index = (this.#index ??= new Map());
    let i = index.get(buffer);
    if (i === undefined) {
      i = this.buffers.push(buffer) - 1;
      index.set(buffer, i);
    }
    return i;
  }

  /** Forgets every reference taken so far (before {@link flush}): for a second walk of the same value. */
  reset(): void {
    this.buffers.length = 0;
    this.sharedBytes = 0;
    this.copiedBytes = 0;
    this.#index = undefined;
    this.#pending = undefined;
    this.#pendingBytes = 0;
  }

  /** The buffer {@link flush} made for the copies, if any. */
  copyTarget: SharedArrayBuffer | undefined;

  /** Makes the pending copies. Returns the copy buffer, if any. */
  flush(): SharedArrayBuffer | undefined {
    const pending = this.#pending;
    if (pending === undefined) return undefined;
    const target = allocateForViews(this.#pendingBytes);
    this.copyTarget = target;
    const bytes = new Uint8Array(target);
    const buffer = this.indexOf(target);
    let offset = 0;
    for (const { view, ref } of pending) {
      ref.buffer = buffer;
      ref.byteOffset = offset;
      bytes.set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength), offset);
      this.copiedBytes += view.byteLength;
      offset += align(view.byteLength);
    }
    this.#pending = undefined;
    this.#pendingBytes = 0;
    return target;
  }
}

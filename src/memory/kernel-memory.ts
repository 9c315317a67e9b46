/**
 * Shared memory that the built-in kernels read in place.
 *
 * WebAssembly code reads only its own linear memory: a kernel scanning an ordinary SharedArrayBuffer must
 * first copy each block into its memory, and that copy runs at about the speed of the scan itself. So an
 * array of {@link KERNEL_MEMORY_MIN_BYTES} or more (`shared()`, `toShared()`, the codec's copies) is
 * allocated inside a shared `WebAssembly.Memory`: its buffer is that memory's, rounded up to 64 KiB pages,
 * with a scratch area at the end. The codec sends the memory object beside the buffer
 * ({@link memoriesOf}, {@link adoptMemories}); a worker's kernel instantiated over that memory reads the
 * array where it is and writes its operands and results into a scratch slot. A slot is claimed with
 * atomics by one thread at a time ({@link claimSlot}); when every slot is taken, the kernel copies as it
 * would for any other buffer. The ledger counts the bytes asked for: the scratch area (1/128 of the array,
 * 128 KiB to 1 MiB) and the rounding to pages are not counted.
 */

/** A shared `WebAssembly.Memory` (the project's TypeScript libs carry no WebAssembly types). */
export interface SharedMemory {
  readonly buffer: SharedArrayBuffer;
}
declare const WebAssembly: {
  Memory: new (descriptor: { initial: number; maximum: number; shared: true }) => SharedMemory;
};

const PAGE = 65_536;
/** Arrays from this size up live in a kernel memory: smaller ones copy into a kernel in little time. */
export const KERNEL_MEMORY_MIN_BYTES = 8 * 2 ** 20;
/** Addresses are 32-bit: a kernel memory holds at most 4 GiB, scratch included. */
const MAX_PAGES = 65_536;
/** Bytes of one scratch slot: a scan's query (as f64, up to ~2,000 values) and a block of its results. */
export const SLOT_BYTES = 16 * 1024;
/**
 * The scratch area: 1/128 of the array, from 2 pages to 16 (7 to 63 slots: threads that can scan the array
 * in place at once), ending in a header of {@link HEADER_BYTES}: the slot count, then one claim flag per slot.
 */
const MIN_SCRATCH_PAGES = 2;
const MAX_SCRATCH_PAGES = 16;
const HEADER_BYTES = 256;
/** The memory of each buffer allocated or received in a kernel memory, per thread (see {@link state}). */
interface ThreadState {
  memories: WeakMap<SharedArrayBuffer, SharedMemory>;
}
const STATE: unique symbol = Symbol.for('toolbridge.kernel-memory/1') as never;
/** Under a global symbol, like the ledger's: the runtime bundle and `toolbridge/tool` share one map. */
const state = ((globalThis as typeof globalThis & { [STATE]?: ThreadState })[STATE] ??= {
  memories: new WeakMap(),
});

/**
 * The byte length of the kernel memory that would hold `byteLength` bytes of typed arrays, or undefined
 * when they are better in a plain SharedArrayBuffer (too small to gain, or more than 4 GiB).
 */
export function kernelMemoryBytes(byteLength: number): number | undefined {
  if (byteLength < KERNEL_MEMORY_MIN_BYTES) return undefined;
  const pages = Math.ceil(byteLength / PAGE) + scratchPages(byteLength);
  return pages > MAX_PAGES ? undefined : pages * PAGE;
}

const scratchPages = (byteLength: number) =>
  Math.min(MAX_SCRATCH_PAGES, Math.max(MIN_SCRATCH_PAGES, Math.ceil(byteLength / 128 / PAGE)));

/**
 * A new zero-filled kernel memory for `byteLength` bytes of arrays ({@link kernelMemoryBytes} in all);
 * returns its buffer.
 * Throws a RangeError when the runtime cannot reserve it (the caller then falls back to a plain buffer).
 */
export function newKernelMemory(byteLength: number): SharedArrayBuffer {
  const total = kernelMemoryBytes(byteLength);
  if (total === undefined) throw new RangeError(`no kernel memory for ${byteLength} bytes`);
  const pages = total / PAGE;
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const header = headerOf(memory.buffer);
  header[0] = Math.floor((scratchPages(byteLength) * PAGE - HEADER_BYTES) / SLOT_BYTES);
  state.memories.set(memory.buffer, memory);
  return memory.buffer;
}

/** The kernel memory `buffer` is, if it is one this thread allocated or received. */
export function memoryOf(buffer: ArrayBufferLike): SharedMemory | undefined {
  return buffer instanceof SharedArrayBuffer ? state.memories.get(buffer) : undefined;
}

/** For a message's buffers: the kernel memory of each (0 for a plain buffer), or undefined if none is one. */
export function memoriesOf(buffers: readonly SharedArrayBuffer[]): Array<SharedMemory | 0> | undefined {
  let out: Array<SharedMemory | 0> | undefined;
  for (let i = 0; i < buffers.length; i++) {
    const memory = state.memories.get(buffers[i]!);
    if (memory === undefined) continue;
    out ??= new Array<SharedMemory | 0>(buffers.length).fill(0);
    out[i] = memory;
  }
  return out;
}

/** On receiving a message: remembers the kernel memory of each of its buffers that has one. */
export function adoptMemories(buffers: readonly SharedArrayBuffer[], memories: ReadonlyArray<SharedMemory | 0>): void {
  for (let i = 0; i < buffers.length; i++) {
    const memory = memories[i];
    // A memory's buffer and the buffer sent beside it are views of one backing store; the lengths match.
    if (memory && buffers[i]!.byteLength === memory.buffer.byteLength) state.memories.set(buffers[i]!, memory);
  }
}

/** The header at the end of a kernel memory: [0] its slot count, [1 + i] slot i's claim flag. */
const headerOf = (buffer: SharedArrayBuffer) =>
  new Int32Array(buffer, buffer.byteLength - HEADER_BYTES, HEADER_BYTES / 4);

/** Slot i's byte offset: slots lie just before the header, the first nearest it. */
const slotAt = (buffer: SharedArrayBuffer, i: number) => buffer.byteLength - HEADER_BYTES - (i + 1) * SLOT_BYTES;

/** How many scratch slots a kernel memory's buffer has. */
export function slotCount(buffer: SharedArrayBuffer): number {
  return headerOf(buffer)[0]!;
}

/**
 * Claims a free scratch slot of a kernel memory's buffer for this thread: returns its byte offset, or -1
 * when all are taken. Release it with {@link releaseSlot}. (A thread that dies holding one, a worker killed
 * mid-scan, leaves it taken: later scans of that array copy once every slot is.)
 */
export function claimSlot(buffer: SharedArrayBuffer): number {
  const header = headerOf(buffer);
  const slots = header[0]!;
  for (let i = 0; i < slots; i++) {
    if (Atomics.compareExchange(header, 1 + i, 0, 1) === 0) return slotAt(buffer, i);
  }
  return -1;
}

/** Gives back a slot {@link claimSlot} returned. */
export function releaseSlot(buffer: SharedArrayBuffer, offset: number): void {
  const i = (buffer.byteLength - HEADER_BYTES - offset) / SLOT_BYTES - 1;
  Atomics.store(headerOf(buffer), 1 + i, 0);
}

/**
 * The shared-memory ledger: what toolbridge allocates in shared memory, across every thread of the process,
 * so that `memory.maxSharedMb` can refuse an allocation (QUOTA_EXCEEDED) and `stats().memory.sharedMb` can
 * say how much is held. V8 counts a SharedArrayBuffer in no worker's heap, so this is the only meter.
 *
 * Every buffer toolbridge allocates (`shared()`, `toShared()`, the codec's copies, the cache's copies) gets
 * an entry: its size and a count of its handles (SharedArrayBuffer objects) that hold it; a handle's death
 * is seen by a FinalizationRegistry in its thread, and the last one frees the entry. Ownership moves with
 * results: a buffer a worker allocated and returns is handed to the main thread (the worker's handle stops
 * counting; the caller's counts instead). Arguments do not move: the caller holds them for the call. A
 * worker keeps, in shared memory, how many handles of each entry it holds, so that when it exits without
 * running its finalizers the pool can release them.
 */
import { QuotaExceededError } from '../errors.js';
import { kernelMemoryBytes, newKernelMemory } from './kernel-memory.js';

/**
 * Entries: buffers alive at once that the ledger tracks. It starts with {@link FIRST_CAPACITY} and doubles
 * when full (its memory is a growable SharedArrayBuffer, which every thread sees grow) up to
 * {@link MAX_CAPACITY}; past that an allocation is refused with QUOTA_EXCEEDED rather than left uncounted.
 */
const FIRST_CAPACITY = 1 << 16;
export const MAX_CAPACITY = 1 << 22;
/** Header: [0] bytes in use, [1] ceiling in bytes (0 for none), [2] free entries, [3] capacity, [4] growth lock. */
const HEADER = 5;
const MiB = 1024 * 1024;

/** A SharedArrayBuffer that can grow in place (ES2024; Node >= 20), seen grown by every thread. */
interface GrowableSharedArrayBuffer extends SharedArrayBuffer {
  grow(byteLength: number): void;
}
const GrowableSharedArrayBuffer = SharedArrayBuffer as unknown as new (
  byteLength: number,
  options: { maxByteLength: number },
) => GrowableSharedArrayBuffer;

/** The shared part of a ledger: passed to every worker. */
export interface LedgerMemory {
  header: SharedArrayBuffer;
  /** Int32 per entry: live handles (0 = free). */
  holders: SharedArrayBuffer;
  /** BigInt64 per entry: size in bytes. */
  sizes: SharedArrayBuffer;
}

/** A received message's tracked buffers: entry ids by position in its buffer list, -1 for untracked. */
export type LedgerIds = number[];

class Ledger {
  readonly memory: LedgerMemory;
  readonly #header: BigInt64Array;
  readonly #holders: Int32Array;
  readonly #sizes: BigInt64Array;
  /** This thread's handles: entry id by buffer object. */
  readonly #ids = new WeakMap<SharedArrayBuffer, number>();
  readonly #finalizer = new FinalizationRegistry<number>((id) => this.#dropHandle(id));
  /** Buffers this thread allocated and keeps for itself: not handed over with a result ({@link keep}). */
  readonly #kept = new WeakSet<SharedArrayBuffer>();
  /** Handles this thread holds per entry, readable by the pool once the thread is gone (workers only). */
  #held: Uint8Array | undefined;
  #hint = 0;

  constructor(memory?: LedgerMemory) {
    this.memory = memory ?? {
      header: new SharedArrayBuffer(HEADER * 8),
      holders: new GrowableSharedArrayBuffer(FIRST_CAPACITY * 4, { maxByteLength: MAX_CAPACITY * 4 }),
      sizes: new GrowableSharedArrayBuffer(FIRST_CAPACITY * 8, { maxByteLength: MAX_CAPACITY * 8 }),
    };
    // Views without a length follow the buffers as they grow, in every thread.
    this.#header = new BigInt64Array(this.memory.header);
    this.#holders = new Int32Array(this.memory.holders);
    this.#sizes = new BigInt64Array(this.memory.sizes);
    if (memory === undefined) {
      Atomics.store(this.#header, 2, BigInt(FIRST_CAPACITY));
      Atomics.store(this.#header, 3, BigInt(FIRST_CAPACITY));
    }
  }

  /** Makes this thread keep a count of its handles in shared memory; returns that memory for the pool. */
  trackHandles(): SharedArrayBuffer {
    const held = new GrowableSharedArrayBuffer(this.#holders.length, { maxByteLength: MAX_CAPACITY });
    this.#held = new Uint8Array(held);
    return held;
  }

  get bytesInUse(): number {
    return Number(Atomics.load(this.#header, 0));
  }

  get limitBytes(): number {
    return Number(Atomics.load(this.#header, 1));
  }

  set limitBytes(bytes: number) {
    Atomics.store(this.#header, 1, BigInt(Math.max(0, Math.floor(bytes))));
  }

  /**
   * A new zero-filled SharedArrayBuffer, counted against the ceiling (throws QUOTA_EXCEEDED past it). With
   * `forViews`, a large one is a kernel memory (see kernel-memory.ts), longer than asked: the bytes asked
   * for are what is counted.
   */
  allocate(byteLength: number, forViews = false): SharedArrayBuffer {
    const size = BigInt(byteLength);
    const total = Atomics.add(this.#header, 0, size) + size;
    const limit = Atomics.load(this.#header, 1);
    if (limit > 0n && total > limit) {
      Atomics.sub(this.#header, 0, size);
      throw QuotaExceededError.refuse({
        requestedBytes: byteLength,
        limitMb: Number(limit) / MiB,
        inUseMb: Number(total - size) / MiB,
      });
    }
    let buffer: SharedArrayBuffer | undefined;
    if (forViews && kernelMemoryBytes(byteLength) !== undefined) {
      try {
        buffer = newKernelMemory(byteLength);
      } catch {
        // The runtime could not reserve a WebAssembly memory: a plain buffer instead.
      }
    }
    try {
      buffer ??= new SharedArrayBuffer(byteLength);
    } catch (error) {
      Atomics.sub(this.#header, 0, size);
      throw error;
    }
    let id: number;
    try {
      id = this.#claim();
    } catch (error) {
      // Growing the ledger failed (out of memory): the allocation is not counted.
      Atomics.sub(this.#header, 0, size);
      throw error;
    }
    if (id < 0) {
      // Millions of buffers alive at once: refused, rather than left uncounted (which would bypass the quota).
      Atomics.sub(this.#header, 0, size);
      throw new QuotaExceededError(
        `Shared memory quota exceeded: more than ${MAX_CAPACITY} toolbridge shared buffers are alive at once; release some (or share one larger buffer)`,
      );
    }
    Atomics.store(this.#sizes, id, size);
    this.#adopt(buffer, id);
    return buffer;
  }

  /**
   * A result is leaving this (worker) thread: the buffers this thread allocated and still owns are handed
   * to the receiver, which adopts them ({@link receive}). Returns their ids by position, or undefined.
   */
  handOver(buffers: readonly SharedArrayBuffer[]): LedgerIds | undefined {
    let ids: LedgerIds | undefined;
    for (let i = 0; i < buffers.length; i++) {
      const buffer = buffers[i]!;
      const id = this.#ids.get(buffer);
      if (id === undefined || this.#kept.has(buffer)) continue;
      this.#ids.delete(buffer);
      this.#finalizer.unregister(buffer);
      if (this.#held) this.#held[id]!--;
      (ids ??= new Array<number>(buffers.length).fill(-1))[i] = id;
    }
    return ids;
  }

  /**
   * Makes a buffer this thread allocated stay this thread's when it leaves in a result: its bytes are counted
   * as long as this thread holds it (until the handle is collected, or the worker exits), whatever the
   * receivers do with theirs. For memory a worker keeps between calls and lends to others meanwhile.
   */
  keep(buffer: SharedArrayBuffer): void {
    if (this.#ids.has(buffer)) this.#kept.add(buffer);
  }

  /**
   * Lets go of this thread's handle of a buffer now, without waiting for the garbage collector: for the
   * codec's transport copies, which nothing else in this thread holds once their call is over.
   */
  releaseHandle(buffer: SharedArrayBuffer): void {
    const id = this.#ids.get(buffer);
    if (id === undefined) return;
    this.#ids.delete(buffer);
    this.#finalizer.unregister(buffer);
    if (this.#held) this.#held[id]!--;
    this.release(id);
  }

  /** A result arrived: this thread's handles of its handed-over buffers now count for them. */
  receive(buffers: readonly SharedArrayBuffer[], ids: LedgerIds): void {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id >= 0 && buffers[i]) this.#adopt(buffers[i]!, id);
    }
  }

  /** A result that will never be read (a late reply): releases what was handed over with it. */
  discard(ids: LedgerIds): void {
    for (const id of ids) if (id >= 0) this.release(id);
  }

  /** Drops one handle of entry `id`; the last one frees it. */
  release(id: number, count = 1): void {
    const before = Atomics.sub(this.#holders, id, count);
    if (before === count) {
      Atomics.sub(this.#header, 0, Atomics.load(this.#sizes, id));
      Atomics.add(this.#header, 2, 1n);
    }
  }

  #adopt(buffer: SharedArrayBuffer, id: number): void {
    this.#ids.set(buffer, id);
    this.#finalizer.register(buffer, id, buffer);
    const held = this.#held;
    if (held) {
      if (id >= held.length) (held.buffer as GrowableSharedArrayBuffer).grow(this.#holders.length);
      held[id]!++;
    }
  }

  #dropHandle(id: number): void {
    if (this.#held) this.#held[id]!--;
    this.release(id);
  }

  /**
   * Finds a free entry and takes it with one handle; -1 when there is none. The count of free entries is
   * taken first, so a full ledger answers at once instead of scanning (a burst of allocations faster than
   * the garbage collector releases them can fill it).
   */
  #claim(): number {
    while (Atomics.sub(this.#header, 2, 1n) <= 0n) {
      Atomics.add(this.#header, 2, 1n);
      if (!this.#grow()) return -1;
    }
    // A release frees its entry before it counts it, so a taken count always has an entry: find it.
    for (let n = 0; ; n++) {
      const capacity = this.#holders.length;
      const id = (this.#hint + n) % capacity;
      if (Atomics.compareExchange(this.#holders, id, 0, 1) === 0) {
        this.#hint = (id + 1) % capacity;
        return id;
      }
    }
  }

  /**
   * Doubles the ledger when it is full. One thread at a time grows it (the others retry their claim, and
   * see the new entries once the free count says they exist). False when it is at {@link MAX_CAPACITY}.
   */
  #grow(): boolean {
    if (Atomics.compareExchange(this.#header, 4, 0n, 1n) !== 0n) return true; // another thread is growing it
    try {
      // Grown by another thread since this one found it full: nothing to do.
      if (Atomics.load(this.#header, 2) > 0n) return true;
      const capacity = Atomics.load(this.#header, 3);
      if (capacity >= BigInt(MAX_CAPACITY)) return false;
      const doubled = capacity * 2n;
      (this.memory.sizes as GrowableSharedArrayBuffer).grow(Number(doubled) * 8);
      (this.memory.holders as GrowableSharedArrayBuffer).grow(Number(doubled) * 4);
      Atomics.store(this.#header, 3, doubled);
      // Only now are the new entries there to be claimed.
      Atomics.add(this.#header, 2, capacity);
      return true;
    } finally {
      Atomics.store(this.#header, 4, 0n);
    }
  }
}

/**
 * This thread's ledger and the bridges' ceilings, under a global symbol: every copy of this module in a
 * thread uses the same ones. (A worker runs a bundle of the runtime, while the tool modules it loads import
 * `toolbridge/tool`: both must count their buffers in the pool's ledger.)
 */
const STATE: unique symbol = Symbol.for('toolbridge.ledger/1') as never;

interface ThreadState {
  ledger: Ledger | undefined;
  ceilings: Map<object, number>;
}

const state = ((globalThis as typeof globalThis & { [STATE]?: ThreadState })[STATE] ??= {
  ledger: undefined,
  ceilings: new Map(),
});

/** This thread's ledger: the process's (made on first use), or the one a worker attached at start. */
export function ledger(): Ledger {
  return (state.ledger ??= new Ledger());
}

/** In a worker: use the pool's ledger, and count this thread's handles; returns the count memory. */
export function attachLedger(memory: LedgerMemory): SharedArrayBuffer {
  const attached = new Ledger(memory);
  state.ledger = attached;
  return attached.trackHandles();
}

/** A worker is gone: drops the handles it still held (it ran no finalizers for them). */
export function releaseHandlesOf(held: SharedArrayBuffer): void {
  const counts = new Uint8Array(held);
  const book = ledger();
  for (let id = 0; id < counts.length; id++) if (counts[id]! > 0) book.release(id, counts[id]!);
}

/**
 * Sets (or, with undefined, clears) one bridge's `memory.maxSharedMb`. The process's ceiling is the lowest
 * of the bridges' that set one: shared memory is one budget, whichever bridge a buffer travels through.
 */
export function setCeiling(owner: object, mb: number | undefined): void {
  const { ceilings } = state;
  if (mb === undefined) ceilings.delete(owner);
  else ceilings.set(owner, mb);
  const lowest = Math.min(...ceilings.values());
  ledger().limitBytes = lowest === Infinity ? 0 : lowest * MiB;
}

/** A new SharedArrayBuffer of exactly `byteLength` bytes, counted by the ledger. */
export function allocateShared(byteLength: number): SharedArrayBuffer {
  return ledger().allocate(byteLength);
}

/**
 * Shared memory for typed arrays of `byteLength` bytes in all, from offset 0: from 8 MiB up, the buffer of a
 * kernel memory that the built-in kernels read in place, longer than `byteLength` (see kernel-memory.ts).
 * Make views with an explicit length. Counted by the ledger.
 */
export function allocateForViews(byteLength: number): SharedArrayBuffer {
  return ledger().allocate(byteLength, true);
}

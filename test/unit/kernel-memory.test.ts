import { expect, test } from 'vitest';
import {
  adoptMemories,
  claimSlot,
  KERNEL_MEMORY_MIN_BYTES,
  kernelMemoryBytes,
  memoriesOf,
  memoryOf,
  releaseSlot,
  SLOT_BYTES,
  slotCount,
} from '../../src/memory/kernel-memory.js';
import { allocateForViews, allocateShared, ledger } from '../../src/memory/ledger.js';
import { encodeMessage, decodeMessage, type CodecPolicy } from '../../src/codec/message.js';
import { Kind } from '../../src/codec/envelope.js';
import { shared, toShared } from '../../src/tool/shared.js';

const BIG = KERNEL_MEMORY_MIN_BYTES;
const policy: CodecPolicy = { msgpackThreshold: Infinity, flatMsgpackThreshold: Infinity };

test('memory for large typed arrays is a kernel memory, counted as asked; small or exact memory is plain', () => {
  const before = ledger().bytesInUse;
  const big = allocateForViews(BIG + 3);
  expect(memoryOf(big)?.buffer).toBe(big);
  expect(big.byteLength).toBe(kernelMemoryBytes(BIG + 3));
  // Rounded up to pages, plus 2 pages of scratch (1/128 of the array, at least 2 pages).
  expect(big.byteLength).toBe((BIG / 65_536 + 1 + 2) * 65_536);
  expect(ledger().bytesInUse - before).toBe(BIG + 3);

  const small = allocateForViews(BIG - 1);
  expect(memoryOf(small)).toBeUndefined();
  expect(small.byteLength).toBe(BIG - 1);
  // A buffer handed out as it is (a copy of a SharedArrayBuffer) keeps its exact length.
  const exact = allocateShared(BIG + 3);
  expect(memoryOf(exact)).toBeUndefined();
  expect(exact.byteLength).toBe(BIG + 3);
  // More than 4 GiB cannot be addressed by a kernel: a plain buffer.
  expect(kernelMemoryBytes(2 ** 32)).toBeUndefined();
});

test('shared() and toShared() give views of exactly the length asked, in kernel memory when large', () => {
  const length = BIG / 4 + 5;
  const a = shared(Float32Array, length);
  expect(a.length).toBe(length);
  expect(memoryOf(a.buffer)).toBeDefined();
  const source = Float64Array.from({ length: BIG / 8 + 1 }, (_, i) => i);
  const b = toShared(source);
  expect(b.length).toBe(source.length);
  expect(b[source.length - 1]).toBe(source.length - 1);
  expect(memoryOf(b.buffer)).toBeDefined();
});

test('scratch slots: 1/128 of the array, each claimed once, -1 when all are taken, free once released', () => {
  // 2 pages of scratch below 16 MiB, 1/128 of the array above, at most 16 pages.
  expect(slotCount(allocateForViews(BIG))).toBe(7);
  expect(slotCount(allocateForViews(64 * 2 ** 20))).toBe(31);
  expect(kernelMemoryBytes(512 * 2 ** 20)).toBe(512 * 2 ** 20 + 16 * 65_536);
  const buffer = allocateForViews(BIG);
  const slots = Array.from({ length: slotCount(buffer) }, () => claimSlot(buffer));
  expect(new Set(slots).size).toBe(slots.length);
  for (const offset of slots) {
    // Past the data, inside the buffer, each with room for its 16 KiB.
    expect(offset).toBeGreaterThanOrEqual(BIG);
    expect(offset + SLOT_BYTES).toBeLessThanOrEqual(buffer.byteLength);
  }
  expect(claimSlot(buffer)).toBe(-1);
  releaseSlot(buffer, slots[3]!);
  expect(claimSlot(buffer)).toBe(slots[3]);
  for (const offset of slots) releaseSlot(buffer, offset);
});

test('a message names the kernel memory of each buffer that is one, and the receiver adopts them', () => {
  const big = shared(Float32Array, BIG / 4);
  const plain = shared(Float32Array, 16);
  const encoded = encodeMessage({ kind: Kind.Call, callId: 1, tool: 't', deadline: 0 }, { plain, big }, policy, 'args');
  const { b, w } = encoded.message;
  expect(b).toHaveLength(2);
  expect(w).toHaveLength(2);
  expect(w![b!.indexOf(plain.buffer as SharedArrayBuffer)]).toBe(0);
  expect(w![b!.indexOf(big.buffer as SharedArrayBuffer)]).toBe(memoryOf(big.buffer));
  // No kernel memory among the buffers: no list.
  const small = encodeMessage({ kind: Kind.Call, callId: 2, tool: 't', deadline: 0 }, { plain }, policy, 'args');
  expect(small.message.w).toBeUndefined();

  // A receiver's own buffer objects (as another thread sees them): adopted with their memory.
  const stranger = new SharedArrayBuffer(big.buffer.byteLength);
  adoptMemories([stranger], [memoryOf(big.buffer)!]);
  expect(memoryOf(stranger)).toBe(memoryOf(big.buffer));
  // A memory whose length does not match its buffer is not taken.
  const other = new SharedArrayBuffer(64);
  adoptMemories([other], [memoryOf(big.buffer)!]);
  expect(memoryOf(other)).toBeUndefined();
  expect(memoriesOf([other, stranger])).toEqual([0, memoryOf(big.buffer)]);

  const decoded = decodeMessage(encoded.message).value as { big: Float32Array };
  expect(decoded.big.length).toBe(big.length);
  expect(memoryOf(decoded.big.buffer)).toBe(memoryOf(big.buffer));
});

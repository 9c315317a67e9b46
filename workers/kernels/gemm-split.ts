/**
 * A product split over several workers (`matrix.multiply`'s parts) packs b once between its parts instead of
 * once in each: every part would otherwise spend the time of a full pass over b (copy, spread into panels)
 * before its first row, which is most of what keeps a split call from scaling with its parts.
 *
 * The parts share a workspace: a kernel memory (src/memory/kernel-memory.ts) that each part's kernels run
 * over, holding a header of flags, packed B, and each part's own staging, packed A and C. Packing is split
 * into groups of {@link PACK_ROWS} rows of b; a part claims groups that no part has claimed (an atomic
 * compare-and-swap on the group's flag), packs them, and marks them packed; then it waits for the groups
 * other parts are still packing, and multiplies blocks of rows it claims from a counter, until none is left.
 * A part that starts late finds b packed and fewer blocks; one on a core that the machine gives it less of
 * takes fewer blocks than the others. No part waits for a part that has not started (it packs unclaimed groups itself), and one that
 * waits past {@link PACK_WAIT_MS} for a group (its packer's worker died mid-group) packs it again itself:
 * the bytes are the same, so the two writes cannot disagree.
 *
 * The worker that plans a split keeps its last workspace for the next one, up to {@link KEEP_BYTES} like its
 * own kernel memory, counted by the ledger while it is kept: fresh memory costs a page fault per 4 KiB on
 * first touch, which on a small virtual machine costs as much as packing. The header counts the parts still
 * running; a workspace is reused only once that count is back to zero (a part that never ran, or whose
 * worker died, keeps it from reuse).
 */
import { QuotaExceededError } from '../../src/errors.js';
import { kernelMemoryBytes, memoryOf } from '../../src/memory/kernel-memory.js';
import { allocateForViews, ledger } from '../../src/memory/ledger.js';
import {
  align,
  KEEP_BYTES,
  kernelsOver,
  multiplyRows,
  PACK_ROWS,
  packRowsOfB,
  stageBytes,
  tiling,
  type FloatArray,
  type StepPlace,
  type Tiling,
} from './kernels.js';

/** Rows of one step of a part: 22 panels of 6 rows, 33 of 4; each part's scratch stays small. */
const STEP_ROWS = 132;
/** How long a part waits for a group another part is packing before packing it itself. */
const PACK_WAIT_MS = 200;
/** Index of group 0's flag (after the running parts and the next block). */
const GROUP = 2;

/** Where everything of a split product lies in its workspace, in bytes from the workspace's start. */
interface Layout {
  t: Tiling;
  groups: number;
  /**
   * Int32 flags: [0] parts still running, [1] the next block of rows to claim, [2 + g] group g of b's rows:
   * 0 free, 1 packing, 2 packed.
   */
  flagsBytes: number;
  /** Rows of a block that a part claims at a time (at most `rows`: one step). */
  block: number;
  /** One part's staging area, packed A and C. */
  partBytes: number;
  rows: number;
  stage: number;
  aBytes: number;
  bytes: number;
}

function layout(single: boolean, m: number, k: number, n: number, parts: number): Layout {
  const t = tiling(single, k, n);
  const rows = Math.min(STEP_ROWS, Math.ceil(m / t.mr) * t.mr);
  const groups = Math.ceil(k / PACK_ROWS);
  const flagsBytes = align(4 * (GROUP + groups));
  // About three blocks a part, so that a part on a busier core, or one that starts late, takes fewer.
  const block = Math.min(rows, Math.max(12, Math.ceil(m / (3 * parts) / 12) * 12));
  const stage = stageBytes(t, rows, k, n);
  const aBytes = align(rows * k * t.size);
  const partBytes = stage + aBytes + align(rows * t.np * t.nr * t.size);
  const bytes = flagsBytes + t.bBytes + parts * partBytes;
  return { t, groups, flagsBytes, block, partBytes, rows, stage, aBytes, bytes };
}

const flagsOf = (workspace: Uint8Array, groups: number) =>
  new Int32Array(workspace.buffer, workspace.byteOffset, GROUP + groups);

/** This worker's last workspace, kept for its next split product, and when a product was last planned in it. */
let spare: Uint8Array | undefined;
let spareSince = 0;
/**
 * A kept workspace still in use this long after its product was planned is given up: a new one is kept in
 * its place. Its product may have lost a part (a worker that died mid-part never counts itself out), and
 * otherwise every later product would get a fresh workspace of its own. (One given up while its parts run
 * on is counted until this worker's garbage collector takes its handle.)
 */
const STUCK_MS = 1000;

/**
 * A workspace for a product of `parts` parts, or undefined when each part should pack b itself: under 8 MiB
 * in all (b is then small, and packing it costs little), or when the shared-memory ceiling
 * (`memory.maxSharedMb`) refuses it. Called by the plan: the workspace counts `parts` parts running from
 * now, each of which must call {@link multiplyPart} once.
 *
 * The ledger counts a workspace like any shared memory. One this worker keeps for its next split stays
 * counted while it is kept, and is freed when the worker exits. A workspace is kept only if it is at most
 * {@link KEEP_BYTES} and, under a ceiling, if shared memory in use stays under half of it. A workspace that
 * is not kept is the call's, like its result.
 */
export function splitWorkspace(
  single: boolean,
  m: number,
  k: number,
  n: number,
  parts: number,
): Uint8Array | undefined {
  const { bytes, groups } = layout(single, m, k, n, parts);
  if (kernelMemoryBytes(bytes) === undefined) return undefined;
  let workspace = spare;
  if (workspace === undefined || workspace.byteLength < bytes || Atomics.load(flagsOf(workspace, 0), 0) !== 0) {
    workspace = newWorkspace(bytes);
    if (workspace === undefined) return undefined;
  }
  if (workspace === spare) spareSince = performance.now();
  // No part of an earlier product runs in it (its count is zero): the flags start over.
  const flags = flagsOf(workspace, groups);
  flags.fill(0);
  Atomics.store(flags, 0, parts);
  return workspace;
}

/** A new workspace, kept as {@link spare} when it may be; undefined when the ceiling refuses it. */
function newWorkspace(bytes: number): Uint8Array | undefined {
  let buffer: SharedArrayBuffer;
  try {
    buffer = allocateForViews(bytes);
  } catch (error) {
    if (error instanceof QuotaExceededError) return undefined;
    throw error;
  }
  // The runtime could not reserve a kernel memory, and gave a plain buffer: no use to the kernels.
  if (memoryOf(buffer) === undefined) return undefined;
  const workspace = new Uint8Array(buffer, 0, bytes);
  const book = ledger();
  // A kept workspace that parts still run in stays kept (this one is then the call's alone), unless stuck.
  const replace =
    spare === undefined || Atomics.load(flagsOf(spare, 0), 0) === 0 || performance.now() - spareSince > STUCK_MS;
  if (replace && bytes <= KEEP_BYTES && (book.limitBytes === 0 || book.bytesInUse <= book.limitBytes / 2)) {
    book.keep(buffer);
    spare = workspace;
  }
  return workspace;
}

/**
 * Part `index` of `parts`: blocks of rows of `c` = `a` times `b`, claimed one at a time until none is left
 * (a part that starts late, or runs on a busier core, does fewer), with b packed once between the parts in
 * `workspace` (from {@link splitWorkspace}, for the same shape and parts).
 */
export function multiplyPart(
  a: FloatArray,
  b: FloatArray,
  c: FloatArray,
  m: number,
  k: number,
  n: number,
  workspace: Uint8Array,
  index: number,
  parts: number,
): void {
  const place = layout(c instanceof Float32Array, m, k, n, parts);
  const { t, groups } = place;
  const flags = flagsOf(workspace, groups);
  try {
    const memory = memoryOf(workspace.buffer);
    if (memory === undefined) throw new Error('the workspace of a split product is not a kernel memory');
    const ex = kernelsOver(memory);
    const b0 = workspace.byteOffset + place.flagsBytes;
    const own = b0 + t.bBytes + index * place.partBytes;
    const at: StepPlace = {
      heap: workspace.buffer,
      rows: place.rows,
      b: b0,
      stage: own,
      a: own + place.stage,
      c: own + place.stage + place.aBytes,
    };
    const pack = (g: number) => {
      packRowsOfB(ex, t, at, b, k, n, g * PACK_ROWS);
      Atomics.store(flags, GROUP + g, 2);
      Atomics.notify(flags, GROUP + g);
    };
    // Groups no part has claimed, from this part's share on (so parts that start together rarely meet).
    const first = Math.floor((index * groups) / parts);
    for (let i = 0; i < groups; i++) {
      const g = (first + i) % groups;
      if (Atomics.compareExchange(flags, GROUP + g, 0, 1) === 0) pack(g);
    }
    // Groups other parts are packing: wait for them; one that stays unpacked, pack here.
    for (let g = 0; g < groups; g++) {
      if (Atomics.wait(flags, GROUP + g, 1, PACK_WAIT_MS) === 'timed-out') pack(g);
    }
    const { block } = place;
    for (let i = Atomics.add(flags, 1, 1); i * block < m; i = Atomics.add(flags, 1, 1)) {
      multiplyRows(ex, t, at, a, c, k, n, i * block, Math.min(m, (i + 1) * block));
    }
  } finally {
    Atomics.sub(flags, 0, 1);
  }
}

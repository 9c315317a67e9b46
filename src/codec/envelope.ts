import * as flatbuffers from 'flatbuffers';
import { DataNode } from '../../schemas/generated/toolbridge/wire/data-node.js';
import { Envelope } from '../../schemas/generated/toolbridge/wire/envelope.js';
import { ErrorInfo } from '../../schemas/generated/toolbridge/wire/error-info.js';
import { Frame } from '../../schemas/generated/toolbridge/wire/frame.js';
import { Kind } from '../../schemas/generated/toolbridge/wire/kind.js';
import { Payload } from '../../schemas/generated/toolbridge/wire/payload.js';
import { View } from '../../schemas/generated/toolbridge/wire/view.js';
import type { DataNodeRef, FrameRef } from './arrow-frame.js';
import type { ViewRef } from './views.js';

export { Kind, Payload };

/** An error as it crosses threads. */
export interface ErrorRecord {
  name: string;
  message: string;
  stack: string;
  /** A toolbridge error code, when the error is one of ours. */
  code: string;
  /** For `INVALID_ARGS`: where in the arguments; else ''. */
  path: string;
  /**
   * The error's own enumerable properties (`status`, `details`, ...) that structured clone can carry. Not
   * in the envelope: they travel as the message's structured-clone payload.
   */
  props?: Record<string, unknown>;
}

/** Everything an envelope says, in plain objects. */
export interface EnvelopeFields {
  kind: Kind;
  callId: number;
  tool: string;
  /** Epoch milliseconds; 0 for none. */
  deadline: number;
  payload: Payload;
  views: readonly ViewRef[];
  frames: readonly FrameRef[];
  error: ErrorRecord | undefined;
  sharedBytes: number;
  copiedBytes: number;
  /** Calls in a batch chunk; 0 for a single call. */
  count?: number;
  /** Each call's deadline, for a chunk. */
  deadlines?: ArrayLike<number>;
  /** In a result: time spent running the tool, in ms. */
  runMs?: number;
  /** In a result: ms the worker spent decoding the call and encoding the result. */
  codecMs?: number;
}

const builder = new flatbuffers.Builder(512);

function writeViewVector(b: flatbuffers.Builder, views: readonly ViewRef[]): number {
  b.startVector(View.sizeOf(), views.length, 8);
  for (let i = views.length - 1; i >= 0; i--) writeView(b, views[i]!);
  return b.endVector();
}

function writeView(b: flatbuffers.Builder, v: ViewRef): number {
  return View.createView(b, v.buffer, BigInt(v.byteOffset), BigInt(v.length), v.dtype);
}

function writeDataNode(b: flatbuffers.Builder, node: DataNodeRef): number {
  const variadic = node.variadic.length > 0 ? writeViewVector(b, node.variadic) : 0;
  const children =
    node.children.length > 0
      ? DataNode.createChildrenVector(
          b,
          node.children.map((c) => writeDataNode(b, c)),
        )
      : 0;
  const dictionary =
    node.dictionary.length > 0
      ? DataNode.createDictionaryVector(
          b,
          node.dictionary.map((c) => writeDataNode(b, c)),
        )
      : 0;
  DataNode.startDataNode(b);
  DataNode.addOffset(b, BigInt(node.offset));
  DataNode.addLength(b, BigInt(node.length));
  DataNode.addNullCount(b, BigInt(node.nullCount));
  if (node.values) DataNode.addValues(b, writeView(b, node.values));
  if (node.valueOffsets) DataNode.addValueOffsets(b, writeView(b, node.valueOffsets));
  if (node.nullBitmap) DataNode.addNullBitmap(b, writeView(b, node.nullBitmap));
  if (node.typeIds) DataNode.addTypeIds(b, writeView(b, node.typeIds));
  if (variadic) DataNode.addVariadic(b, variadic);
  if (children) DataNode.addChildren(b, children);
  if (dictionary) DataNode.addDictionary(b, dictionary);
  return DataNode.endDataNode(b);
}

function writeFrame(b: flatbuffers.Builder, frame: FrameRef): number {
  const schema = Frame.createSchemaVector(b, frame.schema);
  const batches = Frame.createBatchesVector(
    b,
    frame.batches.map((node) => writeDataNode(b, node)),
  );
  return Frame.createFrame(b, schema, batches);
}

/** Serializes an envelope to FlatBuffers bytes, as a wire string (see {@link toWire}). */
export function writeEnvelope(f: EnvelopeFields): string {
  const b = builder;
  b.clear();
  const tool = b.createString(f.tool);
  const views = f.views.length > 0 ? writeViewVector(b, f.views) : 0;
  const deadlines =
    f.deadlines && f.deadlines.length > 0 ? Envelope.createDeadlinesVector(b, Array.from(f.deadlines)) : 0;
  const frames =
    f.frames.length > 0
      ? Envelope.createFramesVector(
          b,
          f.frames.map((frame) => writeFrame(b, frame)),
        )
      : 0;
  let error = 0;
  if (f.error) {
    const e = f.error;
    const [name, message, stack, code, path] = [e.name, e.message, e.stack, e.code, e.path].map((s) =>
      b.createString(s),
    );
    error = ErrorInfo.createErrorInfo(b, name!, message!, stack!, code!, path!);
  }
  Envelope.startEnvelope(b);
  Envelope.addKind(b, f.kind);
  Envelope.addCallId(b, BigInt(f.callId));
  Envelope.addTool(b, tool);
  if (f.deadline) Envelope.addDeadline(b, f.deadline);
  Envelope.addPayload(b, f.payload);
  if (views) Envelope.addArrays(b, views);
  if (frames) Envelope.addFrames(b, frames);
  if (error) Envelope.addError(b, error);
  if (f.sharedBytes) Envelope.addBytesShared(b, BigInt(f.sharedBytes));
  if (f.copiedBytes) Envelope.addBytesCopied(b, BigInt(f.copiedBytes));
  if (f.count) Envelope.addCount(b, f.count);
  if (deadlines) Envelope.addDeadlines(b, deadlines);
  if (f.runMs) Envelope.addRunMs(b, f.runMs);
  if (f.codecMs) Envelope.addCodecMs(b, f.codecMs);
  b.finish(Envelope.endEnvelope(b));
  return toWire(b.asUint8Array());
}

/** Where the per-call fields sit in a template envelope. */
interface Template {
  bytes: Uint8Array;
  callId: number;
  deadline: number;
  shared: number;
  copied: number;
  runMs: number;
  codecMs: number;
}

/** Templates by tool, then by `kind * 4 + payload` (no key string built per call). */
const templates = new Map<string, Array<Template | undefined>>();
const MAX_TEMPLATE_TOOLS = 4096;

function fieldPosition(e: Envelope, vtableOffset: number): number {
  return e.bb_pos + e.bb!.__offset(e.bb_pos, vtableOffset);
}

function writeUint64(view: DataView, at: number, value: number): void {
  view.setUint32(at, value >>> 0, true);
  view.setUint32(at + 4, Math.floor(value / 2 ** 32), true);
}

/**
 * Writes an envelope with no views, frames, error or chunk (a small call or result, the common
 * case) by stamping a per-tool template: the same bytes {@link writeEnvelope} would write, with only the
 * call id, the deadline and the byte counts patched in.
 */
export function writeSimpleEnvelope(
  f: Pick<
    EnvelopeFields,
    'kind' | 'callId' | 'tool' | 'deadline' | 'payload' | 'sharedBytes' | 'copiedBytes' | 'runMs' | 'codecMs'
  >,
): string {
  let byShape = templates.get(f.tool);
  if (byShape === undefined) {
    if (templates.size >= MAX_TEMPLATE_TOOLS) templates.clear();
    templates.set(f.tool, (byShape = []));
  }
  const shape = f.kind * 4 + f.payload;
  let t = byShape[shape];
  if (t === undefined) {
    const b = new flatbuffers.Builder(128);
    b.forceDefaults(true);
    const tool = b.createString(f.tool);
    Envelope.startEnvelope(b);
    Envelope.addKind(b, f.kind);
    Envelope.addCallId(b, 0n);
    Envelope.addTool(b, tool);
    Envelope.addDeadline(b, 0);
    Envelope.addPayload(b, f.payload);
    Envelope.addBytesShared(b, 0n);
    Envelope.addBytesCopied(b, 0n);
    Envelope.addRunMs(b, 0);
    Envelope.addCodecMs(b, 0);
    b.finish(Envelope.endEnvelope(b));
    const bytes = b.asUint8Array().slice();
    const e = Envelope.getRootAsEnvelope(new flatbuffers.ByteBuffer(bytes));
    // Vtable offsets of the fields, in schema order: 4 + 2 * field index.
    t = {
      bytes,
      callId: fieldPosition(e, 6),
      deadline: fieldPosition(e, 10),
      shared: fieldPosition(e, 22),
      copied: fieldPosition(e, 24),
      runMs: fieldPosition(e, 30),
      codecMs: fieldPosition(e, 32),
    };
    byShape[shape] = t;
  }
  const out = t.bytes.length <= scratch.length ? scratch : new Uint8Array(t.bytes.length);
  out.set(t.bytes);
  const view = out === scratch ? scratchView : new DataView(out.buffer);
  writeUint64(view, t.callId, f.callId);
  view.setFloat64(t.deadline, f.deadline, true);
  writeUint64(view, t.shared, f.sharedBytes);
  writeUint64(view, t.copied, f.copiedBytes);
  view.setFloat64(t.runMs, f.runMs ?? 0, true);
  view.setFloat64(t.codecMs, f.codecMs ?? 0, true);
  return toWire(out, t.bytes.length);
}

/** Stamping space for {@link writeSimpleEnvelope}: no allocation per envelope but the string itself. */
const scratch = Buffer.allocUnsafeSlow(256);
const scratchView = new DataView(scratch.buffer, scratch.byteOffset, scratch.byteLength);

/**
 * Envelope bytes travel between threads as a one-byte string: V8 passes a short string between threads
 * more cheaply than a fresh ArrayBuffer, which must be allocated on both sides of every message.
 */
export function toWire(bytes: Uint8Array, length = bytes.length): string {
  if (bytes === scratch) return scratch.toString('latin1', 0, length);
  return Buffer.from(bytes.buffer, bytes.byteOffset, length).toString('latin1');
}

/** The envelope bytes of a wire string, in a buffer of their own. */
export function fromWire(wire: string): Uint8Array {
  return Buffer.from(wire, 'latin1');
}

/**
 * Where envelopes are read: one buffer per thread, reused, with its flatbuffers reader and root object made
 * once (a fresh `ByteBuffer` makes a `TextDecoder` each time). Nothing read from it outlives the read:
 * byte vectors are copied out. Envelopes too long for it get a buffer of their own.
 */
const READ_SCRATCH_BYTES = 4096;
const readScratch = Buffer.allocUnsafeSlow(READ_SCRATCH_BYTES);
const readBuffer = new flatbuffers.ByteBuffer(readScratch);
const readRoot = new Envelope();

function openEnvelope(wire: string): Envelope {
  if (wire.length > READ_SCRATCH_BYTES) return Envelope.getRootAsEnvelope(new flatbuffers.ByteBuffer(fromWire(wire)));
  readScratch.write(wire, 0, 'latin1');
  return Envelope.getRootAsEnvelope(readBuffer, readRoot);
}

const NOT_ASCII = /[\u0080-\uffff]/;

/**
 * The tool name, cut from the wire string itself (one character a byte): nothing to decode when the name is
 * ASCII, as `defineTool` requires. The format allows any UTF-8 name, which is decoded.
 */
function readTool(e: Envelope, wire: string): string {
  const bb = e.bb!;
  const offset = bb.__offset(e.bb_pos, 8);
  if (offset === 0) return '';
  let at = e.bb_pos + offset;
  at += bb.readInt32(at);
  const raw = wire.substring(at + 4, at + 4 + bb.readInt32(at));
  return NOT_ASCII.test(raw) ? (e.tool() ?? '') : raw;
}

function readView(v: View): ViewRef {
  return { buffer: v.buffer(), byteOffset: Number(v.byteOffset()), length: Number(v.length()), dtype: v.dtype() };
}

function readViews(count: number, at: (i: number) => View | null): ViewRef[] {
  const out: ViewRef[] = [];
  for (let i = 0; i < count; i++) out.push(readView(at(i)!));
  return out;
}

function readDataNode(n: DataNode): DataNodeRef {
  const optional = (v: View | null) => (v ? readView(v) : undefined);
  const children: DataNodeRef[] = [];
  for (let i = 0; i < n.childrenLength(); i++) children.push(readDataNode(n.children(i)!));
  const dictionary: DataNodeRef[] = [];
  for (let i = 0; i < n.dictionaryLength(); i++) dictionary.push(readDataNode(n.dictionary(i)!));
  return {
    offset: Number(n.offset()),
    length: Number(n.length()),
    nullCount: Number(n.nullCount()),
    values: optional(n.values()),
    valueOffsets: optional(n.valueOffsets()),
    nullBitmap: optional(n.nullBitmap()),
    typeIds: optional(n.typeIds()),
    variadic: readViews(n.variadicLength(), (i) => n.variadic(i)),
    children,
    dictionary,
  };
}

function readFrame(f: Frame): FrameRef {
  const batches: DataNodeRef[] = [];
  for (let i = 0; i < f.batchesLength(); i++) batches.push(readDataNode(f.batches(i)!));
  return { schema: f.schemaArray()?.slice() ?? new Uint8Array(0), batches };
}

const NONE: readonly never[] = Object.freeze([]);

/** A uint64 field as a number (exact below 2^53), without making a BigInt. 0 when absent. */
function readUint64(e: Envelope, vtableOffset: number): number {
  const bb = e.bb!;
  const offset = bb.__offset(e.bb_pos, vtableOffset);
  if (offset === 0) return 0;
  const at = e.bb_pos + offset;
  return bb.readUint32(at) + bb.readUint32(at + 4) * 2 ** 32;
}

/** Parses an envelope from its wire string. Parts that are absent cost nothing. */
export function readEnvelope(wire: string): EnvelopeFields {
  const e = openEnvelope(wire);
  const frameCount = e.framesLength();
  let frames: readonly FrameRef[] = NONE;
  if (frameCount > 0) {
    const list: FrameRef[] = [];
    for (let i = 0; i < frameCount; i++) list.push(readFrame(e.frames(i)!));
    frames = list;
  }
  const viewCount = e.arraysLength();
  const kind = e.kind();
  const info = kind === Kind.Error ? e.error() : null;
  return {
    kind,
    // Vtable offsets of the fields, in schema order: 4 + 2 * field index.
    callId: readUint64(e, 6),
    tool: readTool(e, wire),
    deadline: e.deadline(),
    payload: e.payload(),
    views: viewCount > 0 ? readViews(viewCount, (i) => e.arrays(i)) : NONE,
    frames,
    error: info
      ? {
          name: info.name() ?? 'Error',
          message: info.message() ?? '',
          stack: info.stack() ?? '',
          code: info.code() ?? '',
          path: info.path() ?? '',
        }
      : undefined,
    sharedBytes: readUint64(e, 22),
    copiedBytes: readUint64(e, 24),
    count: e.count(),
    deadlines: e.deadlinesArray()?.slice() ?? NONE,
    runMs: e.runMs(),
    codecMs: e.codecMs(),
  };
}

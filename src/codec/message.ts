import { decodeFrame } from './arrow-frame.js';
import { BufferTable } from './buffers.js';
import {
  Kind,
  Payload,
  readEnvelope,
  writeEnvelope,
  writeSimpleEnvelope,
  type EnvelopeFields,
  type ErrorRecord,
} from './envelope.js';
import type { CodecCounts } from '../telemetry/events.js';
import { packr } from './lazy-modules.js';
import { adoptMemories, memoriesOf, type SharedMemory } from '../memory/kernel-memory.js';
import { openView } from './views.js';
import { putTogether } from './put-together.js';
import { takeApart } from './walk.js';

/**
 * What is posted between threads for one call or one result: the FlatBuffers envelope, the shared buffers
 * it points into, and (for the structured-clone payload) the plain part of the value. Never live objects.
 */
export interface WireMessage {
  /** FlatBuffers `Envelope` bytes, as a one-byte string (one character a byte). */
  e: string;
  /** Shared buffers the envelope's views point into. */
  b?: SharedArrayBuffer[];
  /** By position in `b`: the kernel memory a buffer is (0 for a plain one), when any is one. */
  w?: Array<SharedMemory | 0>;
  /** The plain part of the value, when it travels by structured clone. */
  v?: unknown;
  /**
   * The plain part of the value as MessagePack bytes, when it travels so: a copy of its own, cloned with the
   * message (a new SharedArrayBuffer for it would cost more than the copy).
   */
  m?: Uint8Array;
  /** For a result: shared-memory ledger ids of the buffers the worker handed over, by position in `b`. */
  r?: number[];
  /**
   * A split call (`ToolSpec.split`). On a result: {@link SPLIT_PLAN}, the value is the plan `{ n, s }`. On a
   * call: the part to run, or {@link SPLIT_MERGE}; `y` then holds `{ s, n }` for a part, `{ s, p }` (the
   * parts' results) for the merge.
   */
  x?: number;
  y?: WireMessage;
  /** A call to send through a remote backend's durable queue (`call(..., { durable: true })`). */
  d?: true;
  /** The call's affinity key (`call(..., { affinity })`): the local pool runs calls of one key on one worker. */
  k?: string;
  /** The local pool's number for the task (rising), which the worker records as it begins it. */
  q?: number;
}

/** `WireMessage.x` of a reply that is a split call's plan. */
export const SPLIT_PLAN = 1;
/** `WireMessage.x` of a call that merges a split call's parts. */
export const SPLIT_MERGE = -1;
/** A split call's plan, as the worker replies it: how many parts, and the value they share. */
export interface SplitPlan {
  n: number;
  s: unknown;
  /** Set when the tool has no merge: `v` (`s` if absent), once every part is in, is the call's result. */
  o?: true;
  v?: unknown;
}

/** How values are encoded. */
export interface CodecPolicy {
  /** Plain parts estimated above this many bytes are sent as MessagePack (structured-clone mode). */
  msgpackThreshold: number;
  /**
   * Plain parts that hold no object twice (see `Parts.mayShare`) estimated above this many bytes are sent as
   * MessagePack without identity tracking, several times faster than structured clone.
   */
  flatMsgpackThreshold: number;
}

export interface Encoded {
  message: WireMessage;
  /** The shared buffer the codec allocated for copies (typed arrays not shared, MessagePack bytes), if any. */
  copy: SharedArrayBuffer | undefined;
  sharedBytes: number;
  copiedBytes: number;
  counts: CodecCounts;
  /** Milliseconds the encoding took, when the caller measures it. */
  encodeMs?: number;
}

export interface Decoded {
  fields: EnvelopeFields;
  value: unknown;
  /** Set when the reply is a split call's plan ({@link SplitPlan}), not its result. */
  plan?: true;
}

export interface Head {
  kind: Kind;
  callId: number;
  tool: string;
  deadline: number;
  error?: ErrorRecord;
  /** For a batch chunk: how many calls, and each one's deadline. */
  count?: number;
  /** For a chunk's args or result: the depth of its list of calls' values (see `takeApart`). */
  independentDepth?: number;
  deadlines?: ArrayLike<number>;
  /** For a result: time spent in the tool. */
  runMs?: number;
  /**
   * For a result: ms spent decoding the call. When set, the envelope's `codec_ms` is that plus the time
   * this encoding takes up to writing the envelope.
   */
  codecMs?: number;
}

const NO_COUNTS: CodecCounts = Object.freeze({ shared: 0, arrow: 0, clone: 0, msgpack: 0, copied: 0 });

/**
 * Encodes a value for the other side. `root` names the value in error paths (`args`, `result`). Throws
 * `ModuleNeeded` when the value needs apache-arrow or msgpackr and this thread has not loaded it: call it
 * through `withModules`.
 */
export function encodeMessage(head: Head, value: unknown, policy: CodecPolicy, root: string): Encoded {
  if (value === undefined && !head.error && !head.count) {
    // No value (a call without args, a tool that returns nothing): the envelope alone.
    const e = writeSimpleEnvelope({
      kind: head.kind,
      callId: head.callId,
      tool: head.tool,
      deadline: head.deadline,
      payload: Payload.None,
      sharedBytes: 0,
      copiedBytes: 0,
      runMs: head.runMs,
      codecMs: head.codecMs,
    });
    return { message: { e }, copy: undefined, sharedBytes: 0, copiedBytes: 0, counts: NO_COUNTS };
  }
  const start = head.codecMs === undefined ? 0 : performance.now();
  const buffers = new BufferTable();
  const parts = value === undefined ? undefined : takeApart(value, buffers, root, head.independentDepth);
  let payload = Payload.None;
  let m: Uint8Array | undefined;
  let v: unknown;
  if (head.error?.props !== undefined) {
    // An error's properties, already checked to survive structured clone: they go as they are.
    v = head.error.props;
    payload = Payload.Clone;
  } else if (parts !== undefined) {
    const threshold = parts.mayShare ? policy.msgpackThreshold : policy.flatMsgpackThreshold;
    if (parts.plainBytes > threshold && !parts.cloneOnly) {
      // msgpackr packs into a buffer it reuses: the message takes a copy of just these bytes.
      m = new Uint8Array(packr(parts.mayShare).pack(parts.plain));
      buffers.flush();
      buffers.copiedBytes += m.byteLength;
      payload = Payload.MsgPack;
    } else {
      buffers.flush();
      v = parts.plain;
      payload = Payload.Clone;
    }
  }
  const fields = {
    kind: head.kind,
    callId: head.callId,
    tool: head.tool,
    deadline: head.deadline,
    payload,
    views: parts?.views ?? [],
    frames: parts?.frames ?? [],
    error: head.error,
    sharedBytes: buffers.sharedBytes,
    copiedBytes: buffers.copiedBytes,
    count: head.count,
    deadlines: head.deadlines,
    runMs: head.runMs,
    codecMs: head.codecMs === undefined ? undefined : head.codecMs + (performance.now() - start),
  };
  const simple = !head.error && !head.count && fields.views.length === 0 && fields.frames.length === 0;
  const e = simple ? writeSimpleEnvelope(fields) : writeEnvelope(fields);
  const message: WireMessage = { e };
  if (buffers.buffers.length > 0) {
    message.b = buffers.buffers;
    const memories = memoriesOf(buffers.buffers);
    if (memories !== undefined) message.w = memories;
  }
  if (payload === Payload.Clone) message.v = v;
  else if (m !== undefined) message.m = m;
  const counts: CodecCounts = {
    shared: parts?.sharedViews ?? 0,
    arrow: parts?.frames.length ?? 0,
    clone: payload === Payload.Clone ? 1 : 0,
    msgpack: payload === Payload.MsgPack ? 1 : 0,
    copied: parts?.copiedViews ?? 0,
  };
  return {
    message,
    copy: buffers.copyTarget,
    sharedBytes: buffers.sharedBytes,
    copiedBytes: buffers.copiedBytes,
    counts,
  };
}

/**
 * Decodes a message from the other side. Views and tables are rebuilt over the same memory. Like
 * {@link encodeMessage}, call it through `withModules`.
 */
export function decodeMessage(message: WireMessage): Decoded {
  const decoded = decodeValue(message);
  if (message.x === SPLIT_PLAN) decoded.plan = true;
  return decoded;
}

function decodeValue(message: WireMessage): Decoded {
  const fields = readEnvelope(message.e);
  const buffers = message.b ?? [];
  if (message.w !== undefined) adoptMemories(buffers, message.w);
  let plain: unknown;
  if (fields.payload === Payload.Clone) plain = message.v;
  else if (fields.payload === Payload.MsgPack && message.m !== undefined) plain = packr().unpack(message.m);
  if (fields.error !== undefined) {
    if (plain !== undefined) fields.error.props = plain as Record<string, unknown>;
    return { fields, value: undefined };
  }
  if (fields.views.length === 0 && fields.frames.length === 0) return { fields, value: plain };
  const cache = new Map<number, unknown>();
  const value = putTogether(plain, (ref) => {
    let out = cache.get(ref);
    if (out === undefined) {
      if (ref >= 0) out = openView(buffers, fields.views[ref]!);
      else out = decodeFrame(fields.frames[~ref]!, buffers);
      cache.set(ref, out);
    }
    return out;
  });
  return { fields, value };
}

/**
 * Encodes and decodes a small call and its result once, as a bridge's first call would: run on the main
 * thread while its workers start, when it would otherwise wait, it spares that call the first run of this
 * code (~1-2 ms here). Its array is in shared memory of its own, not the
 * ledger's: nothing is counted.
 */
export function warmCodec(policy: CodecPolicy): void {
  const args = { a: new Float64Array(new SharedArrayBuffer(128)), b: [1, 'two', { three: 3 }] };
  try {
    for (const [kind, value] of [
      [Kind.Call, args],
      [Kind.Result, 1.5],
    ] as const) {
      decodeMessage(encodeMessage({ kind, callId: 0, tool: 'warm', deadline: 0 }, value, policy, 'args').message);
    }
  } catch {
    // A policy that needs msgpackr, not yet loaded: the first call loads it, and this was only a warm-up.
  }
}

export { Kind, Payload };
export type { CodecCounts, ErrorRecord, EnvelopeFields };

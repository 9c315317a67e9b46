/**
 * A `WireMessage` as one message body between machines: the FlatBuffers envelope, the buffers its views
 * point into, and the plain part of the value, as raw bytes (never JSON or base64).
 *
 *   "TBW1"  u32 envelope bytes  envelope
 *   u32 buffers, then per buffer: u32 byte length; the bytes, from an 8-byte boundary of the body
 *   u8 plain part (0 none, 1 MessagePack, 2 V8 structured-clone serialization), u32 bytes, the bytes
 *
 * On arrival each buffer is copied once into a `SharedArrayBuffer` of its own, so the envelope's views
 * (Float64Array, Arrow buffers) open aligned and the local worker hop that follows copies nothing.
 */
import { deserialize, serialize } from 'node:v8';
import type { WireMessage } from '../codec/message.js';

const MAGIC = 0x31575442; // "TBW1", little-endian
const PLAIN_NONE = 0;
const PLAIN_MSGPACK = 1;
const PLAIN_V8 = 2;

const pad8 = (n: number) => (n + 7) & ~7;

/** The body for `message` (its buffers copied into it once). */
export function writeWire(message: WireMessage): Uint8Array {
  const envelope = Buffer.from(message.e, 'latin1');
  const buffers = message.b ?? [];
  const plain =
    message.m !== undefined
      ? { kind: PLAIN_MSGPACK, bytes: message.m }
      : message.v !== undefined
        ? { kind: PLAIN_V8, bytes: serialize(message.v) }
        : { kind: PLAIN_NONE, bytes: new Uint8Array(0) };
  let size = pad8(8 + envelope.length) + 4;
  for (const buffer of buffers) size = pad8(size + 4) + buffer.byteLength;
  size += 5 + plain.bytes.byteLength;
  const body = new Uint8Array(size);
  const view = new DataView(body.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, envelope.length, true);
  body.set(envelope, 8);
  let at = pad8(8 + envelope.length);
  view.setUint32(at, buffers.length, true);
  at += 4;
  for (const buffer of buffers) {
    view.setUint32(at, buffer.byteLength, true);
    at = pad8(at + 4);
    body.set(new Uint8Array(buffer), at);
    at += buffer.byteLength;
  }
  view.setUint8(at, plain.kind);
  view.setUint32(at + 1, plain.bytes.byteLength, true);
  body.set(plain.bytes, at + 5);
  return body;
}

/** The message in `body`: each buffer copied into a new `SharedArrayBuffer`. Throws on a malformed body. */
export function readWire(body: Uint8Array): WireMessage {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const need = (at: number, bytes: number) => {
    if (at + bytes > body.byteLength) throw new RangeError('toolbridge: a truncated message body');
  };
  need(0, 8);
  if (view.getUint32(0, true) !== MAGIC) throw new RangeError('toolbridge: not a toolbridge message body');
  const envelopeLength = view.getUint32(4, true);
  need(8, envelopeLength);
  const message: WireMessage = { e: Buffer.from(body.buffer, body.byteOffset + 8, envelopeLength).toString('latin1') };
  let at = pad8(8 + envelopeLength);
  need(at, 4);
  const count = view.getUint32(at, true);
  at += 4;
  if (count > 0) {
    const buffers: SharedArrayBuffer[] = [];
    for (let i = 0; i < count; i++) {
      need(at, 4);
      const length = view.getUint32(at, true);
      at = pad8(at + 4);
      need(at, length);
      const buffer = new SharedArrayBuffer(length);
      new Uint8Array(buffer).set(body.subarray(at, at + length));
      buffers.push(buffer);
      at += length;
    }
    message.b = buffers;
  }
  need(at, 5);
  const kind = view.getUint8(at);
  const length = view.getUint32(at + 1, true);
  need(at + 5, length);
  const bytes = body.subarray(at + 5, at + 5 + length);
  if (kind === PLAIN_MSGPACK) message.m = bytes.slice();
  else if (kind === PLAIN_V8) message.v = deserialize(bytes);
  return message;
}

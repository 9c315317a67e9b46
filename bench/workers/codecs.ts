/**
 * Raw Piscina worker of the sweep scenario: a Float64Array in (read one element) or out (made here), by
 * each codec a user might pick instead of toolbridge: JSON, @msgpack/msgpack, msgpackr, structured clone,
 * or transfer. No toolbridge in between.
 */
import { decode, encode } from '@msgpack/msgpack';
import { Packr } from 'msgpackr';
import { Piscina } from 'piscina';

export type Codec = 'json' | 'msgpack' | 'msgpackr' | 'clone' | 'transfer';

export type SweepTask =
  | { dir: 'in'; codec: 'json'; payload: string }
  | { dir: 'in'; codec: 'msgpack' | 'msgpackr'; payload: Uint8Array }
  | { dir: 'in'; codec: 'clone' | 'transfer'; payload: Float64Array }
  | { dir: 'out'; codec: Codec; length: number };

const packr = new Packr({ moreTypes: true });

/** Float64 values of @msgpack/msgpack's `bin` bytes (copied when they are not 8-byte aligned). */
export function float64Of(bytes: Uint8Array): Float64Array {
  const aligned = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  return new Float64Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 8);
}

/** A result: `length` doubles made here, then sent back by the codec. */
function produce(codec: Codec, length: number): unknown {
  const x = new Float64Array(length).fill(1.5);
  switch (codec) {
    case 'json':
      return JSON.stringify(Array.from(x));
    case 'msgpack': {
      const bytes = encode(x);
      return Piscina.move(bytes.buffer.byteLength === bytes.byteLength ? bytes : bytes.slice());
    }
    case 'msgpackr':
      // pack() writes into a reused buffer: the result is copied out to be moved.
      return Piscina.move(new Uint8Array(packr.pack(x)));
    case 'clone':
      return x;
    case 'transfer':
      return Piscina.move(x);
  }
}

export default function run(task: SweepTask): unknown {
  if (task.dir === 'out') return produce(task.codec, task.length);
  switch (task.codec) {
    case 'json':
      return (JSON.parse(task.payload) as number[])[0];
    case 'msgpack':
      return float64Of(decode(task.payload) as Uint8Array)[0];
    case 'msgpackr':
      return (packr.unpack(task.payload) as Float64Array)[0];
    case 'clone':
      return task.payload[0];
    case 'transfer':
      // Read, and hand the buffer back so the caller can send it again.
      return Piscina.move(task.payload);
  }
}

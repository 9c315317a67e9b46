import type { Data, Table } from 'apache-arrow';
import { kindOf, unreachable, ValueKind } from '../codec/value-kind.js';
import xxhash, { type XXHashAPI } from 'xxhash-wasm';

let api: XXHashAPI | undefined;

/** Loads the hash (a WebAssembly module) once; call before {@link hashArgs}. */
export async function loadHasher(): Promise<void> {
  api ??= await xxhash();
}

const enum Tag {
  Undefined = 1,
  Null,
  False,
  True,
  Number,
  BigInt,
  String,
  Array,
  Object,
  Map,
  Set,
  Date,
  RegExp,
  View,
  Table,
  Buffer,
  Ref,
  Error,
  /** What cannot cross (a Proxy, a Promise, ...): the call fails before it runs, whatever its key. */
  Uncloneable,
}

const textEncoder = new TextEncoder();

/**
 * A 64-bit xxHash of a value's content: typed arrays and Arrow tables by their bytes (not their identity),
 * plain objects by their keys in sorted order, so `{ a, b }` and `{ b, a }` hash alike. Small items are
 * gathered in a buffer and hashed in one go; large byte ranges are handed to the hash directly.
 */
class ContentHasher {
  readonly #state;
  /** Bytes of typed arrays, buffers and table columns still allowed before the hash gives up. */
  #budget: number;
  readonly #scratch = new Uint8Array(4096);
  readonly #view = new DataView(this.#scratch.buffer);
  #used = 0;
  #seen = new Map<object, number>();

  constructor(hash: XXHashAPI, maxBytes: number) {
    this.#state = hash.create64(0n);
    this.#budget = maxBytes;
  }

  #room(bytes: number): void {
    if (this.#used + bytes > this.#scratch.length) this.#flush();
  }

  #flush(): void {
    if (this.#used > 0) this.#state.update(this.#scratch.subarray(0, this.#used));
    this.#used = 0;
  }

  #tag(tag: Tag): void {
    this.#room(1);
    this.#scratch[this.#used++] = tag;
  }

  #u32(value: number): void {
    this.#room(4);
    this.#view.setUint32(this.#used, value >>> 0, true);
    this.#used += 4;
  }

  #f64(value: number): void {
    this.#room(8);
    this.#view.setFloat64(this.#used, value, true);
    this.#used += 8;
  }

  #string(value: string): void {
    this.#u32(value.length);
    if (value.length * 3 <= this.#scratch.length) {
      this.#room(value.length * 3);
      this.#used += textEncoder.encodeInto(value, this.#scratch.subarray(this.#used)).written;
    } else {
      this.#flush();
      this.#state.update(value);
    }
  }

  #bytes(bytes: Uint8Array): void {
    this.#budget -= bytes.byteLength;
    if (this.#budget < 0) throw TOO_LARGE;
    this.#u32(bytes.byteLength);
    if (bytes.byteLength <= 256) {
      this.#room(bytes.byteLength);
      this.#scratch.set(bytes, this.#used);
      this.#used += bytes.byteLength;
    } else {
      this.#flush();
      this.#state.update(bytes);
    }
  }

  #viewBytes(view: ArrayBufferView): void {
    this.#string(view.constructor.name);
    this.#bytes(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  }

  #data(data: Data): void {
    this.#u32(data.length);
    this.#u32(data.offset);
    for (const buffer of [data.valueOffsets, data.values, data.nullBitmap, data.typeIds] as Array<
      ArrayBufferView | undefined
    >) {
      if (buffer) this.#viewBytes(buffer);
      else this.#tag(Tag.Undefined);
    }
    for (const child of data.children ?? []) this.#data(child as Data);
    for (const chunk of data.dictionary?.data ?? []) this.#data(chunk);
  }

  add(value: unknown): void {
    switch (typeof value) {
      case 'undefined':
        return this.#tag(Tag.Undefined);
      case 'boolean':
        return this.#tag(value ? Tag.True : Tag.False);
      case 'number':
        this.#tag(Tag.Number);
        return this.#f64(value);
      case 'bigint':
        this.#tag(Tag.BigInt);
        return this.#string(value.toString(16));
      case 'string':
        this.#tag(Tag.String);
        return this.#string(value);
      case 'object':
        if (value === null) return this.#tag(Tag.Null);
        return this.#object(value);
      default:
        // Functions and symbols never reach a worker: the call fails with INVALID_ARGS before it runs.
        this.#tag(Tag.Undefined);
    }
  }

  #object(value: object): void {
    const seen = this.#seen.get(value);
    if (seen !== undefined) {
      this.#tag(Tag.Ref);
      return this.#u32(seen);
    }
    this.#seen.set(value, this.#seen.size);
    const kind = kindOf(value, false);
    switch (kind) {
      case ValueKind.View:
        this.#tag(Tag.View);
        return this.#viewBytes(value as ArrayBufferView);
      case ValueKind.Table:
      case ValueKind.ForeignTable: {
        const table = value as Table;
        // Give up before hashing any column when the whole table is over the budget.
        let bytes = 0;
        for (const batch of table.batches) bytes += Number((batch.data as { byteLength?: number }).byteLength ?? 0);
        if (bytes > this.#budget) throw TOO_LARGE;
        this.#tag(Tag.Table);
        this.#string(table.schema.fields.map((f) => `${f.name}:${String(f.type)}:${f.nullable}`).join('|'));
        this.#u32(table.batches.length);
        for (const batch of table.batches) this.#data(batch.data);
        return;
      }
      case ValueKind.ArrayBuffer:
      case ValueKind.SharedArrayBuffer:
        this.#tag(Tag.Buffer);
        return this.#bytes(new Uint8Array(value as ArrayBufferLike));
      case ValueKind.Array: {
        const array = value as unknown[];
        this.#tag(Tag.Array);
        this.#u32(array.length);
        for (const item of array) this.add(item);
        return;
      }
      case ValueKind.Map:
        this.#tag(Tag.Map);
        this.#u32((value as Map<unknown, unknown>).size);
        for (const [k, v] of value as Map<unknown, unknown>) {
          this.add(k);
          this.add(v);
        }
        return;
      case ValueKind.Set:
        this.#tag(Tag.Set);
        this.#u32((value as Set<unknown>).size);
        for (const item of value as Set<unknown>) this.add(item);
        return;
      case ValueKind.Date:
        this.#tag(Tag.Date);
        return this.#f64((value as Date).getTime());
      case ValueKind.RegExp:
        this.#tag(Tag.RegExp);
        return this.#string(String(value));
      case ValueKind.Error: {
        // What structured clone carries of an error: its name, message and cause.
        const error = value as Error;
        this.#tag(Tag.Error);
        this.#string(error.name);
        this.#string(error.message);
        return this.add(error.cause);
      }
      case ValueKind.Proxy:
      case ValueKind.Uncloneable:
        return this.#tag(Tag.Uncloneable);
      case ValueKind.Record: {
        const record = value as Record<string, unknown>;
        const keys = Object.keys(record).sort();
        this.#tag(Tag.Object);
        this.#u32(keys.length);
        for (const key of keys) {
          this.#string(key);
          this.add(record[key]);
        }
        return;
      }
      default:
        return unreachable(kind);
    }
  }

  digest(): bigint {
    this.#flush();
    return this.#state.digest();
  }
}

const TOO_LARGE = Symbol('too large to hash');

/**
 * The content hash of `value` as 16 hex digits, or `undefined` when its typed arrays, buffers and table
 * columns hold more than `maxBytes` (hashing stops before reading them: it runs on the caller's thread).
 * Requires {@link loadHasher} to have resolved.
 */
export function hashArgs(value: unknown, maxBytes = Infinity): string | undefined {
  if (api === undefined) throw new Error('toolbridge: the content hash is not loaded');
  const hasher = new ContentHasher(api, maxBytes);
  try {
    hasher.add(value);
  } catch (error) {
    if (error === TOO_LARGE) return undefined;
    throw error;
  }
  return hasher.digest().toString(16).padStart(16, '0');
}

/**
 * Hashes a small value of the usual shape once, as a bridge's first cached call would: run while the main
 * thread waits for its workers, it spares that call the first run of this code. Needs {@link loadHasher}.
 */
export function warmHasher(): void {
  hashArgs({ a: new Float64Array(4), b: [1, 'two', { three: 3 }] });
}

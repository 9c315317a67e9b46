/**
 * Results too large to send inline, kept on the server for `resources/read` and for later calls (by handle):
 * bounded in count and bytes, the oldest dropped first. A typed array is read as its raw little-endian
 * bytes, an Arrow table as Arrow IPC (stream format), anything else as JSON.
 */
import { looksLikeTable } from '../codec/arrow-table.js';
import { toJson } from '../schema/json.js';

export interface Stored {
  uri: string;
  mimeType: string;
  description: string;
  bytes: Uint8Array;
  /** The value as the tool returned it: what a later call gets for a handle to this result. */
  value: unknown;
}

export const RESULT_PREFIX = 'toolbridge://results/';

export class ResultStore {
  readonly #entries = new Map<string, Stored>();
  #bytes = 0;

  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number,
  ) {}

  async put(id: string, value: unknown): Promise<Stored> {
    const stored = { uri: `${RESULT_PREFIX}${id}`, value, ...(await encodeValue(value)) };
    this.#entries.set(stored.uri, stored);
    this.#bytes += stored.bytes.byteLength;
    for (const [uri, old] of this.#entries) {
      if (this.#entries.size <= this.maxEntries && this.#bytes <= this.maxBytes) break;
      if (uri === stored.uri) break;
      this.#entries.delete(uri);
      this.#bytes -= old.bytes.byteLength;
    }
    return stored;
  }

  get(uri: string): Stored | undefined {
    return this.#entries.get(uri);
  }

  list(): Stored[] {
    return [...this.#entries.values()];
  }
}

/**
 * Datasets as bytes, each encoded once, on its first read (by `resources/read` or the HTTP side endpoint):
 * one per server, shared by every MCP session of an HTTP server.
 */
export class DatasetBytes {
  readonly #encoded = new Map<string, Promise<Omit<Stored, 'uri' | 'value'>>>();

  get(name: string, value: unknown): Promise<Omit<Stored, 'uri' | 'value'>> {
    let encoded = this.#encoded.get(name);
    if (encoded === undefined) this.#encoded.set(name, (encoded = encodeValue(value)));
    return encoded;
  }
}

/** A value as bytes for `resources/read`: raw for a typed array (its own memory, not a copy), IPC for a table, else JSON. */
export async function encodeValue(value: unknown): Promise<Omit<Stored, 'uri' | 'value'>> {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    const length = (value as unknown as ArrayLike<number>).length;
    return { mimeType: 'application/octet-stream', description: `${value.constructor.name}(${length})`, bytes };
  }
  if (value !== null && typeof value === 'object' && looksLikeTable(value)) {
    const table = value as { numRows: number };
    const { tableToIPC } = await import('apache-arrow');
    const bytes = tableToIPC(value as Parameters<typeof tableToIPC>[0], 'stream');
    return {
      mimeType: 'application/vnd.apache.arrow.stream',
      description: `an Arrow table of ${table.numRows} rows`,
      bytes,
    };
  }
  const json = JSON.stringify(toJson(value, Number.MAX_SAFE_INTEGER));
  return { mimeType: 'application/json', description: 'a JSON value', bytes: Buffer.from(json, 'utf8') };
}

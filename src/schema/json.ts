/**
 * A tool's result as JSON for an agent (MCP, the AI SDK): typed arrays as arrays of numbers, an Arrow table
 * as `{ columns, rows }`, Maps as objects, Sets as arrays, Dates as ISO strings, bigints as strings, errors
 * as `{ name, message }`. Objects are told apart by the codec's `kindOf`, as every walker over values is.
 * Gives up (undefined) once the JSON would pass `maxBytes` (estimated as it goes).
 */
import { kindOf, unreachable, ValueKind } from '../codec/value-kind.js';

const TOO_LARGE = Symbol('too large');

interface TableLike {
  schema: { fields: Array<{ name: string }> };
  numRows: number;
  toArray(): Array<{ toJSON(): Record<string, unknown> }>;
}

export function toJson(value: unknown, maxBytes: number): unknown {
  let budget = maxBytes;
  const spend = (bytes: number) => {
    budget -= bytes;
    if (budget < 0) throw TOO_LARGE;
  };
  const convert = (v: unknown, depth: number): unknown => {
    if (depth > 100) throw TOO_LARGE;
    switch (typeof v) {
      case 'number':
        spend(12);
        return Number.isFinite(v) ? v : null;
      case 'string':
        spend(v.length + 2);
        return v;
      case 'boolean':
        spend(5);
        return v;
      case 'bigint':
        spend(22);
        return v.toString();
      case 'undefined':
      case 'function':
      case 'symbol':
        spend(4);
        return null;
    }
    if (v === null) {
      spend(4);
      return null;
    }
    const kind = kindOf(v as object, false);
    switch (kind) {
      case ValueKind.View: {
        if (v instanceof DataView) return convert(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), depth);
        const items = v as unknown as ArrayLike<number | bigint>;
        spend(items.length * 12);
        return Array.from(items, (x) => (typeof x === 'bigint' ? x.toString() : Number.isFinite(x) ? x : null));
      }
      case ValueKind.Table:
      case ValueKind.ForeignTable: {
        const table = v as TableLike;
        spend(table.numRows * table.schema.fields.length * 12);
        return {
          columns: table.schema.fields.map((f) => f.name),
          rows: table.toArray().map((row) => convert(row.toJSON(), depth + 1)),
        };
      }
      case ValueKind.ArrayBuffer:
      case ValueKind.SharedArrayBuffer:
        return convert(new Uint8Array(v as ArrayBufferLike), depth);
      case ValueKind.Array:
        return (v as unknown[]).map((x) => convert(x, depth + 1));
      case ValueKind.Map: {
        const out: Record<string, unknown> = {};
        for (const [k, x] of v as Map<unknown, unknown>) out[String(k)] = convert(x, depth + 1);
        return out;
      }
      case ValueKind.Set:
        return Array.from(v as Set<unknown>, (x) => convert(x, depth + 1));
      case ValueKind.Date:
        spend(26);
        return (v as Date).toISOString();
      case ValueKind.RegExp:
        return convert(String(v), depth);
      case ValueKind.Error:
        return { name: convert((v as Error).name, depth + 1), message: convert((v as Error).message, depth + 1) };
      case ValueKind.Proxy:
      case ValueKind.Uncloneable:
        spend(4);
        return null;
      case ValueKind.Record: {
        const out: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
          spend(k.length + 4);
          out[k] = convert(x, depth + 1);
        }
        return out;
      }
      default:
        return unreachable(kind);
    }
  };
  try {
    return convert(value, 0);
  } catch (error) {
    if (error === TOO_LARGE) return undefined;
    throw error;
  }
}

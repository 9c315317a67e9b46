/**
 * A tool's result as JSON for an MCP client: typed arrays as arrays of numbers, an Arrow table as
 * `{ columns, rows }`, Maps as objects, Sets as arrays, Dates as ISO strings, bigints as strings, errors as
 * `{ name, message }`. Gives up (undefined) once the JSON would pass `maxBytes` (estimated as it goes).
 */
const TOO_LARGE = Symbol('too large');

interface TableLike {
  schema: { fields: Array<{ name: string }> };
  numRows: number;
  toArray(): Array<{ toJSON(): Record<string, unknown> }>;
}

const isTable = (value: object): value is TableLike => {
  const t = value as Partial<TableLike>;
  return Array.isArray(t.schema?.fields) && typeof t.numRows === 'number' && typeof t.toArray === 'function';
};

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
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
      const items = v as unknown as ArrayLike<number | bigint>;
      spend(items.length * 12);
      return Array.from(items, (x) => (typeof x === 'bigint' ? x.toString() : Number.isFinite(x) ? x : null));
    }
    if (v instanceof Date) {
      spend(26);
      return v.toISOString();
    }
    if (v instanceof Error) return { name: convert(v.name, depth + 1), message: convert(v.message, depth + 1) };
    if (v instanceof Map) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of v) out[String(k)] = convert(x, depth + 1);
      return out;
    }
    if (v instanceof Set) return Array.from(v, (x) => convert(x, depth + 1));
    if (Array.isArray(v)) return v.map((x) => convert(x, depth + 1));
    if (isTable(v as object)) {
      const table = v as TableLike;
      spend(table.numRows * table.schema.fields.length * 12);
      return {
        columns: table.schema.fields.map((f) => f.name),
        rows: table.toArray().map((row) => convert(row.toJSON(), depth + 1)),
      };
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      spend(k.length + 4);
      out[k] = convert(x, depth + 1);
    }
    return out;
  };
  try {
    return convert(value, 0);
  } catch (error) {
    if (error === TOO_LARGE) return undefined;
    throw error;
  }
}

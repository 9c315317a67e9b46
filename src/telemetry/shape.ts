/**
 * The shape of a value, never its data: what a slow-call report says about a call's arguments.
 * `Float64Array(1000000)`, `Table(5000000 x 3)`, `{ query: Float32Array(384), k: number }`.
 */
const MAX_DEPTH = 3;
const MAX_KEYS = 16;

export function shapeOf(value: unknown, depth = 0): string {
  if (value === null) return 'null';
  const type = typeof value;
  if (type === 'string') return `string(${(value as string).length})`;
  if (type !== 'object') return type;
  if (ArrayBuffer.isView(value)) {
    const view = value as ArrayBufferView & { length?: number };
    return `${value.constructor.name}(${view.length ?? view.byteLength})`;
  }
  const table = value as { numRows?: unknown; numCols?: unknown; schema?: unknown };
  if (typeof table.numRows === 'number' && typeof table.numCols === 'number' && table.schema) {
    return `Table(${table.numRows} x ${table.numCols})`;
  }
  if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) {
    return `${value.constructor.name}(${value.byteLength})`;
  }
  if (value instanceof Map) return `Map(${value.size})`;
  if (value instanceof Set) return `Set(${value.size})`;
  if (value instanceof Date) return 'Date';
  if (Array.isArray(value)) {
    if (value.length === 0 || depth >= MAX_DEPTH) return `Array(${value.length})`;
    return `Array(${value.length}) of ${shapeOf(value[0], depth + 1)}`;
  }
  if (depth >= MAX_DEPTH) return 'object';
  const keys = Object.keys(value as object);
  const shown = keys
    .slice(0, MAX_KEYS)
    .map((key) => `${key}: ${shapeOf((value as Record<string, unknown>)[key], depth + 1)}`);
  if (keys.length > MAX_KEYS) shown.push(`... ${keys.length - MAX_KEYS} more`);
  return `{ ${shown.join(', ')} }`;
}

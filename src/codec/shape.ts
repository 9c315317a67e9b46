import { kindOf, unreachable, ValueKind } from './value-kind.js';

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
  const object = value as object;
  const kind = kindOf(object, false);
  switch (kind) {
    case ValueKind.View: {
      const view = object as ArrayBufferView & { length?: number };
      return `${object.constructor.name}(${view.length ?? view.byteLength})`;
    }
    case ValueKind.Table:
    case ValueKind.ForeignTable: {
      const table = object as { numRows: number; numCols: number };
      return `Table(${table.numRows} x ${table.numCols})`;
    }
    case ValueKind.ArrayBuffer:
    case ValueKind.SharedArrayBuffer:
      return `${object.constructor.name}(${(object as ArrayBufferLike).byteLength})`;
    case ValueKind.Map:
      return `Map(${(object as Map<unknown, unknown>).size})`;
    case ValueKind.Set:
      return `Set(${(object as Set<unknown>).size})`;
    case ValueKind.Date:
      return 'Date';
    case ValueKind.RegExp:
      return 'RegExp';
    case ValueKind.Error:
      return (object as Error).name;
    case ValueKind.Proxy:
      return 'Proxy';
    case ValueKind.Uncloneable:
      return object.constructor.name;
    case ValueKind.Array: {
      const array = object as unknown[];
      if (array.length === 0 || depth >= MAX_DEPTH) return `Array(${array.length})`;
      return `Array(${array.length}) of ${shapeOf(array[0], depth + 1)}`;
    }
    case ValueKind.Record: {
      if (depth >= MAX_DEPTH) return 'object';
      const keys = Object.keys(object);
      const shown = keys
        .slice(0, MAX_KEYS)
        .map((key) => `${key}: ${shapeOf((object as Record<string, unknown>)[key], depth + 1)}`);
      if (keys.length > MAX_KEYS) shown.push(`... ${keys.length - MAX_KEYS} more`);
      return `{ ${shown.join(', ')} }`;
    }
    default:
      return unreachable(kind);
  }
}

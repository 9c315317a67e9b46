import { types } from 'node:util';
import { arrowTableKind, looksLikeTable } from './arrow-table.js';

/**
 * The kinds of object a value can hold, as every walker over values sees them: the codec (what crosses and
 * how), the content hash (the result-cache key), the cache's deep copy and the shape in slow-call reports.
 * One function decides the kind, so they cannot disagree; each switches over every kind (the compiler
 * checks that none is missed).
 */
export enum ValueKind {
  /** A typed array or DataView. */
  View,
  /** An apache-arrow Table of the copy toolbridge uses. */
  Table,
  /** An apache-arrow Table of another copy (cannot cross). */
  ForeignTable,
  ArrayBuffer,
  SharedArrayBuffer,
  Array,
  Map,
  Set,
  Date,
  RegExp,
  Error,
  /** A Proxy (an Arrow row, say): cannot cross. */
  Proxy,
  /** A Promise, WeakMap, WeakSet or WeakRef: cannot cross. */
  Uncloneable,
  /** Any other object, class instances included: its own enumerable string keys. */
  Record,
}

/**
 * The kind of an object (not null). `exact`: tell the tables of toolbridge's apache-arrow from those of
 * another copy, for which a value that looks like a table before toolbridge has loaded apache-arrow in this
 * thread throws `ModuleNeeded` (see `withModules`); else every table is a `Table` and nothing is loaded.
 */
export function kindOf(v: object, exact = true): ValueKind {
  if (ArrayBuffer.isView(v)) return ValueKind.View;
  // Before Array.isArray, which sees through a Proxy of an array.
  if (types.isProxy(v)) return ValueKind.Proxy;
  if (Array.isArray(v)) return ValueKind.Array;
  // The common case first: an object literal (or a null-prototype object).
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) return ValueKind.Record;
  if (exact) {
    const table = arrowTableKind(v);
    if (table !== undefined) return table === 'own' ? ValueKind.Table : ValueKind.ForeignTable;
  } else if (looksLikeTable(v)) {
    return ValueKind.Table;
  }
  if (v instanceof Map) return ValueKind.Map;
  if (v instanceof Set) return ValueKind.Set;
  if (v instanceof ArrayBuffer) return ValueKind.ArrayBuffer;
  if (v instanceof SharedArrayBuffer) return ValueKind.SharedArrayBuffer;
  if (v instanceof Date) return ValueKind.Date;
  if (v instanceof RegExp) return ValueKind.RegExp;
  if (v instanceof Error) return ValueKind.Error;
  if (v instanceof Promise || v instanceof WeakMap || v instanceof WeakSet || v instanceof WeakRef) {
    return ValueKind.Uncloneable;
  }
  return ValueKind.Record;
}

/** What an uncloneable object is, for error messages. */
export function uncloneableName(v: object): string {
  if (v instanceof Promise) return 'a Promise';
  if (v instanceof WeakMap) return 'a WeakMap';
  if (v instanceof WeakSet) return 'a WeakSet';
  return 'a WeakRef';
}

/** Throws at compile time when a switch over {@link ValueKind} misses a kind. */
export function unreachable(kind: never): never {
  throw new Error(`Unknown value kind ${String(kind)}`);
}

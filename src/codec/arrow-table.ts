import { Table } from 'apache-arrow';

/**
 * What a value is to the codec as an Arrow table: `own` for a table of the apache-arrow copy toolbridge
 * loads (it crosses with no copy), `foreign` for one built by another copy of apache-arrow (the app
 * installed a second version), `undefined` for anything else. Tables of another copy are recognised by
 * their shape, since `instanceof` cannot see across copies before apache-arrow 21.
 */
export function arrowTableKind(value: object): 'own' | 'foreign' | undefined {
  if (value instanceof Table) {
    // apache-arrow >= 21 answers `instanceof` for the tables of every copy: own ones have its prototype.
    return Object.getPrototypeOf(value) === Table.prototype ? 'own' : 'foreign';
  }
  const candidate = value as { batches?: unknown; schema?: { fields?: unknown }; getChildAt?: unknown };
  if (
    value.constructor?.name === 'Table' &&
    Array.isArray(candidate.batches) &&
    Array.isArray(candidate.schema?.fields) &&
    typeof candidate.getChildAt === 'function'
  ) {
    return 'foreign';
  }
  return undefined;
}

/** What a table of another apache-arrow copy is, and what to do about it. */
export const FOREIGN_TABLE = 'an apache-arrow Table from another copy of apache-arrow than the one toolbridge loads';
export const FOREIGN_TABLE_FIX =
  "install one apache-arrow version, in the range of toolbridge's peer dependency (`npm ls apache-arrow` lists the copies)";

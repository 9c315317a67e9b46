import { arrow, loadedArrow } from './lazy-modules.js';

/** Looks like an apache-arrow Table of any copy or version (`instanceof` cannot see across copies). */
export function looksLikeTable(value: object): boolean {
  const candidate = value as { batches?: unknown; schema?: { fields?: unknown }; getChildAt?: unknown };
  return (
    value.constructor?.name === 'Table' &&
    Array.isArray(candidate.batches) &&
    Array.isArray(candidate.schema?.fields) &&
    typeof candidate.getChildAt === 'function'
  );
}

/**
 * What a value is to the codec as an Arrow table: `own` for a table of the apache-arrow copy toolbridge
 * loads (it crosses with no copy), `foreign` for one built by another copy of apache-arrow (the app
 * installed a second version), `undefined` for anything else. A value that looks like a table before
 * toolbridge has loaded apache-arrow in this thread makes it load (see `withModules`).
 */
export function arrowTableKind(value: object): 'own' | 'foreign' | undefined {
  const Table = loadedArrow()?.Table;
  if (Table !== undefined && value instanceof Table) {
    // apache-arrow >= 21 answers `instanceof` for the tables of every copy: own ones have its prototype.
    return Object.getPrototypeOf(value) === Table.prototype ? 'own' : 'foreign';
  }
  if (!looksLikeTable(value)) return undefined;
  // Loads apache-arrow (and asks again) if this thread has not yet.
  arrow();
  return 'foreign';
}

/** What a table of another apache-arrow copy is, and what to do about it. */
export const FOREIGN_TABLE = 'an apache-arrow Table from another copy of apache-arrow than the one toolbridge loads';
export const FOREIGN_TABLE_FIX =
  "install one apache-arrow version, in the range of toolbridge's peer dependency (`npm ls apache-arrow` lists the copies)";

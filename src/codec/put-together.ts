import { kindOf, ValueKind } from './value-kind.js';
import { REF_KEY } from './walk.js';

/**
 * Puts a value back together: replaces the stand-ins left by {@link takeApart} with the rebuilt views and
 * tables. `plain` is a fresh copy (from structured clone or MessagePack) and is changed in place.
 */
export function putTogether(plain: unknown, resolve: (ref: number) => unknown): unknown {
  const seen = new Set<object>();
  const visit = (v: unknown): unknown => {
    if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v)) return v;
    const ref = (v as Record<string, unknown>)[REF_KEY];
    if (typeof ref === 'number') return resolve(ref);
    if (seen.has(v)) return v;
    seen.add(v);
    switch (kindOf(v, false)) {
      case ValueKind.Array: {
        const array = v as unknown[];
        for (let i = 0; i < array.length; i++) array[i] = visit(array[i]);
        break;
      }
      case ValueKind.Map: {
        const map = v as Map<unknown, unknown>;
        const entries = [...map];
        map.clear();
        for (const [key, item] of entries) map.set(visit(key), visit(item));
        break;
      }
      case ValueKind.Set: {
        const set = v as Set<unknown>;
        const items = [...set];
        set.clear();
        for (const item of items) set.add(visit(item));
        break;
      }
      case ValueKind.Record: {
        const record = v as Record<string, unknown>;
        for (const key of Object.keys(record)) record[key] = visit(record[key]);
        break;
      }
      default:
      // Leaves: nothing inside them was taken apart.
    }
    return v;
  };
  return visit(plain);
}

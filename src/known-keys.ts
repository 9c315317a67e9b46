import { InvalidOptionsError } from './errors.js';

/**
 * Throws `INVALID_OPTIONS` when `object` has an own key that is not in `known`, naming the key and the
 * nearest known one: `options.maxThread is not an option (did you mean maxThreads?)`. `where` is how the
 * object is named in messages (`options`, `options.memory`, `defineTool(x)`); on a hot path, a function that
 * makes the name only when a key is unknown.
 */
export function checkKnownKeys(where: string | (() => string), object: object, known: readonly string[]): void {
  for (const key in object) {
    if (!Object.hasOwn(object, key) || known.includes(key)) continue;
    const nearest = nearestName(key, known);
    const hint = nearest === undefined ? '' : ` (did you mean ${nearest}?)`;
    const name = typeof where === 'string' ? where : where();
    throw new InvalidOptionsError(`${name}.${key} is not an option${hint}; known: ${known.join(', ')}`);
  }
}

/** The name in `names` closest to `name` (case-insensitive edit distance), if any is close at all. */
export function nearestName(name: string, names: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestScore = Infinity;
  for (const candidate of names) {
    const other = candidate.toLowerCase();
    // A name the other contains whole (`timeout` in `timeoutMs`) is nearer than any edit; of several, the
    // one with the fewest extra letters (`timeoutMs` before `idleTimeoutMs`).
    const contained = other.includes(lower) || lower.includes(other);
    const score = contained ? Math.abs(other.length - lower.length) / 1000 : distance(lower, other);
    if (score < bestScore) {
      bestScore = score;
      best = candidate;
    }
  }
  // Past half the name's length, the "nearest" is a guess that misleads more than it helps.
  return bestScore <= Math.max(2, Math.ceil(name.length / 2)) ? best : undefined;
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, substitution);
    }
    previous = row;
  }
  return previous[b.length]!;
}

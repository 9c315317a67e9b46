/** Keys remembered at most: past it the least recently used key is forgotten (its next call goes anywhere). */
export const MAX_AFFINITY_KEYS = 65_536;

/**
 * Affinity keys (`call(..., { affinity })`) and the worker that last ran a call of each, least recently used
 * first (a Map keeps insertion order: a key used again is moved to the end).
 */
export class AffinityMap<W> {
  readonly #map = new Map<string, W>();
  readonly #limit: number;

  constructor(limit = MAX_AFFINITY_KEYS) {
    this.#limit = limit;
  }

  get(key: string): W | undefined {
    return this.#map.get(key);
  }

  set(key: string, worker: W): void {
    this.#map.delete(key);
    this.#map.set(key, worker);
    if (this.#map.size > this.#limit) this.#map.delete(this.#map.keys().next().value!);
  }

  delete(key: string): void {
    this.#map.delete(key);
  }

  get size(): number {
    return this.#map.size;
  }
}

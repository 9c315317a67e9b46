/** The smallest Piscina worker: what a pool of raw Piscina threads loads before its first call. */
export default function noop(): undefined {
  return undefined;
}

/** The smallest Piscina worker, in CommonJS: what a pool of raw Piscina threads loads before its first call. */
function noop(): undefined {
  return undefined;
}
export = noop;

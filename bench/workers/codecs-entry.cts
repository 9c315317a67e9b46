/** The codec sweep's worker for raw Piscina, loaded through CommonJS for the reason given in raw-entry.cts. */
const handler: Promise<unknown> = import('./codecs.js').then((worker) => worker.default);
export = handler;

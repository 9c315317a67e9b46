/**
 * What raw Piscina loads for the baselines: a CommonJS file handing it the ES-module worker's handler.
 * Piscina tries `require()` on its worker file first, and on Node 20.20 requiring an ES module in a worker
 * has aborted the whole process (a V8 assertion in `CreateRequiredModuleFacade`); toolbridge's own workers
 * start the same way (workers/entry.cts). Piscina awaits the handler once: calls pay nothing for it.
 */
const handler: Promise<unknown> = import('./raw.js').then((worker) => worker.default);
export = handler;

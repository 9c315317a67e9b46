/** The `sessions` scenario's baseline: the same index behind comlink over a raw worker thread, no toolbridge. */
import { parentPort, type MessagePort } from 'node:worker_threads';
import { expose, type Endpoint } from 'comlink';
import { makeIndex } from './index-kernel.js';

parentPort!.once('message', ({ matrix, dim, port }: { matrix: Float32Array; dim: number; port: MessagePort }) => {
  expose(makeIndex(matrix, dim), port as unknown as Endpoint);
  port.postMessage('ready');
});

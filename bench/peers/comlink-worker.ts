/** comlink over worker_threads: exposes the no-op task. */
import { expose } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { parentPort } from 'node:worker_threads';

expose({ noop: () => undefined }, nodeEndpoint(parentPort!));

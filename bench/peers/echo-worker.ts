/** Bare worker_threads: answers every message at once. */
import { parentPort } from 'node:worker_threads';

parentPort!.on('message', (message: unknown) => parentPort!.postMessage(message));

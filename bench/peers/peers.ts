/**
 * The pools and RPC layers users would otherwise pick, each set up to run a no-op task in a worker thread
 * with the same thread count, behind one interface: `run()` resolves when the no-op has gone and come back.
 */
import { wrap, type Remote } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { FixedThreadPool } from 'poolifier';
import { Tinypool } from 'tinypool';
import workerpool from 'workerpool';
import { rawPiscinaWorker, rawWorker } from '../scenario.js';

export interface Peer {
  name: string;
  run: () => PromiseLike<unknown>;
  close: () => unknown;
}

const here = (file: string) => new URL(file, import.meta.url);

export async function startPeers(threads: number): Promise<Peer[]> {
  const piscina = new Piscina({ filename: rawPiscinaWorker, minThreads: threads, maxThreads: threads });
  const tinypool = new Tinypool({ filename: rawWorker, minThreads: threads, maxThreads: threads });
  const wpool = workerpool.pool(here('./workerpool-worker.js').pathname, {
    minWorkers: threads,
    maxWorkers: threads,
    workerType: 'thread',
  });
  const poolifier = new FixedThreadPool(threads, here('./poolifier-worker.js').pathname);

  // comlink is an RPC layer, not a pool: one worker.
  const comlinkWorker = new Worker(here('./comlink-worker.js'));
  const comlink = wrap<{ noop: () => undefined }>(nodeEndpoint(comlinkWorker)) as Remote<{ noop: () => undefined }>;

  // Bare postMessage, one worker: each call waits for its own answer (sequential use only).
  const bare = new Worker(here('./echo-worker.js'));
  const bareCall = () =>
    new Promise<unknown>((resolve) => {
      bare.once('message', resolve);
      bare.postMessage(0);
    });

  return [
    { name: 'piscina', run: () => piscina.run({ kind: 'noop' }), close: () => piscina.destroy() },
    { name: 'tinypool', run: () => tinypool.run({ kind: 'noop' }), close: () => tinypool.destroy() },
    { name: 'workerpool', run: () => wpool.exec('noop', []), close: () => wpool.terminate() },
    { name: 'poolifier', run: () => poolifier.execute(), close: () => poolifier.destroy() },
    { name: 'comlink (1 worker)', run: () => comlink.noop(), close: () => comlinkWorker.terminate() },
    { name: 'bare postMessage (1 worker)', run: bareCall, close: () => bare.terminate() },
  ];
}

/**
 * The pools and RPC layers users would otherwise pick, each set up to run a no-op task in a worker thread
 * with the same thread count, behind one interface: `run()` resolves when the no-op has gone and come back.
 */
import { wrap, type Endpoint, type Remote } from 'comlink';
import { MessageChannel, Worker } from 'node:worker_threads';
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

/** Longest a peer's own close may take before its threads are stopped directly. */
const CLOSE_WITHIN_MS = 5_000;

/**
 * A close bounded in time: poolifier's destroy() now and then never settled on a starved 2-core machine,
 * which kept a whole run waiting; past the bound, `force` stops what is left.
 */
async function closeWithin(close: () => Promise<unknown>, force: () => Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), CLOSE_WITHIN_MS)));
  const outcome = await Promise.race([close().then(() => 'closed' as const), late]);
  clearTimeout(timer);
  if (outcome === 'late') await force();
}

export async function startPeers(threads: number): Promise<Peer[]> {
  const piscina = new Piscina({ filename: rawPiscinaWorker, minThreads: threads, maxThreads: threads });
  const tinypool = new Tinypool({ filename: rawWorker, minThreads: threads, maxThreads: threads });
  const wpool = workerpool.pool(here('./workerpool-worker.js').pathname, {
    minWorkers: threads,
    maxWorkers: threads,
    workerType: 'thread',
  });
  const poolifier = new FixedThreadPool(threads, here('./poolifier-worker.js').pathname);

  // comlink is an RPC layer, not a pool: one worker, over a MessageChannel port (comlink's node adapter on the
  // Worker object lost a message now and then on a starved 2-core machine, and a run waited for good).
  const comlinkWorker = new Worker(here('./comlink-worker.js'));
  const channel = new MessageChannel();
  comlinkWorker.postMessage(channel.port2, [channel.port2]);
  const comlink = wrap<{ noop: () => undefined }>(channel.port1 as unknown as Endpoint) as Remote<{
    noop: () => undefined;
  }>;

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
    {
      name: 'poolifier',
      run: () => poolifier.execute(),
      close: () =>
        closeWithin(
          () => poolifier.destroy(),
          () => Promise.all(poolifier.workerNodes.map((node) => node.worker.terminate())),
        ),
    },
    {
      name: 'comlink (1 worker)',
      run: () => comlink.noop(),
      close: () => (channel.port1.close(), comlinkWorker.terminate()),
    },
    { name: 'bare postMessage (1 worker)', run: bareCall, close: () => bare.terminate() },
  ];
}

/** comlink over worker_threads: exposes the no-op task on the port it is sent (a MessagePort is an endpoint). */
import { expose, type Endpoint } from 'comlink';
import { parentPort, type MessagePort } from 'node:worker_threads';

parentPort!.once('message', (port: MessagePort) => expose({ noop: () => undefined }, port as unknown as Endpoint));

/**
 * A tool host process for the nats scenario: serves the bench tools of a bridge with `threads` workers on
 * NATS until SIGTERM (closing gracefully) or SIGKILL. Prints `ready <pid>` once it serves.
 * Arguments: <servers> <namespace> <name> <threads> [ackWaitMs]
 */
import { createBridge } from '../src/index.js';
import { serve } from '../src/nats/index.js';
import { toolsModule } from './scenario.js';

const [servers, namespace, name, threads = '1', ackWaitMs = '30000'] = process.argv.slice(2);
const bridge = await createBridge({
  minThreads: Number(threads),
  maxThreads: Number(threads),
  tools: [toolsModule],
  cache: false,
});
const host = await serve(bridge, { servers, namespace, name, durable: { ackWaitMs: Number(ackWaitMs) } });
process.on('SIGTERM', () => {
  void host
    .close()
    .then(() => bridge.close())
    .then(() => process.exit(0));
});
console.log(`ready ${process.pid}`);

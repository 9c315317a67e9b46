/** The toolbridge/nats tests' server and hosts (see bench/nats-server.ts): hosts run test/fixtures/nats-host.mjs. */
import { startHostProcess, type HostProcess } from '../../bench/nats-server.js';

export {
  natsServerBinary,
  startNatsServer,
  stopProcess,
  type HostProcess,
  type NatsServer,
} from '../../bench/nats-server.js';

/** Starts a host process serving the remote test tools; durable calls it held go elsewhere after `ackWaitMs`. */
export function startHost(url: string, namespace: string, name: string, ackWaitMs = 30_000): Promise<HostProcess> {
  const script = new URL('../fixtures/nats-host.mjs', import.meta.url).pathname;
  return startHostProcess(script, [url, namespace, name], { TB_ACK_WAIT_MS: String(ackWaitMs) });
}

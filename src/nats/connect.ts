/**
 * A caller of tool hosts: a bridge whose pools are NATS subjects. It is the same bridge as a local one (call
 * pipeline, cache, batches, telemetry); only the dispatch seam differs: a `RemoteBackend` per pool sends each
 * encoded call as one request to `<ns>.call.<tool>`, where the pool's hosts take turns.
 */
import { connect as natsConnect, type NatsConnection } from '@nats-io/transport-node';
import { bridgeOver } from '../bridge.js';
import type { Bridge } from '../bridge-api.js';
import { InvalidOptionsError, describeValue } from '../errors.js';
import { checkKnownKeys } from '../known-keys.js';
import type { BridgeOptions } from '../options.js';
import { DEFAULT_POOL, type ToolInfo } from '../tool/define.js';
import { REMOTE_CODEC } from './host.js';
import { checkNamespace, checkServers, subjects, type HostInfo } from './subjects.js';
import { Link, RemoteBackend } from './remote-backend.js';

export interface ConnectOptions {
  /** NATS server URL(s). @default 'nats://127.0.0.1:4222' */
  servers?: string | string[];
  /** The hosts' namespace. @default 'toolbridge' */
  namespace?: string;
  /** A connection to use instead of opening one (left open by `close()`). */
  connection?: NatsConnection;
  /** How long to gather the hosts' answers when connecting, in ms. @default 250 */
  discoverMs?: number;
  /** Most calls in flight at once over this connection; past it a call is refused with `QUEUE_FULL`. @default 1024 */
  maxInFlight?: number;
  /**
   * How often the host holding a sync call is pinged, in ms: a host gone (no subscriber, or two pings
   * unanswered) fails its calls as a crashed worker would (idempotent tools run again on another host).
   * @default 1000
   */
  heartbeatMs?: number;
  /** Default time limit of a call, in ms, as `createBridge({ timeoutMs })`. @default Infinity */
  timeoutMs?: number;
  /** The result cache of idempotent tools, as `createBridge({ cache })`. */
  cache?: BridgeOptions['cache'];
  /** Telemetry, as `createBridge({ telemetry })`. */
  telemetry?: BridgeOptions['telemetry'];
  /**
   * Every call through the durable queue (a JetStream work queue: it survives its host's death), as
   * `call(..., { durable: true })` does for one call. @default false
   */
  durable?: boolean;
}

const KEYS = [
  'servers',
  'namespace',
  'connection',
  'discoverMs',
  'maxInFlight',
  'heartbeatMs',
  'timeoutMs',
  'cache',
  'telemetry',
  'durable',
] as const satisfies ReadonlyArray<keyof ConnectOptions>;

/** The hosts' tools, one entry per name (the first host to list it describes it). */
function catalogOf(hosts: readonly HostInfo[]): ToolInfo[] {
  const tools = new Map<string, ToolInfo>();
  for (const { tools: list } of hosts) {
    for (const t of list) {
      if (tools.has(t.name)) continue;
      tools.set(t.name, {
        name: t.name,
        description: t.description,
        version: t.version,
        idempotent: t.idempotent,
        timeoutMs: t.timeoutMs ?? undefined,
        retries: t.retries,
        module: 'toolbridge:remote',
        batch: undefined,
        pool: t.pool,
        inputSchema: t.inputSchema,
        outputSchema: t.outputSchema,
        annotations: t.annotations ?? { idempotentHint: t.idempotent },
      });
    }
  }
  return [...tools.values()];
}

/** Connects to the tool hosts of a namespace: resolves to a bridge whose calls run on them. */
export async function connect(options: ConnectOptions = {}): Promise<Bridge> {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionsError(`connect options must be an object, got ${describeValue(options)}`);
  }
  checkKnownKeys('options', options, KEYS);
  const namespace = checkNamespace(options.namespace);
  const servers = checkServers(options.servers);
  const discoverMs = options.discoverMs ?? 250;
  if (typeof discoverMs !== 'number' || !(discoverMs > 0)) {
    throw new InvalidOptionsError(`options.discoverMs must be a positive number, got ${describeValue(discoverMs)}`);
  }
  const maxInFlight = options.maxInFlight ?? 1024;
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
    throw new InvalidOptionsError(`options.maxInFlight must be a positive integer, got ${describeValue(maxInFlight)}`);
  }
  const heartbeatMs = options.heartbeatMs ?? 1_000;
  if (typeof heartbeatMs !== 'number' || !(heartbeatMs >= 10) || !Number.isFinite(heartbeatMs)) {
    throw new InvalidOptionsError(
      `options.heartbeatMs must be a number of ms >= 10, got ${describeValue(heartbeatMs)}`,
    );
  }
  if (options.durable !== undefined && typeof options.durable !== 'boolean') {
    throw new InvalidOptionsError(`options.durable must be a boolean, got ${describeValue(options.durable)}`);
  }
  const nc = options.connection ?? (await natsConnect({ servers, name: 'toolbridge caller' }));
  try {
    const hosts = await discover(nc, namespace, discoverMs);
    const tools = catalogOf(hosts);
    const link = new Link(
      nc,
      namespace,
      maxInFlight,
      options.connection === undefined,
      options.durable === true,
      heartbeatMs,
    );
    const poolNames = new Set([DEFAULT_POOL, ...tools.map((t) => t.pool)]);
    const backends = new Map([...poolNames].map((name) => [name, new RemoteBackend(name, link)]));
    return await bridgeOver(
      {
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        ...(options.cache !== undefined ? { cache: options.cache } : {}),
        ...(options.telemetry !== undefined ? { telemetry: options.telemetry } : {}),
        codec: REMOTE_CODEC,
        // What the batch executor sizes chunks by: a pool's hosts, seen as threads.
        maxThreads: Math.max(1, hostsOf(hosts, DEFAULT_POOL)),
        maxQueue: maxInFlight,
        pools: Object.fromEntries(
          [...poolNames]
            .filter((name) => name !== DEFAULT_POOL)
            .map((name) => [name, { maxThreads: Math.max(1, hostsOf(hosts, name)), maxQueue: maxInFlight }]),
        ),
      },
      backends,
      tools,
    );
  } catch (error) {
    if (options.connection === undefined) await nc.close().catch(() => undefined);
    throw error;
  }
}

const hostsOf = (hosts: readonly HostInfo[], pool: string) =>
  hosts.filter((h) => h.tools.some((t) => t.pool === pool)).length;

/** Every host's answer on the discover subject within `ms`. */
async function discover(nc: NatsConnection, namespace: string, ms: number): Promise<HostInfo[]> {
  const hosts: HostInfo[] = [];
  try {
    const replies = await nc.requestMany(subjects(namespace).discover, undefined, { strategy: 'timer', maxWait: ms });
    for await (const msg of replies) {
      try {
        hosts.push(msg.json<HostInfo>());
      } catch {
        // Not a host's answer: ignored.
      }
    }
  } catch (error) {
    // No host at all answers with "no responders": the bridge starts with no tools.
    if (!(
      error instanceof Error &&
      /no responders|503/i.test(`${error.message} ${String((error as { code?: unknown }).code)}`)
    )) {
      throw error;
    }
  }
  return hosts;
}

/**
 * A caller of tool hosts: a bridge whose pools are NATS subjects. It is the same bridge as a local one (call
 * pipeline, cache, batches, telemetry); only the dispatch seam differs: a `RemoteBackend` per pool sends each
 * encoded call as one request to `<ns>.call.<tool>`, where the pool's hosts take turns.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  connect as natsConnect,
  headers as natsHeaders,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import { bridgeOver } from '../bridge.js';
import type { Bridge } from '../bridge-api.js';
import { Kind, type WireMessage } from '../codec/message.js';
import { readEnvelope } from '../codec/envelope.js';
import type { PoolBackend, SubmitOptions } from '../dispatch/dispatcher.js';
import { DeadlinePassed } from '../dispatch/dispatcher.js';
import { ClosedError, InvalidOptionsError, QueueFullError, UnavailableError, describeValue } from '../errors.js';
import { checkKnownKeys } from '../known-keys.js';
import type { BridgeOptions } from '../options.js';
import type { CodecCounts, RecycleReason, WorkerStats } from '../telemetry/events.js';
import type { HostStats, PoolStats } from '../telemetry/stats.js';
import { DEFAULT_POOL, type ToolInfo } from '../tool/define.js';
import { REMOTE_CODEC } from './host.js';
import { ACCEPTED, CALL_KEY, TIME_LEFT, checkNamespace, checkServers, subjects, type HostInfo } from './subjects.js';
import { readWire, writeWire } from './wire.js';
import { DurableCaller } from './durable.js';
import { Payloads } from './payloads.js';
import { HostFigures } from './host-figures.js';

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

/** A call with no time limit waits this long for its host (the longest timer NATS takes). */
const NO_LIMIT_MS = 2 ** 31 - 1;
/** A request's own timer runs this much past the call's deadline: the caller's timer ends it first. */
const GRACE_MS = 1_000;

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

/** The connection the pools share: requests in flight, their bound, closing. */
class Link {
  inFlight = 0;
  readonly subjects: ReturnType<typeof subjects>;
  readonly durable: DurableCaller;
  readonly payloads: Payloads;
  /** Where hosts say they took this caller's sync calls. */
  readonly acceptedSubject: string;
  readonly figures = new HostFigures();
  /** Sync calls in flight: the host that took each (once it said so), and how to fail it. */
  readonly #waiting = new Map<string, { host?: string; since: number; fail: (error: Error) => void }>();
  /** Pings in a row a host has not answered. */
  readonly #missed = new Map<string, number>();
  readonly #accepted: Subscription;
  #watch: NodeJS.Timeout | undefined;
  #closed = false;
  #idle: (() => void) | undefined;

  constructor(
    readonly nc: NatsConnection,
    namespace: string,
    readonly maxInFlight: number,
    readonly own: boolean,
    readonly durableByDefault: boolean,
    readonly heartbeatMs: number,
  ) {
    this.subjects = subjects(namespace);
    const id = randomUUID().replaceAll('-', '');
    this.durable = new DurableCaller(nc, namespace, id);
    this.payloads = new Payloads(nc, namespace);
    this.acceptedSubject = this.subjects.accepted(id);
    this.#accepted = nc.subscribe(this.acceptedSubject, {
      callback: (error, msg) => {
        if (error) return;
        const [key, host] = msg.string().split(' ');
        const call = this.#waiting.get(key ?? '');
        if (call && host) call.host = host;
      },
    });
  }

  /**
   * Watches sync call `key` until `settled()`: if the host that took it stops answering pings (its process
   * died, its connection went), `fail` is called with a plain error, which the call path treats as a crashed
   * worker (retried per the tool's `retries`: idempotent tools run again on another host).
   */
  watch(key: string, fail: (error: Error) => void): () => void {
    this.#waiting.set(key, { since: performance.now(), fail });
    this.#watch ??= setInterval(() => void this.#check(), this.heartbeatMs);
    this.#watch.unref();
    return () => {
      this.#waiting.delete(key);
      if (this.#waiting.size === 0 && this.#watch) {
        clearInterval(this.#watch);
        this.#watch = undefined;
      }
    };
  }

  async #check(): Promise<void> {
    const hosts = new Set<string>();
    const now = performance.now();
    for (const call of this.#waiting.values()) {
      if (call.host) hosts.add(call.host);
      // Sent to a host that was gone before it could take it (the server routed it there before it saw the
      // host go), or lost on the way: no host took it within two heartbeats.
      else if (now - call.since > 2 * this.heartbeatMs) call.fail(new Error('no host took the call'));
    }
    await Promise.all(
      [...hosts].map(async (host) => {
        let gone = false;
        try {
          await this.nc.request(this.subjects.ping(host), undefined, { timeout: this.heartbeatMs });
          this.#missed.delete(host);
        } catch (error) {
          // No subscriber any more: gone at once. No answer in time: gone after two pings in a row.
          const missed = (this.#missed.get(host) ?? 0) + 1;
          this.#missed.set(host, missed);
          gone = isNoResponders(error) || missed >= 2;
        }
        if (!gone || this.nc.isClosed()) return;
        this.#missed.delete(host);
        for (const call of this.#waiting.values()) {
          if (call.host === host) call.fail(new Error(`host ${host} stopped answering while it held the call`));
        }
      }),
    );
  }

  /** Records an answer in its host's figures; returns it. */
  answered(headers: MsgHdrs | undefined, sent: number, reply: WireMessage): WireMessage {
    this.figures.record(headers, performance.now() - sent, readEnvelope(reply.e).kind === Kind.Error);
    return reply;
  }

  get closed(): boolean {
    return this.#closed || this.nc.isClosed();
  }

  settled(): void {
    if (--this.inFlight === 0) this.#idle?.();
  }

  async close(wait: boolean): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (wait && this.inFlight > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
    this.durable.close();
    this.#accepted.unsubscribe();
    if (this.#watch) clearInterval(this.#watch);
    if (this.own) await this.nc.close().catch(() => undefined);
  }
}

/** One pool of the remote bridge: its calls go to the hosts of that pool. */
class RemoteBackend implements PoolBackend {
  readonly #link: Link;
  readonly #recycles = new Map<RecycleReason, number>();
  readonly #codecs: CodecCounts = { shared: 0, arrow: 0, clone: 0, msgpack: 0, copied: 0 };

  constructor(
    readonly name: string,
    link: Link,
  ) {
    this.#link = link;
  }

  get serving(): boolean {
    return !this.#link.closed;
  }

  async submit(message: WireMessage, options: SubmitOptions): Promise<WireMessage> {
    const link = this.#link;
    const tool = readEnvelope(message.e).tool;
    if (link.closed) throw new ClosedError();
    if (link.inFlight >= link.maxInFlight) throw new QueueFullError(link.maxInFlight);
    const { signal, deadline = 0 } = options;
    const left = deadline > 0 ? deadline - Date.now() : Infinity;
    if (left <= 0) throw new DeadlinePassed();
    const key = randomUUID();
    const h = natsHeaders();
    h.set(CALL_KEY, key);
    if (Number.isFinite(left)) h.set(TIME_LEFT, String(Math.ceil(left)));
    const body = writeWire(message);
    link.inFlight++;
    try {
      const sent = performance.now();
      if (message.d || link.durableByDefault) {
        // Aborted: the host running it (if one does yet) is told; a call still queued runs later, unanswered.
        signal?.addEventListener('abort', () => this.#cancel(key), { once: true });
        const answer = await link.durable.call(this.name, tool, key, body, h, signal);
        return link.answered(answer.headers, sent, readWire(answer.body));
      }
      h.set(ACCEPTED, link.acceptedSubject);
      const data = await link.payloads.outgoing(key, body, h);
      let unwatch = () => {};
      const hostGone = new Promise<never>((_, reject) => (unwatch = link.watch(key, reject)));
      hostGone.catch(() => undefined);
      try {
        const request = link.nc.request(link.subjects.call(tool), data, {
          timeout: Number.isFinite(left) ? Math.min(NO_LIMIT_MS, left + GRACE_MS) : NO_LIMIT_MS,
          headers: h,
        });
        const answered = Promise.race([request, hostGone]);
        const reply = await (signal ? raceAbort(answered, signal, () => this.#cancel(key)) : answered);
        return link.answered(reply.headers, sent, readWire(await link.payloads.incoming(reply.headers, reply.data)));
      } finally {
        unwatch();
      }
    } catch (error) {
      if (isNoResponders(error)) throw new UnavailableError(tool);
      throw error;
    } finally {
      link.settled();
    }
  }

  #cancel(key: string): void {
    if (!this.#link.nc.isClosed()) this.#link.nc.publish(this.#link.subjects.cancel(key));
  }

  idle(): boolean {
    return this.#link.inFlight < this.#link.maxInFlight;
  }

  recycles(): ReadonlyMap<RecycleReason, number> {
    return this.#recycles;
  }

  snapshot(): PoolStats {
    return {
      threads: 0,
      busy: this.#link.inFlight,
      queued: 0,
      utilization: 0,
      maxThreads: 0,
      maxQueue: this.#link.maxInFlight,
    };
  }

  codecs(): CodecCounts {
    return { ...this.#codecs };
  }

  workers(): WorkerStats[] {
    return [];
  }

  hosts(): Record<string, HostStats> {
    return this.#link.figures.snapshot();
  }

  async recycle(): Promise<void> {}

  close(): Promise<void> {
    return this.#link.close(true);
  }

  destroy(): Promise<void> {
    return this.#link.close(false);
  }
}

function isNoResponders(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const request = error as Error & { isNoResponders?: () => boolean };
  if (typeof request.isNoResponders === 'function' && request.isNoResponders()) return true;
  return (
    error.name === 'NoRespondersError' || (error.cause instanceof Error && error.cause.name === 'NoRespondersError')
  );
}

/** `promise`, or a rejection with the signal's reason once it fires (then `onAbort` runs). */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal, onAbort: () => void): Promise<T> {
  if (signal.aborted) {
    onAbort();
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      onAbort();
      reject(signal.reason);
    };
    signal.addEventListener('abort', abort, { once: true });
    promise.then(
      (value) => (signal.removeEventListener('abort', abort), resolve(value)),
      (error: unknown) => (signal.removeEventListener('abort', abort), reject(error)),
    );
  });
}

/**
 * A tool host: serves a local bridge's tools on NATS. Each tool's calls arrive on `<ns>.call.<tool>` in a
 * queue group named after the tool's pool (hosts of one pool share the load; named pools are host classes),
 * run through `bridge.call` or `bridge.batch` (their arrays already in shared memory: the worker hop copies
 * nothing), and go back as the worker's reply would.
 */
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import {
  connect as natsConnect,
  headers as natsHeaders,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import type { Bridge } from '../bridge-api.js';
import { toErrorRecord } from '../codec/error-record.js';
import { withModules } from '../codec/lazy-modules.js';
import { decodeMessage, encodeMessage, Kind, type CodecPolicy, type WireMessage } from '../codec/message.js';
import { InvalidArgsError, InvalidOptionsError, ToolBridgeError, describeValue } from '../errors.js';
import { checkKnownKeys } from '../known-keys.js';
import {
  ACCEPTED,
  CALL_KEY,
  HOST,
  LOAD,
  TIME_LEFT,
  checkNamespace,
  checkServers,
  subjects,
  type DurableOptions,
  type HostInfo,
} from './subjects.js';
import { readWire, writeWire } from './wire.js';
import { DurableWorker, openDurable } from './durable.js';
import { readEnvelope } from '../codec/envelope.js';
import { Payloads } from './payloads.js';

export interface ServeOptions {
  /** NATS server URL(s). @default 'nats://127.0.0.1:4222' */
  servers?: string | string[];
  /** Hosts and callers of one namespace see only each other (one subject token). @default 'toolbridge' */
  namespace?: string;
  /** This host's name in replies and in callers' stats. @default `<hostname>:<pid>:<random>` */
  name?: string;
  /** A connection to use instead of opening one (left open by `close()`). */
  connection?: NatsConnection;
  /**
   * Serve durable calls too (a JetStream work queue: the server must run with JetStream); `false` serves
   * request/reply calls only. Without JetStream on the server, durable calls are not served (a process
   * warning says so). @default true
   */
  durable?: boolean | DurableOptions;
}

export interface ToolHost {
  readonly name: string;
  /** Calls this host is running now. */
  readonly inFlight: number;
  /** Stops taking calls, finishes those it holds and answers them, then disconnects. The bridge stays open. */
  close(): Promise<void>;
}

/** Plain parts of values go as MessagePack between machines (structured clone is for threads of one process). */
export const REMOTE_CODEC: CodecPolicy = { msgpackThreshold: 0, flatMsgpackThreshold: 0 };

/** The error record a caller gets: a tool's own error as thrown (the caller wraps it in `TOOL_FAILED` again). */
function recordOf(error: unknown) {
  if (error instanceof ToolBridgeError && error.code === 'TOOL_FAILED' && error.cause instanceof Error) {
    return toErrorRecord(error.cause);
  }
  return toErrorRecord(error);
}

/** Serves `bridge`'s tools on NATS until `close()`. */
export async function serve(bridge: Bridge, options: ServeOptions = {}): Promise<ToolHost> {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionsError(`serve options must be an object, got ${describeValue(options)}`);
  }
  checkKnownKeys('options', options, ['servers', 'namespace', 'name', 'connection', 'durable']);
  const namespace = checkNamespace(options.namespace);
  const servers = checkServers(options.servers);
  const name = options.name ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const nc = options.connection ?? (await natsConnect({ servers, name: `toolbridge host ${name}` }));
  const host = new Host(bridge, nc, namespace, name, options.connection === undefined);
  await nc.flush();
  const durable = options.durable ?? true;
  if (durable !== false) {
    try {
      await host.serveDurable(namespace, durable === true ? {} : durable);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      const hint = /Cannot find (package|module)/.test(detail)
        ? 'install @nats-io/jetstream and @nats-io/kv'
        : 'does the server run with JetStream?';
      process.emitWarning(`toolbridge/nats: host ${name} does not serve durable calls: ${detail} (${hint})`, {
        code: 'TOOLBRIDGE_NATS',
      });
    }
  }
  return host;
}

class Host implements ToolHost {
  readonly #bridge: Bridge;
  readonly #nc: NatsConnection;
  readonly #ownConnection: boolean;
  readonly #subscriptions: Subscription[] = [];
  readonly #running = new Map<string, AbortController>();
  readonly #subjects: ReturnType<typeof subjects>;
  readonly #durable: DurableWorker[] = [];
  readonly #payloads: Payloads;
  #inFlight = 0;
  #served = 0;
  #idle: (() => void) | undefined;
  #closing: Promise<void> | undefined;

  constructor(
    bridge: Bridge,
    nc: NatsConnection,
    namespace: string,
    readonly name: string,
    own: boolean,
  ) {
    this.#bridge = bridge;
    this.#nc = nc;
    this.#ownConnection = own;
    this.#subjects = subjects(namespace);
    this.#payloads = new Payloads(nc, namespace);
    for (const tool of bridge.tools()) {
      this.#subscriptions.push(
        nc.subscribe(this.#subjects.call(tool.name), {
          queue: tool.pool,
          callback: (error, msg) => {
            if (!error) void this.#handle(msg);
          },
        }),
      );
    }
    this.#subscriptions.push(
      nc.subscribe(this.#subjects.discover, {
        callback: (error, msg) => {
          if (!error) msg.respond(JSON.stringify(this.#info()));
        },
      }),
      nc.subscribe(this.#subjects.ping(name), {
        callback: (error, msg) => {
          if (!error) msg.respond();
        },
      }),
      nc.subscribe(this.#subjects.cancelAll, {
        callback: (error, msg) => {
          if (!error) this.#running.get(msg.subject.slice(msg.subject.lastIndexOf('.') + 1))?.abort();
        },
      }),
    );
  }

  #load = '';
  #loadAt = -Infinity;

  /** Headers of an answer: this host, and its load (the pools' queue read at most every 250 ms). */
  headers(): MsgHdrs {
    const h = natsHeaders();
    h.set(HOST, this.name);
    const now = performance.now();
    if (now - this.#loadAt > 250) {
      const queued = Object.values(this.#bridge.stats().pools).reduce((n, pool) => n + pool.queued, 0);
      this.#load = String(queued);
      this.#loadAt = now;
    }
    h.set(LOAD, `${this.inFlight} ${this.#load} ${this.#served}`);
    return h;
  }

  get inFlight(): number {
    return this.#inFlight + this.#durable.reduce((n, worker) => n + worker.running, 0);
  }

  /** Pulls durable calls of each pool this host serves, as many at once as the pool has threads. */
  async serveDurable(namespace: string, options: DurableOptions): Promise<void> {
    const clients = await openDurable(this.#nc, namespace, options);
    const pools = [...new Set(this.#bridge.tools().map((tool) => tool.pool))];
    for (const pool of pools) {
      const worker = new DurableWorker(
        this.#nc,
        namespace,
        pool,
        () => this.#bridge.stats().pools[pool]?.maxThreads ?? 1,
        (body, left, key, refusal) => this.#durableCall(body, left, key, refusal),
        options,
        this.#payloads,
        () => this.headers(),
      );
      await worker.start(clients);
      this.#durable.push(worker);
    }
  }

  async #durableCall(body: Uint8Array, left: number, key: string, refusal: string | undefined): Promise<Uint8Array> {
    const controller = new AbortController();
    if (key) this.#running.set(key, controller);
    try {
      if (refusal !== undefined) {
        const { callId, tool } = readEnvelope(readWire(body).e);
        const failed = { kind: Kind.Error, callId, tool, deadline: 0, error: toErrorRecord(new Error(refusal)) };
        return writeWire((await withModules(() => encodeMessage(failed, undefined, REMOTE_CODEC, 'error'))).message);
      }
      return writeWire(await this.#run(body, left, controller.signal));
    } finally {
      if (key) this.#running.delete(key);
      this.#served++;
    }
  }

  #info(): HostInfo {
    return {
      host: this.name,
      tools: this.#bridge.tools().map((t) => ({
        name: t.name,
        description: t.description,
        version: t.version,
        idempotent: t.idempotent,
        timeoutMs: t.timeoutMs ?? null,
        retries: t.retries,
        pool: t.pool,
        ...(t.inputSchema ? { inputSchema: t.inputSchema } : {}),
        ...(t.outputSchema ? { outputSchema: t.outputSchema } : {}),
        ...(t.annotations ? { annotations: { ...t.annotations } } : {}),
      })),
      inFlight: this.#inFlight,
      served: this.#served,
    };
  }

  async #handle(msg: Msg): Promise<void> {
    const key = msg.headers?.get(CALL_KEY) ?? '';
    const left = Number(msg.headers?.get(TIME_LEFT) || Infinity);
    const controller = new AbortController();
    if (key) this.#running.set(key, controller);
    this.#inFlight++;
    // Tell the caller which host took the call: it watches this host while it waits.
    const accepted = msg.headers?.get(ACCEPTED);
    if (accepted && key) this.#nc.publish(accepted, `${key} ${this.name}`);
    let reply: WireMessage;
    try {
      reply = await this.#run(await this.#payloads.incoming(msg.headers, msg.data), left, controller.signal);
    } catch (error) {
      // The body could not be read or the reply not be made: the caller gets the error, not silence.
      const record = toErrorRecord(error instanceof ToolBridgeError ? error : new InvalidArgsError(String(error)));
      reply = (
        await withModules(() =>
          encodeMessage(
            { kind: Kind.Error, callId: 0, tool: '', deadline: 0, error: record },
            undefined,
            REMOTE_CODEC,
            'error',
          ),
        )
      ).message;
    } finally {
      if (key) this.#running.delete(key);
    }
    this.#served++;
    try {
      const h = this.headers();
      if (!controller.signal.aborted) {
        const body = await this.#payloads.outgoing(`${key || randomUUID()}-answer`, writeWire(reply), h);
        msg.respond(body, { headers: h });
      }
    } catch {
      // The answer could not be sent (the connection went): the caller's time limit ends its wait.
    } finally {
      if (--this.#inFlight === 0) this.#idle?.();
    }
  }

  async #run(body: Uint8Array, left: number, signal: AbortSignal): Promise<WireMessage> {
    const { fields, value } = await withModules(() => decodeMessage(readWire(body)));
    const { tool, callId } = fields;
    const timeoutMs = Number.isFinite(left) ? Math.max(1, left) : undefined;
    const head = { kind: Kind.Result, callId, tool, deadline: 0 };
    if (fields.count) {
      const list = Array.isArray(value) ? (value as unknown[]) : [];
      const entries = await this.#bridge.batch(
        list.map((args) => ({ tool, args })),
        { signal, ...(timeoutMs !== undefined ? { timeoutMs } : {}) },
      );
      const values = new Array<unknown>(list.length);
      let errors: Record<number, ReturnType<typeof toErrorRecord>> | undefined;
      entries.forEach((entry, i) => {
        if (entry.ok) values[i] = entry.value;
        else (errors ??= {})[i] = recordOf(entry.error);
      });
      const result = errors ? { v: values, e: errors } : { v: values };
      return (await withModules(() => encodeMessage({ ...head, independentDepth: 2 }, result, REMOTE_CODEC, 'result')))
        .message;
    }
    try {
      const result = await this.#bridge.call(tool, value, {
        signal,
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      });
      return (await withModules(() => encodeMessage(head, result, REMOTE_CODEC, 'result'))).message;
    } catch (error) {
      const failed = { ...head, kind: Kind.Error, error: recordOf(error) };
      return (await withModules(() => encodeMessage(failed, undefined, REMOTE_CODEC, 'error'))).message;
    }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      // No new calls: messages already delivered to this host are still handled.
      await Promise.all([
        ...this.#subscriptions.map((sub) => sub.drain().catch(() => undefined)),
        ...this.#durable.map((worker) => worker.stop()),
      ]);
      if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
      await this.#nc.flush().catch(() => undefined);
      if (this.#ownConnection) await this.#nc.close();
    })();
    return this.#closing;
  }
}

/**
 * A bridge's sessions (`bridge.open`): the registered session kinds, opening one on a worker of its pool,
 * and closing them all when the bridge closes.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { encodeArgs, readReply } from '../call/replies.js';
import type { CodecPolicy, WireMessage } from '../codec/message.js';
import { DeadlinePassed, type PoolBackend, type SessionOpened } from '../dispatch/dispatcher.js';
import {
  AbortedError,
  ClosedError,
  InvalidOptionsError,
  TimeoutError,
  ToolBridgeError,
  ToolNotFoundError,
  UnavailableError,
  WorkerCrashedError,
  describeValue,
} from '../errors.js';
import { checkKnownKeys } from '../known-keys.js';
import { ledger } from '../memory/ledger.js';
import type { StatsRecorder } from '../telemetry/stats.js';
import { isPositiveNumber } from '../tool/define.js';
import type { SessionInfo } from '../tool/session.js';
import { SessionClient, type Session } from './client.js';

/** Options of `bridge.open`. */
export interface OpenOptions {
  /** Closes the session after this long without a call, in ms; overrides the session's own. */
  idleTimeoutMs?: number;
  /** Time limit for opening it (its `create`), in ms. @default the bridge's `timeoutMs` */
  timeoutMs?: number;
  /** Aborts the opening (not the session once open). */
  signal?: AbortSignal;
}

const OPEN_KEYS = ['idleTimeoutMs', 'timeoutMs', 'signal'] as const satisfies ReadonlyArray<keyof OpenOptions>;

function checkOpenOptions(options: OpenOptions | undefined): OpenOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionsError(`open options must be an object, got ${describeValue(options)}`);
  }
  checkKnownKeys('options', options, OPEN_KEYS);
  for (const key of ['idleTimeoutMs', 'timeoutMs'] as const) {
    const value = options[key];
    if (value !== undefined && !isPositiveNumber(value)) {
      throw new InvalidOptionsError(
        `options.${key} must be a positive number of milliseconds or Infinity, got ${describeValue(value)}`,
      );
    }
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new InvalidOptionsError(`options.signal must be an AbortSignal, got ${describeValue(options.signal)}`);
  }
  return options;
}

let nextSessionId = 1;

/** The longest delay `AbortSignal.timeout` takes. */
const MAX_TIMER_MS = 4_294_967_295;

export interface SessionsDeps {
  policy: CodecPolicy;
  stats: StatsRecorder;
  /** The bridge's default time limit, for opening. */
  timeoutMs: number;
  pools: ReadonlyMap<string, PoolBackend>;
}

export class Sessions {
  readonly #catalog: ReadonlyMap<string, SessionInfo>;
  readonly #deps: SessionsDeps;
  readonly #open = new Set<SessionClient>();
  #closed = false;

  constructor(catalog: readonly SessionInfo[], deps: SessionsDeps) {
    this.#catalog = new Map(catalog.map((info) => [info.name, Object.freeze({ ...info })]));
    this.#deps = deps;
  }

  list(): SessionInfo[] {
    return [...this.#catalog.values()];
  }

  async open(name: string, args: unknown, given: OpenOptions | undefined): Promise<Session> {
    if (this.#closed) throw new ClosedError();
    const options = checkOpenOptions(given);
    const info = this.#catalog.get(name);
    if (info === undefined) throw new ToolNotFoundError(String(name), [...this.#catalog.keys()]);
    const pool = this.#deps.pools.get(info.pool);
    if (pool?.openSession === undefined) {
      throw new UnavailableError(name, 'sessions run on the workers of a local bridge only');
    }
    const { policy, stats } = this.#deps;
    const id = nextSessionId++;
    // A limit past what a timer can hold (~49 days) is no limit.
    const limit = options.timeoutMs ?? this.#deps.timeoutMs;
    const timeoutMs = limit > MAX_TIMER_MS ? Infinity : limit;
    const deadline = timeoutMs === Infinity ? 0 : Date.now() + timeoutMs;
    const encoded = await encodeArgs({ callId: id, tool: name, deadline }, args, policy);
    stats.sessionBytes(name, encoded.sharedBytes, encoded.copiedBytes);
    stats.codecs(encoded.counts);
    const { port1, port2 } = new MessageChannel();
    const message: WireMessage & { s: MessagePort } = { ...encoded.message, s: port2 };
    const fail = (error: unknown): never => {
      port1.close();
      if (encoded.copy) ledger().releaseHandle(encoded.copy);
      throw error;
    };
    let opened: SessionOpened;
    const timer = timeoutMs === Infinity ? undefined : AbortSignal.timeout(timeoutMs);
    const signals = [options.signal, timer].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals);
    try {
      opened = await pool.openSession(message, { transferList: [port2], signal, deadline });
    } catch (error) {
      return fail(openError(name, error, options.signal, timer, timeoutMs));
    }
    let methods: string[];
    try {
      const value = (await readReply(
        opened.reply,
        name,
        () => [...this.#catalog.keys()],
        (shared, copied) => stats.sessionBytes(name, shared, copied),
      )) as { methods: string[] };
      methods = value.methods;
    } catch (error) {
      opened.lease.release();
      return fail(error);
    }
    if (this.#closed) {
      opened.lease.release();
      return fail(new ClosedError());
    }
    const client = new SessionClient(
      name,
      id,
      port1,
      opened.lease,
      methods,
      encoded.copy,
      options.idleTimeoutMs ?? info.idleTimeoutMs,
      { policy, stats, known: () => [...this.#catalog.keys()], ended: (ended) => this.#open.delete(ended) },
    );
    if (client.open) this.#open.add(client);
    return client.proxy;
  }

  /** Refuses new sessions and closes the open ones (each waits for its calls). */
  async closeAll(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#open].map((client) => client.close('its bridge closed').catch(() => undefined)));
  }

  /** Refuses new sessions and ends the open ones at once. */
  abandonAll(): void {
    this.#closed = true;
    for (const client of [...this.#open]) client.abandon('its bridge was destroyed');
  }
}

/** The typed error of an open that did not reach its `create`, or did not come back. */
function openError(
  name: string,
  error: unknown,
  signal: AbortSignal | undefined,
  timer: AbortSignal | undefined,
  timeoutMs: number,
): ToolBridgeError {
  if (signal?.aborted) return new AbortedError(name, signal.reason);
  if (timer?.aborted || error instanceof DeadlinePassed) return new TimeoutError(name, timeoutMs);
  if (error instanceof ToolBridgeError) return error;
  return new WorkerCrashedError(name, error);
}

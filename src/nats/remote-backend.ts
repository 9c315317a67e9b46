/** The dispatch seam over NATS: each pool of a remote bridge is a `RemoteBackend` sharing one `Link`. */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { headers as natsHeaders, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { Kind, type WireMessage } from '../codec/message.js';
import { readEnvelope } from '../codec/envelope.js';
import { DeadlinePassed, type PoolBackend, type SubmitOptions } from '../dispatch/dispatcher.js';
import { ClosedError, QueueFullError, UnavailableError } from '../errors.js';
import type { CodecCounts, RecycleReason, WorkerStats } from '../telemetry/events.js';
import type { HostStats, PoolStats } from '../telemetry/stats.js';
import { ACCEPTED, CALL_KEY, TIME_LEFT, subjects } from './subjects.js';
import { readWire, writeWire } from './wire.js';
import { DurableCaller } from './durable.js';
import { Payloads } from './payloads.js';
import { HostFigures } from './host-figures.js';

/** A call with no time limit waits this long for its host (the longest timer NATS takes). */
const NO_LIMIT_MS = 2 ** 31 - 1;
/** A request's own timer runs this much past the call's deadline: the caller's timer ends it first. */
const GRACE_MS = 1_000;

/** The connection the pools share: requests in flight, their bound, closing. */
export class Link {
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
export class RemoteBackend implements PoolBackend {
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
      sentAhead: 0,
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

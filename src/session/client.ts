/**
 * The caller's side of a session (`bridge.open`): a comlink remote of the worker's session port, behind a
 * proxy whose methods encode their args with toolbridge's codec, count the session's calls and bytes, and
 * turn the worker's answers into values or typed errors (`SESSION_CLOSED`, `SESSION_LOST`, `TOOL_FAILED`).
 */
import { performance } from 'node:perf_hooks';
import type { MessagePort } from 'node:worker_threads';
import { releaseProxy, wrap, type Endpoint, type Remote } from 'comlink';
import { encodeArgs, readReply } from '../call/replies.js';
import type { CodecPolicy, WireMessage } from '../codec/message.js';
import type { WorkerLease } from '../dispatch/dispatcher.js';
import { isFailure, SessionClosedError, SessionLostError, ToolBridgeError } from '../errors.js';
import { ledger } from '../memory/ledger.js';
import type { StatsRecorder } from '../telemetry/stats.js';
import type { SessionDefinition } from '../tool/session.js';
import { isScalar, Packed, registerPacked, type Scalar, type SessionPort } from './port.js';

/** A method of a session's object, as the caller sees it: the same arguments, a promise of the result. */
type Promised<F> = F extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;

/**
 * An open session as `bridge.open` returns it: the methods of the object the session's `create` returned,
 * each returning a promise, plus `close()` (and `Symbol.asyncDispose`, for `await using`). `T` is that
 * object's type, or the session's definition (`typeof index`).
 */
export type Session<T = Record<string, (...args: never[]) => unknown>> = {
  readonly [
    K in keyof SessionObject<T> as SessionObject<T>[K] extends (...args: never[]) => unknown
      ? K extends 'close'
        ? never
        : K
      : never
  ]: Promised<SessionObject<T>[K]>;
} & SessionControl;

type SessionObject<T> = T extends SessionDefinition<never, infer O> ? O : T;

/** What every session has besides its object's methods. */
export interface SessionControl extends AsyncDisposable {
  /**
   * Closes the session: waits for its calls in flight, runs its object's `close()` if it has one, and frees
   * the object. Later calls reject with `SESSION_CLOSED`. Closing twice is one close.
   */
  close(): Promise<void>;
  /** Whether it is still open (not closed, not lost). */
  readonly open: boolean;
}

/** What a session needs from its bridge. */
export interface SessionDeps {
  policy: CodecPolicy;
  stats: StatsRecorder;
  known: () => readonly string[];
  /** Told once the session has ended (closed or lost). */
  ended: (client: SessionClient) => void;
}

const STATE_OPEN = 0;
const STATE_CLOSED = 1;
const STATE_LOST = 2;

/** One open session on the caller's side. */
export class SessionClient {
  readonly name: string;
  readonly id: number;
  readonly #remote: Remote<SessionPort>;
  readonly #port: MessagePort;
  readonly #lease: WorkerLease;
  readonly #deps: SessionDeps;
  readonly #methods: ReadonlySet<string>;
  /** The shared copies made for the session's `open` args: the worker holds views of them while it lives. */
  readonly #argsCopy: SharedArrayBuffer | undefined;
  readonly #idleTimeoutMs: number;
  #state = STATE_OPEN;
  #why = '';
  #lostError: SessionLostError | undefined;
  /** Rejects the calls in flight when the session is lost. */
  readonly #inFlight = new Set<(error: ToolBridgeError) => void>();
  #closing: Promise<void> | undefined;
  /** Calls made and not yet answered. */
  readonly #calls = new Set<Promise<void>>();
  #idleTimer: NodeJS.Timeout | undefined;
  readonly proxy: Session;

  constructor(
    name: string,
    id: number,
    port: MessagePort,
    lease: WorkerLease,
    methods: readonly string[],
    argsCopy: SharedArrayBuffer | undefined,
    idleTimeoutMs: number,
    deps: SessionDeps,
  ) {
    registerPacked();
    this.name = name;
    this.id = id;
    this.#port = port;
    this.#lease = lease;
    this.#deps = deps;
    this.#methods = new Set(methods);
    this.#argsCopy = argsCopy;
    this.#idleTimeoutMs = idleTimeoutMs;
    this.#remote = wrap<SessionPort>(port as unknown as Endpoint);
    // An idle session does not keep the process alive; one with calls in flight does (see #begin).
    port.unref();
    deps.stats.sessionOpened(name, lease.workerId);
    this.proxy = this.#makeProxy();
    this.#armIdle();
    // Lost when the pool has seen its worker exit (not at the port's close, which comes first: by then the
    // pool would still hand calls to that worker). Last: a worker already gone ends the session at once.
    lease.whenGone((detail) => this.#lose(detail));
  }

  get open(): boolean {
    return this.#state === STATE_OPEN && this.#closing === undefined;
  }

  /** Runs a method of the session's object in its worker. A call made before `close()` still runs. */
  call(method: string, args: unknown[]): Promise<unknown> {
    if (!this.open) return Promise.reject(this.#endedError());
    const call = this.#call(method, args);
    const settled = call.then(
      () => void this.#calls.delete(settled),
      () => void this.#calls.delete(settled),
    );
    this.#calls.add(settled);
    return call;
  }

  async #call(method: string, args: unknown[]): Promise<unknown> {
    const start = performance.now();
    // Scalars only (numbers, strings, ...) cross as they are: no codec either way, nothing to count.
    let payload: Packed | Scalar[];
    let copy: SharedArrayBuffer | undefined;
    if (args.every(isScalar)) {
      payload = args;
    } else {
      const encoded = await encodeArgs({ callId: this.id, tool: `${this.name}.${method}` }, args, this.#deps.policy);
      this.#deps.stats.sessionBytes(this.name, encoded.sharedBytes, encoded.copiedBytes);
      this.#deps.stats.codecs(encoded.counts);
      payload = new Packed(encoded.message);
      copy = encoded.copy;
    }
    if (this.#state !== STATE_OPEN) {
      if (copy) ledger().releaseHandle(copy);
      throw this.#endedError();
    }
    let failed = true;
    this.#begin();
    try {
      const reply = await this.#answer(this.#remote.invoke(method, payload));
      const value = isScalar(reply) ? reply : await this.#read(reply, method);
      failed = false;
      return value;
    } catch (error) {
      failed = isFailure(error);
      throw error;
    } finally {
      if (copy) ledger().releaseHandle(copy);
      this.#end();
      this.#deps.stats.sessionCall(this.name, performance.now() - start, failed);
    }
  }

  /** Closes the session (once): waits for its calls, runs the object's `close()`, frees it. */
  close(why = 'it was closed'): Promise<void> {
    // Lost, or ended at once by a destroy: nothing is left to close.
    if (this.#state !== STATE_OPEN) return this.#closing ?? Promise.resolve();
    this.#closing ??= (async () => {
      this.#why = why;
      clearTimeout(this.#idleTimer);
      let failure: unknown;
      // The calls made before close() go first (the worker then runs them before the object's close).
      await Promise.all(this.#calls);
      if (this.#state !== STATE_OPEN) return;
      try {
        this.#begin();
        const reply = await this.#answer(this.#remote.close());
        if (!isScalar(reply)) await this.#read(reply, 'close');
      } catch (error) {
        // A session lost meanwhile is ended already; an object whose close() threw is closed all the same.
        if (!(error instanceof SessionLostError)) failure = error;
      } finally {
        this.#end();
      }
      this.#finish(STATE_CLOSED);
      if (failure !== undefined) throw failure;
    })();
    return this.#closing;
  }

  /** The session's worker is gone: its calls in flight and later ones reject with `SESSION_LOST`. */
  #lose(detail: string): void {
    if (this.#state !== STATE_OPEN) return;
    // A port closed by the session's own close is no loss.
    if (this.#closing !== undefined && this.#inFlight.size === 0) return;
    this.#lostError = new SessionLostError(this.name, detail);
    for (const reject of this.#inFlight) reject(this.#lostError);
    this.#inFlight.clear();
    this.#finish(STATE_LOST);
  }

  /**
   * Ends the session at once (its bridge is being destroyed): calls in flight and later ones reject with
   * `SESSION_CLOSED`; the object's `close()` does not run.
   */
  abandon(why: string): void {
    if (this.#state !== STATE_OPEN) return;
    this.#why = why;
    const error = new SessionClosedError(this.name, why);
    for (const reject of this.#inFlight) reject(error);
    this.#inFlight.clear();
    this.#finish(STATE_CLOSED, false);
  }

  /** Ends the session: frees the worker's lease, the port and the args' copies. */
  #finish(state: number, release = state === STATE_CLOSED): void {
    if (this.#state !== STATE_OPEN) return;
    this.#state = state;
    clearTimeout(this.#idleTimer);
    if (release) {
      // Tells the worker's comlink to let go; it closes its end of the port, and then this one.
      this.#remote[releaseProxy]();
    } else {
      this.#port.close();
    }
    if (this.#argsCopy) ledger().releaseHandle(this.#argsCopy);
    this.#lease.release();
    this.#deps.stats.sessionEnded(this.name, this.#lease.workerId, state === STATE_LOST);
    this.#deps.ended(this);
  }

  /** The worker's answer (an encoded message, or a scalar as it is), or `SESSION_LOST` once the worker is gone. */
  #answer(reply: Promise<Packed | Scalar>): Promise<WireMessage | Scalar> {
    return new Promise<WireMessage | Scalar>((resolve, reject) => {
      if (this.#lostError) return reject(this.#lostError);
      this.#inFlight.add(reject);
      reply.then(
        (packed) => {
          this.#inFlight.delete(reject);
          resolve(packed instanceof Packed ? packed.message : packed);
        },
        (error: unknown) => {
          this.#inFlight.delete(reject);
          reject(this.#lostError ?? new SessionLostError(this.name, 'its port failed', { cause: error }));
        },
      );
    });
  }

  /** A reply's value (its shared memory adopted), or the typed error the method threw. */
  #read(reply: WireMessage, method: string): Promise<unknown> {
    return readReply(reply, `${this.name}.${method}`, this.#deps.known, (shared, copied) =>
      this.#deps.stats.sessionBytes(this.name, shared, copied),
    );
  }

  #begin(): void {
    clearTimeout(this.#idleTimer);
    if (this.#inFlight.size === 0) this.#port.ref();
    this.#lease.begin();
  }

  #end(): void {
    this.#lease.end();
    if (this.#inFlight.size === 0) {
      this.#port.unref();
      this.#armIdle();
    }
  }

  /** Closes the session once it has had no call for its idle timeout. */
  #armIdle(): void {
    if (this.#idleTimeoutMs === Infinity || !this.open) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      if (this.#inFlight.size === 0) void this.close('it was idle').catch(() => undefined);
    }, this.#idleTimeoutMs).unref();
  }

  #endedError(): ToolBridgeError {
    return this.#lostError ?? new SessionClosedError(this.name, this.#why || 'it was closed');
  }

  /** The object callers hold: `close`, `open`, and a function per method of the session's object. */
  #makeProxy(): Session {
    const isOpen = () => this.open;
    const control: SessionControl = {
      close: () => this.close(),
      [Symbol.asyncDispose]: () => this.close(),
      get open() {
        return isOpen();
      },
    };
    const bound = new Map<string, (...args: unknown[]) => Promise<unknown>>();
    const method = (name: string) => {
      let fn = bound.get(name);
      if (fn === undefined) bound.set(name, (fn = (...args: unknown[]) => this.call(name, args)));
      return fn;
    };
    const isMethod = (target: object, prop: string | symbol): prop is string =>
      typeof prop === 'string' && !(prop in target) && this.#methods.has(prop);
    return new Proxy(control, {
      get: (target, prop, receiver) =>
        isMethod(target, prop) ? method(prop) : (Reflect.get(target, prop, receiver) as unknown),
      has: (target, prop) => prop in target || isMethod(target, prop),
      ownKeys: (target) => [...Reflect.ownKeys(target), ...[...this.#methods].filter((name) => !(name in target))],
      getOwnPropertyDescriptor: (target, prop) =>
        isMethod(target, prop)
          ? { configurable: true, enumerable: true, writable: false, value: method(prop) }
          : Reflect.getOwnPropertyDescriptor(target, prop),
    }) as unknown as Session;
  }
}

/**
 * The worker side of a session (`defineSession`): exposes a session's object on its port through comlink,
 * runs its methods one at a time (unless the session is concurrent), and closes it. Loaded by the runtime
 * on the first session a worker opens.
 */
import type { MessagePort } from 'node:worker_threads';
import { expose, type Endpoint } from 'comlink';
import type { WireMessage } from '../src/codec/message.js';
import { isScalar, Packed, registerPacked, type Scalar, type SessionPort } from '../src/session/port.js';

export interface HostOptions {
  concurrent: boolean;
  /** Aborted once the session is closed (the `signal` of its `create` context). */
  controller: AbortController;
  /**
   * Runs one method call: decodes its args (or takes a list of scalars as it is), runs it, and gives a scalar
   * result as it is, or encodes the result or the error.
   */
  call(method: string, args: WireMessage | Scalar[]): Promise<WireMessage | Scalar>;
  /** Runs the object's own `close()`, encoding what it returned or threw. */
  close(): Promise<WireMessage>;
}

/** Serves a session's object on `port` until the session closes or the port does. */
export function serveSession(port: MessagePort, options: HostOptions): void {
  registerPacked();
  let tail: Promise<unknown> = Promise.resolve();
  let closed: Promise<Packed> | undefined;
  /** Calls running now (a concurrent session's close waits for them). */
  const running = new Set<Promise<unknown>>();
  const inTurn = <T>(work: () => Promise<T>): Promise<T> => {
    if (options.concurrent) {
      const call = work();
      const settled: Promise<void> = call.then(
        () => void running.delete(settled),
        () => void running.delete(settled),
      );
      running.add(settled);
      return call;
    }
    const next = tail.then(work, work);
    tail = next.catch(() => undefined);
    return next;
  };
  const api: SessionPort = {
    invoke: (method, args) =>
      inTurn(() => options.call(method, args instanceof Packed ? args.message : args)).then((reply) =>
        isScalar(reply) ? reply : new Packed(reply),
      ),
    close: () =>
      (closed ??= (async () => {
        // After the calls in flight: in turn for a serial session, all of them for a concurrent one.
        if (options.concurrent) await Promise.all(running);
        else await tail;
        try {
          return new Packed(await options.close());
        } finally {
          options.controller.abort(new Error('the session was closed'));
        }
      })()),
  };
  // A caller gone without closing (its port closed): the session ends all the same.
  port.once('close', () => void api.close());
  expose(api, port as unknown as Endpoint);
}

/** The names of an object's methods (own and inherited, up to `Object.prototype`), but `close`. */
export function methodsOf(object: object): string[] {
  const names = new Set<string>();
  for (let proto: object | null = object; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name === 'constructor' || name === 'close' || names.has(name)) continue;
      const descriptor = Object.getOwnPropertyDescriptor(proto, name);
      if (typeof descriptor?.value === 'function') names.add(name);
    }
  }
  return [...names];
}

/**
 * Durable calls: a JetStream work queue with explicit acks. A caller publishes the call (its id as the
 * message id, so a retried publish is stored once) and waits for the answer on its own reply subject; a host
 * pulls only as many calls as it has free threads, keeps the ack alive while a call runs, stores the answer
 * in a results bucket keyed by the call's id, answers, then acks. A call whose host dies before the ack is
 * delivered again to another host; one whose answer is already stored is answered from the store, not run
 * again. A call delivered `maxDeliveries` times without an answer is answered with an error, not run again.
 *
 * The JetStream and KV clients load on first use: sync-only users need `@nats-io/transport-node` alone.
 */
import type { MsgHdrs, NatsConnection, Subscription } from '@nats-io/transport-node';
import { headers as natsHeaders, nanos } from '@nats-io/transport-node';
import { OBJECT, Payloads } from './payloads.js';
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { QueueFullError } from '../errors.js';
import type { DurableOptions } from './subjects.js';

export const durableNames = (namespace: string) => ({
  stream: `${namespace}_calls`,
  results: `${namespace}_results`,
  subject: (pool: string, tool: string) => `${namespace}.durable.${pool}.${tool}`,
  poolFilter: (pool: string) => `${namespace}.durable.${pool}.>`,
  consumer: (pool: string) => `pool_${pool}`,
});

/** Headers of a durable call: the subject its answer goes to. */
export const REPLY_TO = 'tb-reply';

interface Clients {
  js: JetStreamClient;
  results: KV;
  /** The stream's bound on queued calls (whoever made the stream chose it). */
  maxQueued: number;
}

/** The stream and the results bucket, made if missing (by whichever host or caller comes first). */
export async function openDurable(
  nc: NatsConnection,
  namespace: string,
  options: DurableOptions = {},
): Promise<Clients> {
  const [{ jetstream, jetstreamManager, RetentionPolicy, StorageType, DiscardPolicy }, { Kvm }] = await Promise.all([
    import('@nats-io/jetstream'),
    import('@nats-io/kv'),
  ]);
  const names = durableNames(namespace);
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(names.stream);
  } catch {
    await jsm.streams
      .add({
        name: names.stream,
        subjects: [`${namespace}.durable.>`],
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        discard: DiscardPolicy.New,
        max_msgs: options.maxQueued ?? 100_000,
        duplicate_window: nanos(120_000),
      })
      .catch(async (error: unknown) => {
        // Made meanwhile by another host or caller.
        await jsm.streams.info(names.stream).catch(() => Promise.reject(error));
      });
  }
  const results = await new Kvm(nc).create(names.results, { ttl: options.resultTtlMs ?? 600_000 });
  const maxQueued = (await jsm.streams.info(names.stream)).config.max_msgs;
  return { js: jetstream(nc), results, maxQueued };
}

/** The caller's side: publishes durable calls and matches their answers. */
export class DurableCaller {
  readonly #nc: NatsConnection;
  readonly #names: ReturnType<typeof durableNames>;
  readonly #inbox: string;
  readonly #waiting = new Map<string, (data: Uint8Array, headers: MsgHdrs | undefined) => void>();
  readonly #payloads: Payloads;
  #clients: Promise<Clients> | undefined;
  #subscription: Subscription | undefined;

  constructor(
    nc: NatsConnection,
    readonly namespace: string,
    id: string,
  ) {
    this.#nc = nc;
    this.#names = durableNames(namespace);
    this.#inbox = `${namespace}.answers.${id}`;
    this.#payloads = new Payloads(nc, namespace);
  }

  #open(): Promise<Clients> {
    this.#clients ??= openDurable(this.#nc, this.namespace).then((clients) => {
      this.#subscription = this.#nc.subscribe(`${this.#inbox}.*`, {
        callback: (error, msg) => {
          if (error) return;
          const key = msg.subject.slice(this.#inbox.length + 1);
          this.#waiting.get(key)?.(msg.data, msg.headers);
        },
      });
      return clients;
    });
    return this.#clients;
  }

  /**
   * Publishes call `key` of `tool` in `pool` and resolves with its answer's body. `signal` stops the wait
   * (the call stays queued and may still run: its answer is then dropped).
   */
  async call(
    pool: string,
    tool: string,
    key: string,
    body: Uint8Array,
    h: MsgHdrs,
    signal?: AbortSignal,
  ): Promise<{ body: Uint8Array; headers: MsgHdrs | undefined }> {
    const { js, maxQueued } = await this.#open();
    const answer = new Promise<{ data: Uint8Array; headers: MsgHdrs | undefined }>((resolve, reject) => {
      const abort = () => {
        this.#waiting.delete(key);
        reject(signal!.reason);
      };
      this.#waiting.set(key, (data, headers) => {
        this.#waiting.delete(key);
        signal?.removeEventListener('abort', abort);
        resolve({ data, headers });
      });
      if (signal?.aborted) abort();
      else signal?.addEventListener('abort', abort, { once: true });
    });
    h.set(REPLY_TO, `${this.#inbox}.${key}`);
    try {
      const data = await this.#payloads.outgoing(key, body, h);
      await js.publish(this.#names.subject(pool, tool), data, { msgID: key, headers: h });
    } catch (error) {
      this.#waiting.delete(key);
      if (error instanceof Error && /maximum messages|resource limits/i.test(error.message)) {
        throw new QueueFullError(maxQueued);
      }
      throw error;
    }
    const { data, headers } = await answer;
    // The answer's object stays for a retried call (the payload bucket's TTL removes it).
    return { body: await this.#payloads.incoming(headers, data, true), headers };
  }

  close(): void {
    this.#subscription?.unsubscribe();
  }
}

/** One pool's pull loop on a host: at most `threads()` calls held at once. */
export class DurableWorker {
  readonly #nc: NatsConnection;
  readonly #names: ReturnType<typeof durableNames>;
  readonly #options: Required<Pick<DurableOptions, 'ackWaitMs' | 'maxDeliveries'>>;
  readonly #payloads: Payloads;
  #running = 0;
  #stopped = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  constructor(
    nc: NatsConnection,
    namespace: string,
    readonly pool: string,
    readonly threads: () => number,
    /** Runs a call's body with `left` ms (Infinity: no limit); with `refusal`, answers that error instead. */
    readonly run: (body: Uint8Array, left: number, key: string, refusal?: string) => Promise<Uint8Array>,
    options: DurableOptions,
    payloads: Payloads,
    /** Headers of an answer (the host, its load). */
    readonly answerHeaders: () => MsgHdrs,
  ) {
    this.#nc = nc;
    this.#payloads = payloads;
    this.#names = durableNames(namespace);
    this.#options = { ackWaitMs: options.ackWaitMs ?? 30_000, maxDeliveries: options.maxDeliveries ?? 5 };
  }

  get running(): number {
    return this.#running;
  }

  async start(clients: Clients): Promise<void> {
    const { AckPolicy } = await import('@nats-io/jetstream');
    const jsm = await clients.js.jetstreamManager();
    const name = this.#names.consumer(this.pool);
    await jsm.consumers
      .add(this.#names.stream, {
        durable_name: name,
        ack_policy: AckPolicy.Explicit,
        filter_subject: this.#names.poolFilter(this.pool),
        ack_wait: nanos(this.#options.ackWaitMs),
        max_deliver: this.#options.maxDeliveries,
      })
      .catch(async (error: unknown) => {
        await jsm.consumers.info(this.#names.stream, name).catch(() => Promise.reject(error));
      });
    const consumer = await clients.js.consumers.get(this.#names.stream, name);
    this.#loop = (async () => {
      while (!this.#stopped) {
        const free = this.threads() - this.#running;
        if (free <= 0) {
          await new Promise<void>((resolve) => (this.#wake = resolve));
          continue;
        }
        try {
          const batch = await consumer.fetch({ max_messages: free, expires: 1_000 });
          for await (const msg of batch) {
            this.#running++;
            void this.#handle(msg, clients).finally(() => {
              this.#running--;
              this.#wake?.();
            });
          }
        } catch {
          if (this.#stopped || this.#nc.isClosed()) return;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    })();
  }

  async #handle(msg: JsMsg, { results }: Clients): Promise<void> {
    const key = msg.headers?.get('tb-call') ?? '';
    const replyTo = msg.headers?.get(REPLY_TO) ?? '';
    // Acks and answers on a connection that has gone (this host is being stopped) are dropped: the call is
    // delivered again to another host after the ack wait.
    const quietly = (operation: () => void) => {
      try {
        if (!this.#nc.isClosed()) operation();
      } catch {
        // The connection closed meanwhile.
      }
    };
    // An answer past max_payload goes by the Object Store; the results bucket keeps the same message (its
    // object expires with the payload bucket's TTL instead of being deleted on read).
    const answer = async (body: Uint8Array) => {
      const h = this.answerHeaders();
      const data = await this.#payloads.outgoing(`${key}-answer`, body, h);
      if (key) await results.put(key, encodeStored(data, h.get(OBJECT))).catch(() => undefined);
      quietly(() => replyTo && this.#nc.publish(replyTo, data, { headers: h }));
    };
    // Answered before (its host died after storing the answer, or a publish was retried): not run again.
    const stored = key ? await results.get(key).catch(() => null) : null;
    if (stored && stored.value.length > 0) {
      const { data, object } = decodeStored(stored.value);
      const h = natsHeaders();
      if (object) h.set(OBJECT, object);
      quietly(() => replyTo && this.#nc.publish(replyTo, data, { headers: h }));
      quietly(() => msg.ack());
      return;
    }
    const alive = setInterval(() => quietly(() => msg.working()), Math.max(100, this.#options.ackWaitMs / 3));
    try {
      const left = Number(msg.headers?.get('tb-time-left') || Infinity);
      const deliveries = msg.info.deliveryCount;
      const refusal =
        deliveries >= this.#options.maxDeliveries
          ? `the durable call was delivered ${deliveries} times and no host answered it (does it crash its host?): it is not run again`
          : undefined;
      const body = await this.run(await this.#payloads.incoming(msg.headers, msg.data, true), left, key, refusal);
      await answer(body);
      quietly(() => msg.ack());
      // Answered and acked: no redelivery will read the call's body again.
      await this.#payloads.discard(msg.headers);
    } catch {
      // Not answered: the call goes to another host.
      quietly(() => msg.nak());
    } finally {
      clearInterval(alive);
    }
  }

  /** Stops pulling; resolves once the calls held are answered and acked. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#loop?.catch(() => undefined);
    while (this.#running > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A stored answer: the message's data, and the object holding its body if it went by the Object Store. */
function encodeStored(data: Uint8Array, object: string | undefined): Uint8Array {
  if (!object) return Buffer.concat([Uint8Array.of(0), data]);
  const name = Buffer.from(object);
  return Buffer.concat([Uint8Array.of(1, name.length), name, data]);
}

function decodeStored(stored: Uint8Array): { data: Uint8Array; object?: string } {
  if (stored[0] !== 1) return { data: stored.subarray(1) };
  const length = stored[1]!;
  return { object: Buffer.from(stored.subarray(2, 2 + length)).toString(), data: stored.subarray(2 + length) };
}

/**
 * Bodies past the server's `max_payload` travel through the JetStream Object Store (bucket
 * `<namespace>_payloads`): the message then carries only the object's name in a header, and the receiver
 * reads the object and deletes it. Objects left behind (a receiver that died) expire with the bucket's TTL.
 * The Object Store client loads on first need, with its SHA-256 on `node:crypto` (the client's docs put its pure-JS
 * default at 5-10x slower on large objects; the choice is process-wide).
 */
import { nanos, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import type { ObjectStore } from '@nats-io/obj';

/** Header naming the object that holds a message's body. */
export const OBJECT = 'tb-object';
/** Room kept under `max_payload` for the headers and the protocol. */
const HEADROOM = 16 * 1024;

export class Payloads {
  readonly #nc: NatsConnection;
  readonly #bucket: string;
  #store: Promise<ObjectStore> | undefined;

  constructor(nc: NatsConnection, namespace: string) {
    this.#nc = nc;
    this.#bucket = `${namespace}_payloads`;
  }

  /** The largest body a message carries itself. */
  get limit(): number {
    return (this.#nc.info?.max_payload ?? 1024 * 1024) - HEADROOM;
  }

  #open(): Promise<ObjectStore> {
    this.#store ??= (async () => {
      const { Objm, setSha256Backend } = await import('@nats-io/obj');
      setSha256Backend('native');
      const objm = new Objm(this.#nc);
      // In memory: a payload lives for one call (or until its TTL), and file storage wrote and read every
      // byte through the server's disk. A bucket made before (with other settings) is used as it is.
      return objm.create(this.#bucket, { ttl: nanos(600_000), storage: 'memory' }).catch(() => objm.open(this.#bucket));
    })();
    return this.#store;
  }

  /** What to send for `body`: itself, or (past the limit) nothing, its object named in `headers`. */
  async outgoing(name: string, body: Uint8Array, headers: MsgHdrs): Promise<Uint8Array> {
    if (body.byteLength <= this.limit) return body;
    const store = await this.#open();
    // Chunks as large as a message may be: each is an acknowledged publish, so fewer is faster (64 MiB went
    // at 93 MiB/s in 1 MiB chunks, 99 in 4 MiB, 109-111 in 8 MB ones; 128 KiB, the default, was 3x slower).
    await store.putBlob({ name, options: { max_chunk_size: this.limit } }, body);
    headers.set(OBJECT, name);
    return new Uint8Array(0);
  }

  /** The body a message stands for: its data, or its object's bytes (the object deleted unless `keep`). */
  async incoming(headers: MsgHdrs | undefined, data: Uint8Array, keep = false): Promise<Uint8Array> {
    const name = headers?.get(OBJECT);
    if (!name) return data;
    const store = await this.#open();
    const body = await store.getBlob(name);
    if (body === null) throw new Error(`toolbridge/nats: the payload object ${name} is gone (expired?)`);
    if (!keep) await store.delete(name).catch(() => undefined);
    return body;
  }

  /** Deletes the object a message's body went by, if any (once no redelivery can need it). */
  async discard(headers: MsgHdrs | undefined): Promise<void> {
    const name = headers?.get(OBJECT);
    if (name) await (await this.#open()).delete(name).catch(() => undefined);
  }
}

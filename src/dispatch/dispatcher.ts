import type { MessagePort } from 'node:worker_threads';
import type { WireMessage } from '../codec/message.js';
import type { CodecCounts, RecycleReason, WorkerStats } from '../telemetry/events.js';
import type { HostStats, PoolStats } from '../telemetry/stats.js';

/** Options of one submitted message. */
export interface SubmitOptions {
  /**
   * Aborting it (the call's time limit passed, or its caller aborted) drops the message at once if it still
   * waits; a message already being run is stopped as the implementation can (the local pool gives it a
   * short grace period, then stops its worker).
   */
  signal?: AbortSignal;
  /** `Date.now()` past which the message must not start (0 for none): it is rejected with {@link DeadlinePassed}. */
  deadline?: number;
  /** Ports to hand over with the message (a call's abort channel). */
  transferList?: MessagePort[];
  /**
   * The tool's name, for the pool's own figures: the local pool times each tool's tasks, and sends a call of
   * a tool that takes well under a millisecond ahead to a worker still running such a call.
   */
  tool?: string;
}

/**
 * The dispatch seam: submit an encoded call, get its encoded reply. It knows nothing of tools, their
 * catalog or their values: a message is envelope bytes plus shared buffers. The local Piscina pool is one
 * implementation (`dispatch/local/`); a remote backend is another.
 *
 * `submit` rejects with a `ToolBridgeError` it chose (`QUEUE_FULL`, `CLOSED`, `TOOL_LOAD_FAILED`), with
 * {@link DeadlinePassed}, or with anything else for a backend failure under the call (the caller makes that
 * `WORKER_CRASHED`).
 */
export interface Dispatcher {
  submit(message: WireMessage, options: SubmitOptions): Promise<WireMessage>;
  /** Whether a message submitted now would start at once (a worker is free); micro-batching sends then. */
  idle(): boolean;
  /** Waits for the messages in flight, then releases the backend. */
  close(): Promise<void>;
  /** Releases the backend now; messages in flight fail. */
  destroy(): Promise<void>;
}

/**
 * A session's hold on the worker that runs it (`PoolBackend.openSession`): the pool counts its sessions and
 * the session's calls in flight (a worker running one takes no other call), and will not stop it gracefully
 * while it holds one.
 */
export interface WorkerLease {
  /** The worker's `threadId`. */
  readonly workerId: number;
  /** Calls `listener` (at once if it already has) when the worker is gone: the session is lost. */
  whenGone(listener: (detail: string) => void): void;
  /** A call of the session starts, or ends, on the worker. */
  begin(): void;
  end(): void;
  /** The session is closed: the worker no longer holds it (once; later calls do nothing). */
  release(): void;
}

/** The open message's reply (the session's methods, or the error `create` threw), and the worker's lease. */
export interface SessionOpened {
  reply: WireMessage;
  lease: WorkerLease;
}

/** One worker's answer to a broadcast message: its reply, or why it has none. */
export interface BroadcastReply {
  workerId: number;
  reply?: WireMessage;
  error?: unknown;
  /** Its time limit passed before it answered (it was stopped, or never started). */
  timedOut?: true;
}

/** Options of a broadcast message. */
export interface BroadcastOptions {
  /** Also run it on every worker that starts later, before that worker takes any other call. */
  sticky?: boolean;
  /** Told each reply of a sticky replay on a worker started later. */
  onReplay?: (reply: BroadcastReply) => void;
  /**
   * Each worker's time limit, in ms, from when it is asked (Infinity for none): past it the worker's run is
   * stopped as a call's would be (the worker replaced after a grace period) and its reply is `timedOut`.
   */
  timeoutMs?: number;
}

/** Rejects a submitted message whose deadline passed before it could start: it never ran. */
export class DeadlinePassed extends Error {}

/**
 * A pool behind the seam as the bridge sees it: the dispatcher, with the figures `stats()` reports and the
 * lifecycle the bridge drives. The local Piscina pool is one; a remote backend reports what it can.
 */
export interface PoolBackend extends Dispatcher {
  readonly name: string;
  /** False while the pool cannot take calls at all (a start-up failure, no host reachable). */
  readonly serving: boolean;
  /** Recycles so far, by reason. */
  recycles(): ReadonlyMap<RecycleReason, number>;
  /** Threads, busy ones, queued calls, utilization. */
  snapshot(): PoolStats;
  /** Values the results sent by each codec path. */
  codecs(): CodecCounts;
  workers(): WorkerStats[];
  /** Replaces every worker gracefully (a remote backend may do nothing). */
  recycle(): Promise<void>;
  /** A remote backend's hosts, by name. */
  hosts?(): Record<string, HostStats>;
  /**
   * Runs a session's open message (its `s` port set) on the worker holding the fewest sessions (starting
   * one when every worker holds some and the pool may grow), and leases that worker to the session.
   * Absent where a backend has no sessions (a remote one).
   */
  openSession?(message: WireMessage, options: SubmitOptions): Promise<SessionOpened>;
  /** Runs a message on every live worker, once each. Absent where a backend cannot (a remote one). */
  broadcast?(message: WireMessage, options: BroadcastOptions): Promise<BroadcastReply[]>;
}

import { performance } from 'node:perf_hooks';
import type { WireMessage } from '../../codec/message.js';
import { ClosedError, QueueFullError } from '../../errors.js';
import type { ResolvedPool } from '../../options.js';
import type { ToolSource } from '../../registry/catalog.js';
import type { RuntimeConfig } from '../../runtime-protocol.js';
import type { CodecCounts, RecycleEvent, RecycleReason, WorkerExitEvent, WorkerStats } from '../../telemetry/events.js';
import { Rate } from '../../telemetry/distribution.js';
import type { PoolStats } from '../../telemetry/stats.js';
import type { ToolInfo } from '../../tool/define.js';
import type { SessionInfo } from '../../tool/session.js';
import {
  DeadlinePassed,
  type BroadcastOptions,
  type BroadcastReply,
  type PoolBackend,
  type SessionOpened,
  type SubmitOptions,
  type WorkerLease,
} from '../dispatcher.js';
import { AffinityMap } from './affinity.js';
import { SendAhead } from './ahead.js';
import { Broadcasts } from './broadcasts.js';
import { PinnedJobs } from './pinned.js';
import { placeSession } from './place-session.js';
import { poolStats } from './pool-stats.js';
import { CallQueue } from './queue.js';
import { WorkerSet } from './worker-set.js';
import type { Job, WorkerRecord, WorkerSlot } from './worker-slot.js';

export interface LocalPoolOptions {
  pool: ResolvedPool;
  startTimeoutMs: number;
  /** Start a worker even when `minThreads` is 0, so that the tool modules are checked by `start()`. */
  checkModules: boolean;
  runtime: RuntimeConfig;
  /** Called when the queue has emptied after it refused a call. */
  onDrain: () => void;
  onRecycle: (event: RecycleEvent) => void;
  onWorkerExit: (event: WorkerExitEvent) => void;
}

/**
 * How long a call that timed out or was aborted while running may keep its worker to stop on its own (a
 * tool that watches `ctx.signal`) before the worker is stopped and replaced.
 */
const STOP_GRACE_MS = 50;

/**
 * Longest a call with an affinity key waits for its worker while that worker is busy: past it, any free
 * worker takes the call (and the key moves there).
 */
export const AFFINITY_WAIT_MS = 20;

/**
 * A pool of worker threads running `workers/runtime.js` (kept by a {@link WorkerSet}: start-up, watchdog
 * recycles, exits). It queues calls (bounded by `maxQueue`) and hands each to an idle worker; calls for one
 * worker in particular (a session's, a broadcast's, an affinity key's) wait in that worker's own list and
 * run there first. No call fails for a recycle: a draining worker finishes its call before it stops.
 */
export class LocalPool implements PoolBackend, ToolSource {
  readonly #options: LocalPoolOptions;
  readonly #workers: WorkerSet;
  readonly #queue = new CallQueue(() => this.#pump());
  readonly #pinned = new PinnedJobs(() => this.#pump());
  #refused = false;
  #destroyed: Promise<void> | undefined;
  readonly #startedAt = performance.now();
  /** Milliseconds of task time, per second, over the last minute. */
  readonly #busy = new Rate();
  /** Affinity keys -> the worker that last ran a call of the key. */
  readonly #keys = new AffinityMap<WorkerRecord>();
  readonly #broadcasts: Broadcasts;
  /** Each tool's recent task time: calls of short ones are sent ahead to busy workers. */
  readonly #ahead = new SendAhead();
  /** Tasks sent so far: the number of the latest (`WireMessage.q`). */
  #tasks = 0;

  constructor(options: LocalPoolOptions) {
    this.#options = options;
    this.#workers = new WorkerSet(options, {
      waiting: () => this.#queue.waiting,
      ready: (slot, record) => {
        this.#broadcasts.replay(slot, record);
        this.#pump();
      },
      removed: (slot) => this.#unpin(slot),
      unservable: (error) => this.#queue.failAll(error),
    });
    this.#broadcasts = new Broadcasts(this.#workers, this.#pinned);
  }

  get name(): string {
    return this.#options.pool.name;
  }

  /**
   * Starts `minThreads` workers (at least one with `checkModules`) and resolves with the tool catalog once
   * the first has loaded the tools (so its modules are known to load); the others go on starting and take
   * calls as they become ready, as Piscina's own threads do. A pool with no resident worker resolves at once
   * with none, and starts on demand.
   */
  discover(): Promise<ToolInfo[]> {
    return this.#workers.start();
  }

  submit(message: WireMessage, options: SubmitOptions): Promise<WireMessage> {
    if (this.#workers.closing) return Promise.reject(new ClosedError());
    if (message.k !== undefined) {
      // Calls of one key go to the worker that ran the key's last call, while it serves; if it is busy, the
      // call waits for it a little (AFFINITY_WAIT_MS), then goes to whichever worker is free.
      const home = this.#home(message.k);
      if (home !== undefined) {
        if (home.idle) return this.#run(home, message, options);
        if (this.#full()) return this.#refuse();
        return this.#pinned.pin(home, message, options, performance.now() + AFFINITY_WAIT_MS);
      }
    }
    const slot = this.#workers.idleSlot();
    if (slot !== undefined) return this.#run(slot, message, options);
    const failure = this.#workers.loadFailure();
    if (failure) return Promise.reject(failure);
    if (this.#full()) return this.#refuse();
    const queued = this.#queue.push(message, options);
    this.#workers.grow();
    this.#sendAhead();
    return queued;
  }

  idle(): boolean {
    return !this.#workers.closing && this.#workers.idleSlot() !== undefined;
  }

  /** The sessions the tool modules define (known once a worker has started: after `discover()`). */
  sessionInfos(): SessionInfo[] {
    return this.#workers.sessionInfos;
  }

  #full(): boolean {
    return this.#queue.waiting + this.#pinned.waiting >= this.#options.pool.maxQueue;
  }

  #refuse(): Promise<never> {
    this.#refused = true;
    return Promise.reject(new QueueFullError(this.#options.pool.maxQueue));
  }

  /** The worker an affinity key lives on, while it serves; forgets the key otherwise. */
  #home(key: string): WorkerSlot | undefined {
    const record = this.#keys.get(key);
    if (record === undefined) return undefined;
    const slot = this.#workers.slots.find((s) => s.current === record);
    if (slot !== undefined && slot.draining === undefined && !slot.gone) return slot;
    this.#keys.delete(key);
    return undefined;
  }

  // --- sessions and broadcasts ---

  async openSession(message: WireMessage, options: SubmitOptions): Promise<SessionOpened> {
    let record = await placeSession(this.#workers, this.#options.pool.maxThreads, options.signal);
    const slot = this.#workers.slots.find((s) => s.current === record);
    let reply: WireMessage;
    try {
      if (slot === undefined) throw new Error('the worker chosen for the session stopped before it opened');
      // The session is counted on its worker from now: a second open goes elsewhere at once.
      reply = await this.#pinned.pin(slot, message, options, undefined, (ran) => {
        if (ran === record) return;
        record.sessions--;
        ran.sessions++;
        record = ran;
      });
    } catch (error) {
      record.sessions--;
      if (slot) this.#vacated(slot);
      throw error;
    }
    return { reply, lease: this.#lease(slot, record) };
  }

  /** The hold a session has on its worker. */
  #lease(slot: WorkerSlot, record: WorkerRecord): WorkerLease {
    let held = true;
    return {
      workerId: record.threadId,
      whenGone: (listener) => {
        if (slot.current !== record || slot.gone) listener('its worker has stopped');
        else record.whenGone(listener);
      },
      begin: () => record.sessionCalls++,
      end: () => {
        if (--record.sessionCalls > 0 || slot.current !== record) return;
        this.#workers.afterTask(slot, record);
        this.#pump();
      },
      release: () => {
        if (!held) return;
        held = false;
        record.sessions--;
        this.#vacated(slot);
      },
    };
  }

  /** A session on the slot closed: a draining worker holding none now stops once free. */
  #vacated(slot: WorkerSlot): void {
    if (slot.draining !== undefined && !slot.busy && slot.vacant) this.#workers.retire(slot);
    else this.#pump();
  }

  broadcast(message: WireMessage, options: BroadcastOptions): Promise<BroadcastReply[]> {
    if (this.#workers.closing) return Promise.reject(new ClosedError());
    return this.#broadcasts.send(message, options);
  }

  /** The jobs pinned to a slot that stops: affinity calls go to any worker, the others fail. */
  #unpin(slot: WorkerSlot): void {
    for (const job of this.#pinned.takeAll(slot)) {
      if (job.anyAfter !== undefined)
        this.submit({ ...job.message, k: undefined }, job.options).then(job.resolve, job.reject);
      else job.reject(new Error('its worker stopped before the call could run'));
    }
  }

  // --- the pool's state, recycles, close ---

  /** Recycles every worker gracefully; resolves when the old ones have stopped and their replacements serve. */
  recycle(): Promise<void> {
    return this.#workers.recycleAll();
  }

  /** Recycles so far, by reason. */
  recycles(): ReadonlyMap<RecycleReason, number> {
    return this.#workers.recycles();
  }

  /** The pool now: threads, busy ones, queued calls, utilization over the last minute. */
  snapshot(): PoolStats {
    const now = performance.now();
    const busyMsPerSecond = this.#busy.perSecond(now, now - this.#startedAt);
    return poolStats(this.#workers.slots, this.#options.pool, this.#queue.waiting, busyMsPerSecond, this.#ahead.count);
  }

  /** Values the workers' results sent by each path (exited workers included). */
  codecs(): CodecCounts {
    return this.#workers.codecs();
  }

  /** False after a start-up failure while no worker serves or is starting (calls are refused then). */
  get serving(): boolean {
    return this.#workers.serving;
  }

  workers(): WorkerStats[] {
    return this.#workers.stats();
  }

  async close(): Promise<void> {
    if (this.#destroyed) return this.#destroyed;
    this.#workers.stop();
    this.#failWaiting();
    await this.#workers.close();
  }

  destroy(): Promise<void> {
    this.#destroyed ??= (async () => {
      this.#workers.stop();
      this.#failWaiting();
      await this.#workers.destroy();
    })();
    return this.#destroyed;
  }

  /** Rejects every call still waiting, in the common queue and pinned to a worker, with `CLOSED`. */
  #failWaiting(): void {
    this.#queue.failAll(() => new ClosedError());
    for (const slot of this.#workers.slots) {
      for (const job of this.#pinned.takeAll(slot)) job.reject(new ClosedError());
    }
  }

  // --- dispatch ---

  #run(slot: WorkerSlot, message: WireMessage, options: SubmitOptions): Promise<WireMessage> {
    if (slot.inFlight++ === 0) slot.taskStart = performance.now();
    slot.tool = options.tool;
    const record = slot.current!;
    message.q = ++this.#tasks;
    if (message.k !== undefined) this.#keys.set(message.k, record);
    // The caller's signal stops this worker only if the call is still running after the grace period.
    let stop: AbortController | undefined;
    let grace: NodeJS.Timeout | undefined;
    const onAbort = () => (grace = setTimeout(() => stop!.abort(), STOP_GRACE_MS));
    if (options.signal) {
      stop = new AbortController();
      options.signal.addEventListener('abort', onAbort, { once: true });
    }
    // Without a signal, the options go to Piscina as they are (no object made on the hot path).
    const runOptions = stop ? { signal: stop.signal, transferList: options.transferList } : options;
    const task = slot.piscina.run(
      message,
      runOptions as Parameters<WorkerSlot['piscina']['run']>[1],
    ) as Promise<WireMessage>;
    slot.task = task.then(
      () => this.#taskDone(slot, record, undefined, options.tool),
      () => this.#taskDone(slot, record, stop?.signal),
    );
    if (stop) {
      slot.task.finally(() => {
        clearTimeout(grace);
        options.signal!.removeEventListener('abort', onAbort);
      });
    }
    return task;
  }

  /** A task ended; `tool` when it succeeded (its time then counts for the tool). */
  #taskDone(slot: WorkerSlot, record: WorkerRecord, signal: AbortSignal | undefined, tool?: string): void {
    const now = performance.now();
    // It began when it was sent to an idle worker, or when the task before it ended (one sent ahead).
    const ran = now - slot.taskStart;
    this.#busy.add(ran, now);
    if (tool !== undefined) this.#ahead.costs.record(tool, ran);
    slot.taskStart = now;
    if (--slot.inFlight === 0) slot.idleSince = now;
    record.tasks++;
    if (signal?.aborted && slot.lost(record)) {
      // Piscina stopped the worker to end the call (a timeout, or the caller's abort), and started another.
      // It is counted when it exits: by then its exit code tells a stop from a tool that exited on its own.
      record.fate = 'timeout';
      slot.adopt();
    } else {
      this.#workers.afterTask(slot, record);
    }
    if (slot.draining !== undefined && slot.vacant) this.#workers.retire(slot);
    this.#pump();
  }

  /** Starts a job taken from a queue on a free worker. */
  #start(slot: WorkerSlot, job: Job): void {
    const { deadline } = job.options;
    // A call whose time ran out while it waited never starts (its caller is told TIMEOUT).
    if (deadline && Date.now() >= deadline) return job.reject(new DeadlinePassed());
    job.onStart?.(slot.current!);
    this.#run(slot, job.message, job.options).then(job.resolve, job.reject);
  }

  /** With every worker busy: the next calls of the queue, one to each worker running a short call (ahead.ts). */
  #sendAhead(): void {
    // Calls pinned to a worker go first when it frees.
    if (this.#queue.waiting === 0 || this.#pinned.waiting > 0) return;
    const now = performance.now();
    for (const slot of this.#workers.slots) {
      const job = this.#ahead.take(slot, this.#queue, now);
      if (job === undefined) continue;
      const record = slot.current!;
      job.onStart?.(record);
      const sent = this.#run(slot, job.message, job.options);
      const position = job.message.q!;
      sent.then(job.resolve, (error: unknown) => {
        if (!this.#workers.closing && slot.lost(record) && record.started < position) {
          // Its worker stopped before it began: it never ran, so it waits again, first in line.
          this.#queue.unshift(job);
          this.#pump();
        } else {
          job.reject(error);
        }
      });
    }
  }

  /** Hands waiting calls to free workers: first those pinned to a worker, then the common queue. */
  #pump(): void {
    const { slots } = this.#workers;
    if (this.#pinned.waiting > 0) {
      for (const slot of slots) {
        for (let job: Job | undefined; slot.free && (job = this.#pinned.take(slot)) !== undefined;) {
          this.#start(slot, job);
        }
      }
    }
    for (let slot = this.#workers.idleSlot(); slot !== undefined; slot = this.#workers.idleSlot()) {
      const job = this.#pinned.takeOverdue(slots) ?? this.#queue.take();
      if (job === undefined) break;
      this.#start(slot, job);
    }
    this.#sendAhead();
    if (this.#refused && this.#queue.empty) {
      this.#refused = false;
      this.#options.onDrain();
    }
  }
}

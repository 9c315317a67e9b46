import { performance } from 'node:perf_hooks';
import { reviveError } from '../../codec/error-record.js';
import type { WireMessage } from '../../codec/message.js';
import { ClosedError, DuplicateToolError, QueueFullError, ToolBridgeError, ToolLoadError } from '../../errors.js';
import type { ResolvedPool } from '../../options.js';
import type { ToolSource } from '../../registry/catalog.js';
import type { ReadyNotice, RuntimeConfig } from '../../runtime-protocol.js';
import type { CodecCounts, RecycleEvent, RecycleReason, WorkerExitEvent, WorkerStats } from '../../telemetry/events.js';
import { Rate, type PoolStats } from '../../telemetry/stats.js';
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
import { CallQueue, type Job } from './queue.js';
import { Startup } from './startup.js';
import { Watchdog } from './watchdog.js';
import { poolStats, round, workerStats } from './pool-stats.js';
import { WorkerSlot, type WorkerRecord } from './worker-slot.js';

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
 * A pool of worker threads running `workers/runtime.js`, each hosted by Piscina (see {@link WorkerSlot}).
 * It queues calls (bounded by `maxQueue`), hands each to an idle worker, and watches every worker: past a
 * heap, task-count, age or RSS threshold a worker is drained (no new calls), its replacement is started
 * at once, and it is stopped when its call is done, so no call fails for a recycle. Workers that crash at
 * start-up are retried with an exponential back-off, and the calls told which module failed.
 */
/** Longest a graceful close waits for an idle worker's own close before stopping it. */
const CLOSE_GRACE_MS = 5_000;

/**
 * Longest a call with an affinity key waits for its worker while that worker is busy: past it, any free
 * worker takes the call (and the key moves there).
 */
export const AFFINITY_WAIT_MS = 20;

export class LocalPool implements PoolBackend, ToolSource {
  readonly #options: LocalPoolOptions;
  readonly #name: string;
  readonly #slots: WorkerSlot[] = [];
  readonly #queue = new CallQueue(() => this.#pump());
  #refused = false;
  #closing = false;
  #destroyed: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #recycles = new Map<RecycleReason, number>();
  /** The latest start-up failure, until a worker starts. */
  readonly #startup = new Startup();
  readonly #startedAt = performance.now();
  /** Milliseconds of task time, per second, over the last minute. */
  readonly #busy = new Rate();
  /** Values sent by workers that have exited, by path. */
  readonly #exitedCodecs: CodecCounts = { shared: 0, arrow: 0, clone: 0, msgpack: 0, copied: 0 };

  readonly #watchdog: Watchdog;
  /** Affinity keys -> the worker that last ran a call of the key. */
  readonly #keys = new AffinityMap<WorkerRecord>();
  /** Calls waiting in workers' own queues (see {@link WorkerSlot.pinned}). */
  #pinnedWaiting = 0;
  /** The sessions the workers' modules define, once a worker has started. */
  #sessionInfos: SessionInfo[] = [];
  /** Sticky broadcasts: each worker that starts runs them before anything else. */
  readonly #sticky: Array<{ message: WireMessage; options: BroadcastOptions }> = [];

  constructor(options: LocalPoolOptions) {
    this.#options = options;
    this.#name = options.pool.name;
    this.#watchdog = new Watchdog(options.pool, {
      slots: this.#slots,
      waiting: () => this.#queue.waiting,
      recycle: (slot, reason) => this.#recycle(slot, reason),
      retireIdle: (slot) => {
        slot.draining = 'idle';
        this.#retire(slot);
      },
    });
  }

  get name(): string {
    return this.#name;
  }

  /**
   * Starts `minThreads` workers (at least one with `checkModules`) and resolves with the tool catalog once
   * the first has loaded the tools (so its modules are known to load); the others go on starting and take
   * calls as they become ready, as Piscina's own threads do. A pool with no resident worker resolves at once
   * with none, and starts on demand.
   */
  discover(): Promise<ToolInfo[]> {
    const { startTimeoutMs, pool, checkModules } = this.#options;
    const starting = checkModules ? Math.max(1, pool.minThreads) : pool.minThreads;
    this.#timer = setInterval(() => this.#watchdog.tick(), pool.memory.checkIntervalMs).unref();
    if (starting === 0) return Promise.resolve([]);
    const discovered = this.#startup.begin(startTimeoutMs, () =>
      this.#slots.flatMap((slot) => (slot.current?.loading ? [slot.current.loading] : [])),
    );
    for (let i = 0; i < starting; i++) this.#addSlot();
    return discovered;
  }

  submit(message: WireMessage, options: SubmitOptions): Promise<WireMessage> {
    if (this.#closing) return Promise.reject(new ClosedError());
    if (message.k !== undefined) {
      // Calls of one key go to the worker that ran the key's last call, while it serves; if it is busy, the
      // call waits for it a little (AFFINITY_WAIT_MS), then goes to whichever worker is free.
      const home = this.#home(message.k);
      if (home !== undefined) {
        if (home.idle) return this.#run(home, message, options);
        if (this.#queue.waiting + this.#pinnedWaiting >= this.#options.pool.maxQueue) return this.#refuse();
        return this.#pin(home, message, options, performance.now() + AFFINITY_WAIT_MS);
      }
    }
    const slot = this.#idleSlot();
    if (slot !== undefined) return this.#run(slot, message, options);
    if (this.#startup.failure && !this.#canServe()) return Promise.reject(this.#startup.loadError());
    if (this.#queue.waiting + this.#pinnedWaiting >= this.#options.pool.maxQueue) return this.#refuse();
    const queued = this.#queue.push(message, options);
    this.#grow();
    return queued;
  }

  idle(): boolean {
    return !this.#closing && this.#idleSlot() !== undefined;
  }

  /** The sessions the tool modules define (known once a worker has started: after `discover()`). */
  sessionInfos(): SessionInfo[] {
    return this.#sessionInfos;
  }

  #refuse(): Promise<never> {
    this.#refused = true;
    return Promise.reject(new QueueFullError(this.#options.pool.maxQueue));
  }

  /** The worker an affinity key lives on, while it serves; forgets the key otherwise. */
  #home(key: string): WorkerSlot | undefined {
    const record = this.#keys.get(key);
    if (record === undefined) return undefined;
    const slot = this.#slots.find((s) => s.current === record);
    if (slot !== undefined && slot.draining === undefined && !slot.gone) return slot;
    this.#keys.delete(key);
    return undefined;
  }

  // --- sessions and broadcasts ---

  async openSession(message: WireMessage, options: SubmitOptions): Promise<SessionOpened> {
    let record = await this.#placeSession(options.signal);
    const slot = this.#slots.find((s) => s.current === record);
    let reply: WireMessage;
    try {
      if (slot === undefined) throw new Error('the worker chosen for the session stopped before it opened');
      // The session is counted on its worker from now: a second open goes elsewhere at once.
      reply = await this.#pin(slot, message, options, undefined, (ran) => {
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

  /**
   * The worker for a new session, with the session counted on it: the serving worker holding the fewest
   * sessions; when every one holds some and the pool may grow, a new worker (waited for).
   */
  async #placeSession(signal: AbortSignal | undefined): Promise<WorkerRecord> {
    const { maxThreads } = this.#options.pool;
    for (;;) {
      if (this.#closing) throw new ClosedError();
      if (signal?.aborted) throw new ToolBridgeError('ABORTED', 'The session was not opened: its opening was stopped');
      let best: WorkerRecord | undefined;
      let serving = 0;
      let starting = 0;
      for (const slot of this.#slots) {
        if (slot.draining !== undefined || slot.gone) continue;
        serving++;
        const record = slot.current;
        if (record?.ready !== true) {
          starting++;
          continue;
        }
        if (best === undefined || record.sessions < best.sessions) best = record;
      }
      const mayGrow = serving < maxThreads && !this.#startup.backingOff;
      if (best !== undefined && (best.sessions === 0 || (!mayGrow && starting === 0))) {
        best.sessions++;
        return best;
      }
      if (this.#startup.failure && !this.#canServe()) throw this.#startup.loadError();
      if (starting === 0) {
        if (mayGrow) this.#addSlot();
        else if (serving === 0) this.#fill();
      }
      await this.#change(signal);
    }
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
        this.#watchdog.afterTask(slot, record);
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
    if (slot.draining !== undefined && !slot.busy && slot.vacant) this.#retire(slot);
    else this.#pump();
  }

  broadcast(message: WireMessage, options: BroadcastOptions): Promise<BroadcastReply[]> {
    if (this.#closing) return Promise.reject(new ClosedError());
    const targets = this.#slots.filter((slot) => slot.draining === undefined && !slot.gone && slot.current);
    if (options.sticky) {
      this.#sticky.push({ message, options });
      // The workers reached now run it below; the ones that start later run it when they are ready.
      for (const slot of targets) slot.current!.stickyDone = this.#sticky.length;
    }
    return Promise.all(targets.map((slot) => this.#runOn(slot, message, options.timeoutMs ?? Infinity)));
  }

  /** Runs a message on one worker (after those pinned to it) within `timeoutMs`, whatever it answers. */
  #runOn(slot: WorkerSlot, message: WireMessage, timeoutMs: number): Promise<BroadcastReply> {
    let workerId = slot.current?.threadId ?? 0;
    // A limit past what a timer can hold (~49 days) is no limit.
    const limited = timeoutMs <= 4_294_967_295;
    const signal = limited ? AbortSignal.timeout(timeoutMs) : undefined;
    const options: SubmitOptions = limited ? { signal, deadline: Date.now() + timeoutMs } : {};
    return this.#pin(slot, message, options, undefined, (record) => (workerId = record.threadId)).then(
      (reply): BroadcastReply => ({ workerId, reply }),
      (error: unknown): BroadcastReply =>
        signal?.aborted || error instanceof DeadlinePassed ? { workerId, error, timedOut: true } : { workerId, error },
    );
  }

  /**
   * A worker has started: it runs the sticky broadcasts it has not run before any other call, even one
   * already pinned to it (they go to the front of its queue, in the order they were made).
   */
  #replaySticky(slot: WorkerSlot, record: WorkerRecord): void {
    const missed = this.#sticky.slice(record.stickyDone);
    record.stickyDone = this.#sticky.length;
    const waiting = slot.pinned.splice(0);
    for (const { message, options } of missed) {
      void this.#runOn(slot, message, options.timeoutMs ?? Infinity).then((reply) => options.onReplay?.(reply));
    }
    slot.pinned.push(...waiting);
  }

  /**
   * Queues a message for one worker: it runs there before any call of the common queue. With `anyAfter`
   * (a `performance.now()` time), any free worker may take it from then on.
   */
  #pin(
    slot: WorkerSlot,
    message: WireMessage,
    options: SubmitOptions,
    anyAfter?: number,
    onStart?: (record: WorkerRecord) => void,
  ): Promise<WireMessage> {
    return new Promise<WireMessage>((resolve, reject) => {
      const job: Job = { message, options, resolve, reject, done: false, onStart, anyAfter };
      slot.pinned.push(job);
      this.#pinnedWaiting++;
      options.signal?.addEventListener(
        'abort',
        () => {
          if (job.done) return;
          job.done = true;
          this.#pinnedWaiting--;
          reject(new ToolBridgeError('ABORTED', 'The call was stopped while it waited for a worker'));
        },
        { once: true },
      );
      if (anyAfter !== undefined) this.#pumpAt(anyAfter);
      this.#pump();
    });
  }

  /**
   * Pumps once `performance.now()` has reached `time`. A timer may fire before that (its clock is the event
   * loop's, which lags when the loop is busy): then it is set again for what is left.
   */
  #pumpAt(time: number): void {
    setTimeout(
      () => {
        if (performance.now() < time) this.#pumpAt(time);
        else this.#pump();
      },
      Math.max(0, time - performance.now()) + 1,
    ).unref();
  }

  /** Starts a job taken from a queue on a free worker. */
  #start(slot: WorkerSlot, job: Job): void {
    const { deadline } = job.options;
    // A call whose time ran out while it waited never starts (its caller is told TIMEOUT).
    if (deadline && Date.now() >= deadline) return job.reject(new DeadlinePassed());
    job.onStart?.(slot.current!);
    this.#run(slot, job.message, job.options).then(job.resolve, job.reject);
  }

  /** The next pinned job still waiting on `slot`, taken out. */
  #takePinned(slot: WorkerSlot, anyBefore?: number): Job | undefined {
    const { pinned } = slot;
    for (let i = 0; i < pinned.length; i++) {
      const job = pinned[i]!;
      if (job.done) {
        pinned.splice(i--, 1);
        continue;
      }
      if (anyBefore !== undefined && !(job.anyAfter !== undefined && job.anyAfter <= anyBefore)) continue;
      pinned.splice(i, 1);
      job.done = true;
      this.#pinnedWaiting--;
      return job;
    }
    return undefined;
  }

  /** A job pinned to another worker that any worker may now take (an affinity call that waited long enough). */
  #takeOverdue(): Job | undefined {
    if (this.#pinnedWaiting === 0) return undefined;
    const now = performance.now();
    for (const slot of this.#slots) {
      const job = this.#takePinned(slot, now);
      if (job !== undefined) return job;
    }
    return undefined;
  }

  /** Rejects every call still waiting, in the common queue and pinned to a worker, with `CLOSED`. */
  #failWaiting(): void {
    this.#queue.failAll(() => new ClosedError());
    for (const slot of this.#slots) {
      for (let job = this.#takePinned(slot); job !== undefined; job = this.#takePinned(slot))
        job.reject(new ClosedError());
    }
  }

  /** The jobs pinned to a slot that stops: affinity calls go to any worker, the others fail. */
  #unpin(slot: WorkerSlot): void {
    for (let job = this.#takePinned(slot); job !== undefined; job = this.#takePinned(slot)) {
      const { message } = job;
      if (job.anyAfter !== undefined)
        this.submit({ ...message, k: undefined }, job.options).then(job.resolve, job.reject);
      else job.reject(new Error('its worker stopped before the call could run'));
    }
  }

  /**
   * Resolves at the next change of the pool's workers (one ready, one gone), at close, when `signal` fires,
   * or after the start-up time.
   */
  #change(signal?: AbortSignal): Promise<void> {
    return this.#waitFor(() => true, { timeoutMs: this.#options.startTimeoutMs, signal });
  }

  /**
   * Resolves when a notice about the workers (one ready, one gone, close) finds `settled()` true, or after
   * `timeoutMs`, when `signal` fires, or when `also` settles: the one way every wait on the workers is made.
   */
  #waitFor(
    settled: () => boolean,
    { timeoutMs, signal, also }: { timeoutMs?: number; signal?: AbortSignal; also?: Promise<void> } = {},
  ): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#readyWaiters.delete(check);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const check = () => {
        if (settled()) done();
      };
      const timer = timeoutMs === undefined ? undefined : setTimeout(done, timeoutMs);
      this.#readyWaiters.add(check);
      signal?.addEventListener('abort', done, { once: true });
      void also?.then(done);
    });
  }

  /** Recycles every worker gracefully; resolves when the old ones have stopped and their replacements serve. */
  async recycle(): Promise<void> {
    const drained = this.#slots.filter((slot) => slot.draining === undefined && !slot.gone);
    const exits = drained.map((slot) => this.#exited(slot));
    for (const slot of drained) this.#recycle(slot, 'manual');
    await Promise.all(exits);
    await this.#readyCount(Math.min(drained.length, this.#options.pool.maxThreads));
  }

  /** Recycles so far, by reason. */
  recycles(): ReadonlyMap<RecycleReason, number> {
    return this.#recycles;
  }

  /** The pool now: threads, busy ones, queued calls, utilization over the last minute. */
  snapshot(): PoolStats {
    const now = performance.now();
    const busyMsPerSecond = this.#busy.perSecond(now, now - this.#startedAt);
    return poolStats(this.#slots, this.#options.pool, this.#queue.waiting, busyMsPerSecond);
  }

  /** Values the workers' results sent by each path (exited workers included). */
  codecs(): CodecCounts {
    const out = { ...this.#exitedCodecs };
    for (const slot of this.#slots) slot.current?.addCodecs(out);
    return out;
  }

  /** False after a start-up failure while no worker serves or is starting (calls are refused then). */
  get serving(): boolean {
    return this.#canServe() || this.#startup.failure === undefined;
  }

  workers(): WorkerStats[] {
    return workerStats(this.#slots, this.#name, (record) => this.#watchdog.heapLimitMb(record));
  }

  async close(): Promise<void> {
    if (this.#destroyed) return this.#destroyed;
    this.#closing = true;
    this.#stopTimers();
    this.#failWaiting();
    // A task still running is one that ended its call with a time limit and is being stopped: let it go
    // first, since Piscina's close waits for tasks to end, and a stopped task never ends.
    await Promise.all(
      this.#slots.map(async (slot) => {
        await slot.task;
        // A slot retired meanwhile (a draining worker whose call just ended) is being destroyed: Piscina's
        // close() on it would wait for workers that already stopped, until its own 30 s close timeout.
        if (slot.gone) return slot.retire(slot.draining ?? 'manual');
        // A worker still starting is let finish first: stopping one that is still loading its modules (Piscina's
        // close() or destroy()) could wait for good on Node 24.
        await this.#started(slot);
        // An idle ready worker closes at once; if it does not within CLOSE_GRACE_MS, it is stopped.
        let timer: NodeJS.Timeout | undefined;
        const stuck = new Promise<'stuck'>((resolve) => (timer = setTimeout(() => resolve('stuck'), CLOSE_GRACE_MS)));
        const outcome = await Promise.race([slot.piscina.close().then(() => 'closed' as const), stuck]);
        clearTimeout(timer);
        if (outcome === 'stuck') await slot.retire('manual');
      }),
    );
  }

  /** Resolves once the slot's worker is ready, has gone, or has had the start-up time to be. */
  #started(slot: WorkerSlot): Promise<void> {
    const settled = () => slot.gone || slot.current === undefined || slot.current.ready;
    if (settled()) return Promise.resolve();
    return this.#waitFor(settled, { timeoutMs: this.#options.startTimeoutMs, also: this.#exited(slot) });
  }

  destroy(): Promise<void> {
    this.#destroyed ??= (async () => {
      this.#closing = true;
      this.#stopTimers();
      this.#failWaiting();
      await Promise.all(
        this.#slots.map(async (slot) => {
          // As in close(): a worker still loading its modules is let finish before it is stopped.
          await this.#started(slot);
          return slot.retire(slot.draining ?? 'manual');
        }),
      );
    })();
    return this.#destroyed;
  }

  // --- dispatch ---

  #idleSlot(): WorkerSlot | undefined {
    for (const slot of this.#slots) if (slot.idle) return slot;
    return undefined;
  }

  #run(slot: WorkerSlot, message: WireMessage, options: SubmitOptions): Promise<WireMessage> {
    slot.busy = true;
    slot.taskStart = performance.now();
    const record = slot.current!;
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
      () => this.#taskDone(slot, record, undefined),
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

  #taskDone(slot: WorkerSlot, record: WorkerRecord, signal: AbortSignal | undefined): void {
    slot.busy = false;
    slot.idleSince = performance.now();
    this.#busy.add(slot.idleSince - slot.taskStart, slot.idleSince);
    record.tasks++;
    if (signal?.aborted && slot.lost(record)) {
      // Piscina stopped the worker to end the call (a timeout, or the caller's abort), and started another.
      // It is counted when it exits: by then its exit code tells a stop from a tool that exited on its own.
      record.fate = 'timeout';
      slot.adopt();
    } else {
      this.#watchdog.afterTask(slot, record);
    }
    if (slot.draining !== undefined && slot.vacant) this.#retire(slot);
    this.#pump();
  }

  /** Hands waiting calls to free workers: first those pinned to a worker, then the common queue. */
  #pump(): void {
    if (this.#pinnedWaiting > 0) {
      for (const slot of this.#slots) {
        for (let job: Job | undefined; slot.free && (job = this.#takePinned(slot)) !== undefined;) {
          this.#start(slot, job);
        }
      }
    }
    for (let slot = this.#idleSlot(); slot !== undefined; slot = this.#idleSlot()) {
      const job = this.#takeOverdue() ?? this.#queue.take();
      if (job === undefined) break;
      this.#start(slot, job);
    }
    if (this.#refused && this.#queue.empty) {
      this.#refused = false;
      this.#options.onDrain();
    }
  }

  // --- workers ---

  /** Starts a worker when calls wait and the pool may grow. */
  #grow(): void {
    let serving = 0;
    let starting = 0;
    for (const slot of this.#slots) {
      if (slot.draining !== undefined || slot.gone) continue;
      serving++;
      if (slot.current?.ready !== true) starting++;
    }
    if (serving < this.#options.pool.maxThreads && this.#queue.waiting > starting) this.#addSlot();
  }

  /** Keeps at least `minThreads` workers that are not draining. */
  #fill(): void {
    let serving = this.#slots.filter((slot) => slot.draining === undefined && !slot.gone).length;
    while (serving++ < this.#options.pool.minThreads) this.#addSlot();
    if (this.#queue.waiting > 0) this.#grow();
  }

  #addSlot(): void {
    if (this.#closing || this.#startup.backingOff) return;
    const { pool, runtime } = this.#options;
    const slot = new WorkerSlot(
      { runtime, hardHeapMb: pool.memory.hardHeapMb },
      {
        ready: (s, record, notice) => this.#onReady(s, record, notice),
        exit: (s, record, code) => this.#onExit(s, record, code),
      },
    );
    this.#slots.push(slot);
  }

  #onReady(slot: WorkerSlot, record: WorkerRecord, notice: ReadyNotice): void {
    if (notice.error) {
      record.fate = 'crash';
      return this.#startFailed(slot, startupError(notice.error));
    }
    this.#startup.ready(notice.tools);
    this.#sessionInfos = notice.sessions;
    if (record.stickyDone < this.#sticky.length) this.#replaySticky(slot, record);
    this.#readyWaiters.forEach((check) => check());
    this.#pump();
  }

  #onExit(slot: WorkerSlot, record: WorkerRecord, code: number): void {
    record.addCodecs(this.#exitedCodecs);
    record.gone(`its worker exited with code ${code} (${record.fate ?? 'crash'})`);
    // Whoever waits for this worker to stop (a recycle) is told first, closing or not.
    this.#exitWaiters.get(slot)?.forEach((resolve) => resolve());
    this.#readyWaiters.forEach((check) => check());
    if (record.fate === 'timeout') {
      // Stopped to end a call, it exits with code 1 (as terminate() makes it); a worker that ended itself
      // with another code as its call's grace period ran out is a crash.
      if (code !== 1) record.fate = 'crash';
      this.#count(record, record.fate);
    }
    if (this.#closing) return;
    if (record.fate === undefined && !record.ready) {
      // It died while loading the tool modules: a start-up crash.
      record.fate = 'crash';
      this.#count(record, 'crash');
      this.#emitExit(record, code);
      const module = record.loading ?? 'toolbridge runtime';
      const cause = new Error(`the worker exited with code ${code} while loading it`);
      return this.#startFailed(slot, new ToolLoadError(module, cause));
    }
    if (record.fate === undefined) {
      // It died under a task or between tasks (process.exit, out of memory): Piscina has started another.
      record.fate = 'crash';
      this.#count(record, 'crash');
    }
    this.#emitExit(record, code);
    if (slot.gone) return;
    slot.adopt();
    if (slot.current === undefined) {
      // Piscina gave up on the thread: start a fresh slot.
      this.#remove(slot);
      void slot.retire(record.fate);
      this.#fill();
    }
  }

  /** A worker could not load the tools: fail start-up, or back off before starting another. */
  #startFailed(slot: WorkerSlot, error: ToolBridgeError): void {
    this.#remove(slot);
    void slot.retire('crash');
    if (this.#startup.failed(error, () => this.#fill())) return;
    if (!this.#canServe()) this.#queue.failAll(() => this.#startup.loadError());
  }

  /** Some worker serves or is starting. */
  #canServe(): boolean {
    return this.#slots.some((slot) => slot.draining === undefined && !slot.gone);
  }

  #remove(slot: WorkerSlot): void {
    const at = this.#slots.indexOf(slot);
    if (at >= 0) this.#slots.splice(at, 1);
    this.#unpin(slot);
  }

  /** Drains a worker: no new calls; its replacement starts now; it stops once its call is done. */
  #recycle(slot: WorkerSlot, reason: RecycleReason): void {
    if (slot.draining !== undefined || slot.gone) return;
    slot.draining = reason;
    if (slot.current) this.#count(slot.current, reason);
    this.#fill();
    if (this.#slots.filter((s) => s.draining === undefined && !s.gone).length === 0) this.#addSlot();
    // A worker holding sessions stops once they are all closed.
    if (!slot.busy && slot.vacant) this.#retire(slot);
  }

  #retire(slot: WorkerSlot): void {
    if (slot.gone) return;
    this.#remove(slot);
    void slot.retire(slot.draining ?? 'manual');
  }

  #count(record: WorkerRecord, reason: RecycleReason): void {
    this.#recycles.set(reason, (this.#recycles.get(reason) ?? 0) + 1);
    this.#options.onRecycle({ pool: this.#name, workerId: record.threadId, reason, heapMb: round(record.heapMb) });
  }

  #emitExit(record: WorkerRecord, code: number): void {
    this.#options.onWorkerExit({ pool: this.#name, workerId: record.threadId, exitCode: code, reason: record.fate! });
  }

  readonly #exitWaiters = new Map<WorkerSlot, Array<() => void>>();
  readonly #readyWaiters = new Set<() => void>();

  #exited(slot: WorkerSlot): Promise<void> {
    return new Promise<void>((resolve) => {
      const list = this.#exitWaiters.get(slot) ?? [];
      list.push(() => {
        this.#exitWaiters.delete(slot);
        resolve();
      });
      this.#exitWaiters.set(slot, list);
    });
  }

  /** Resolves once `count` workers serve (idle or busy), or at close. */
  #readyCount(count: number): Promise<void> {
    const settled = () => this.#closing || this.#slots.filter((slot) => slot.idle || slot.busy).length >= count;
    return settled() ? Promise.resolve() : this.#waitFor(settled);
  }

  #stopTimers(): void {
    clearInterval(this.#timer);
    this.#startup.stop();
    for (const check of this.#readyWaiters) check();
  }
}

function startupError(error: NonNullable<ReadyNotice['error']>): ToolBridgeError {
  if (error.code === 'DUPLICATE_TOOL') return new DuplicateToolError(error.tool ?? '', error.modules ?? []);
  return new ToolLoadError(error.module, reviveError(error));
}

import { reviveError } from '../../codec/error-record.js';
import { DuplicateToolError, ToolBridgeError, ToolLoadError } from '../../errors.js';
import type { ResolvedPool } from '../../options.js';
import type { ReadyNotice, RuntimeConfig } from '../../runtime-protocol.js';
import type { CodecCounts, RecycleEvent, RecycleReason, WorkerExitEvent, WorkerStats } from '../../telemetry/events.js';
import type { ToolInfo } from '../../tool/define.js';
import type { SessionInfo } from '../../tool/session.js';
import { round, workerStats } from './pool-stats.js';
import { Startup } from './startup.js';
import { Watchdog } from './watchdog.js';
import { WorkerSlot, type WorkerRecord } from './worker-slot.js';

export interface WorkerSetOptions {
  pool: ResolvedPool;
  startTimeoutMs: number;
  /** Start a worker even when `minThreads` is 0, so that the tool modules are checked at start. */
  checkModules: boolean;
  runtime: RuntimeConfig;
  onRecycle: (event: RecycleEvent) => void;
  onWorkerExit: (event: WorkerExitEvent) => void;
}

/** What the worker set asks of the dispatch above it. */
export interface WorkerSetHost {
  /** Calls waiting in the common queue (the pool grows for them). */
  waiting(): number;
  /** A worker has loaded its tool modules and serves. */
  ready(slot: WorkerSlot, record: WorkerRecord): void;
  /** A slot has left the set: the calls pinned to it go elsewhere or fail. */
  removed(slot: WorkerSlot): void;
  /** No worker serves nor is starting after a start-up failure: the waiting calls fail with `error()`. */
  unservable(error: () => ToolBridgeError): void;
}

/** Longest a graceful close waits for an idle worker's own close before stopping it. */
const CLOSE_GRACE_MS = 5_000;

/**
 * The pool's worker threads, each in a {@link WorkerSlot}: starting them (with back-off after start-up
 * crashes), telling ready from gone, recycling one past a watchdog threshold (its replacement starts at
 * once; it stops when its call is done), and stopping them at close. Which call runs where is decided
 * above, by the pool.
 */
export class WorkerSet {
  readonly slots: WorkerSlot[] = [];
  #closing = false;
  readonly #options: WorkerSetOptions;
  readonly #host: WorkerSetHost;
  readonly #watchdog: Watchdog;
  #timer: NodeJS.Timeout | undefined;
  /** The latest start-up failure, until a worker starts. */
  readonly #startup = new Startup();
  readonly #recycles = new Map<RecycleReason, number>();
  /** Values sent by workers that have exited, by path. */
  readonly #exitedCodecs: CodecCounts = { shared: 0, arrow: 0, clone: 0, msgpack: 0, copied: 0 };
  /** The sessions the workers' modules define, once a worker has started. */
  #sessionInfos: SessionInfo[] = [];
  readonly #exitWaiters = new Map<WorkerSlot, Array<() => void>>();
  readonly #changeWaiters = new Set<() => void>();

  constructor(options: WorkerSetOptions, host: WorkerSetHost) {
    this.#options = options;
    this.#host = host;
    this.#watchdog = new Watchdog(options.pool, {
      slots: this.slots,
      waiting: () => host.waiting(),
      recycle: (slot, reason) => this.recycle(slot, reason),
      retireIdle: (slot) => {
        slot.draining = 'idle';
        this.retire(slot);
      },
    });
  }

  get closing(): boolean {
    return this.#closing;
  }

  get sessionInfos(): SessionInfo[] {
    return this.#sessionInfos;
  }

  /** No new worker may start now (the back-off after a start-up crash). */
  get backingOff(): boolean {
    return this.#startup.backingOff;
  }

  /** False after a start-up failure while no worker serves or is starting (calls are refused then). */
  get serving(): boolean {
    return this.canServe() || this.#startup.failure === undefined;
  }

  /**
   * Starts `minThreads` workers (at least one with `checkModules`) and resolves with the tool catalog once
   * the first has loaded the tools; the others go on starting. With none to start, resolves at once.
   */
  start(): Promise<ToolInfo[]> {
    const { startTimeoutMs, pool, checkModules } = this.#options;
    const starting = checkModules ? Math.max(1, pool.minThreads) : pool.minThreads;
    this.#timer = setInterval(() => this.#watchdog.tick(), pool.memory.checkIntervalMs).unref();
    if (starting === 0) return Promise.resolve([]);
    const discovered = this.#startup.begin(startTimeoutMs, () =>
      this.slots.flatMap((slot) => (slot.current?.loading ? [slot.current.loading] : [])),
    );
    for (let i = 0; i < starting; i++) this.add();
    return discovered;
  }

  /** The error calls get while start-up keeps failing and no worker can serve; undefined otherwise. */
  loadFailure(): ToolBridgeError | undefined {
    return this.#startup.failure && !this.canServe() ? this.#startup.loadError() : undefined;
  }

  /** Some worker serves or is starting. */
  canServe(): boolean {
    return this.slots.some((slot) => slot.draining === undefined && !slot.gone);
  }

  idleSlot(): WorkerSlot | undefined {
    for (const slot of this.slots) if (slot.idle) return slot;
    return undefined;
  }

  /** After a task (or a session's call): the watchdog's checks on that worker. */
  afterTask(slot: WorkerSlot, record: WorkerRecord): void {
    this.#watchdog.afterTask(slot, record);
  }

  /** Starts a worker when calls wait and the pool may grow. */
  grow(): void {
    let serving = 0;
    let starting = 0;
    for (const slot of this.slots) {
      if (slot.draining !== undefined || slot.gone) continue;
      serving++;
      if (slot.current?.ready !== true) starting++;
    }
    if (serving < this.#options.pool.maxThreads && this.#host.waiting() > starting) this.add();
  }

  /** Keeps at least `minThreads` workers that are not draining. */
  fill(): void {
    let serving = this.slots.filter((slot) => slot.draining === undefined && !slot.gone).length;
    while (serving++ < this.#options.pool.minThreads) this.add();
    if (this.#host.waiting() > 0) this.grow();
  }

  add(): void {
    if (this.#closing || this.#startup.backingOff) return;
    const { pool, runtime } = this.#options;
    const slot = new WorkerSlot(
      { runtime, hardHeapMb: pool.memory.hardHeapMb },
      {
        ready: (s, record, notice) => this.#onReady(s, record, notice),
        exit: (s, record, code) => this.#onExit(s, record, code),
      },
    );
    this.slots.push(slot);
  }

  /** Drains a worker: no new calls; its replacement starts now; it stops once its call is done. */
  recycle(slot: WorkerSlot, reason: RecycleReason): void {
    if (slot.draining !== undefined || slot.gone) return;
    slot.draining = reason;
    if (slot.current) this.#count(slot.current, reason);
    this.fill();
    if (this.slots.filter((s) => s.draining === undefined && !s.gone).length === 0) this.add();
    // A worker holding sessions stops once they are all closed.
    if (!slot.busy && slot.vacant) this.retire(slot);
  }

  /** Recycles every worker gracefully; resolves when the old ones have stopped and their replacements serve. */
  async recycleAll(): Promise<void> {
    const drained = this.slots.filter((slot) => slot.draining === undefined && !slot.gone);
    const exits = drained.map((slot) => this.#exited(slot));
    for (const slot of drained) this.recycle(slot, 'manual');
    await Promise.all(exits);
    await this.#readyCount(Math.min(drained.length, this.#options.pool.maxThreads));
  }

  retire(slot: WorkerSlot): void {
    if (slot.gone) return;
    this.#remove(slot);
    void slot.retire(slot.draining ?? 'manual');
  }

  /** Recycles so far, by reason. */
  recycles(): ReadonlyMap<RecycleReason, number> {
    return this.#recycles;
  }

  /** Values the workers' results sent by each path (exited workers included). */
  codecs(): CodecCounts {
    const out = { ...this.#exitedCodecs };
    for (const slot of this.slots) slot.current?.addCodecs(out);
    return out;
  }

  stats(): WorkerStats[] {
    return workerStats(this.slots, this.#options.pool.name, (record) => this.#watchdog.heapLimitMb(record));
  }

  /**
   * Resolves at the next change of the workers (one ready, one gone), at close, when `signal` fires, or
   * after the start-up time.
   */
  change(signal?: AbortSignal): Promise<void> {
    return this.#waitFor(() => true, { timeoutMs: this.#options.startTimeoutMs, signal });
  }

  /** Starts no more workers and stops the timers: the first step of a close. */
  stop(): void {
    this.#closing = true;
    clearInterval(this.#timer);
    this.#startup.stop();
    for (const check of this.#changeWaiters) check();
  }

  /** Closes every worker once its task is done: idle ones at once, one that does not within a grace is stopped. */
  async close(): Promise<void> {
    // A task still running is one that ended its call with a time limit and is being stopped: let it go
    // first, since Piscina's close waits for tasks to end, and a stopped task never ends.
    await Promise.all(
      this.slots.map(async (slot) => {
        await slot.task;
        // A slot retired meanwhile (a draining worker whose call just ended) is being destroyed: Piscina's
        // close() on it would wait for workers that already stopped, until its own 30 s close timeout.
        if (slot.gone) return slot.retire(slot.draining ?? 'manual');
        // A worker still starting is let finish first: stopping one that is still loading its modules (Piscina's
        // close() or destroy()) could wait for good on Node 24.
        await this.#started(slot);
        let timer: NodeJS.Timeout | undefined;
        const stuck = new Promise<'stuck'>((resolve) => (timer = setTimeout(() => resolve('stuck'), CLOSE_GRACE_MS)));
        const outcome = await Promise.race([slot.piscina.close().then(() => 'closed' as const), stuck]);
        clearTimeout(timer);
        if (outcome === 'stuck') await slot.retire('manual');
      }),
    );
  }

  /** Stops every worker now (one still loading its modules is let finish first, as in `close()`). */
  async destroy(): Promise<void> {
    await Promise.all(
      this.slots.map(async (slot) => {
        await this.#started(slot);
        return slot.retire(slot.draining ?? 'manual');
      }),
    );
  }

  #onReady(slot: WorkerSlot, record: WorkerRecord, notice: ReadyNotice): void {
    if (notice.error) {
      record.fate = 'crash';
      return this.#startFailed(slot, startupError(notice.error));
    }
    this.#startup.ready(notice.tools);
    this.#sessionInfos = notice.sessions;
    this.#changeWaiters.forEach((check) => check());
    this.#host.ready(slot, record);
  }

  #onExit(slot: WorkerSlot, record: WorkerRecord, code: number): void {
    record.addCodecs(this.#exitedCodecs);
    record.gone(`its worker exited with code ${code} (${record.fate ?? 'crash'})`);
    // Whoever waits for this worker to stop (a recycle) is told first, closing or not.
    this.#exitWaiters.get(slot)?.forEach((resolve) => resolve());
    this.#changeWaiters.forEach((check) => check());
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
      this.fill();
    }
  }

  /** A worker could not load the tools: fail start-up, or back off before starting another. */
  #startFailed(slot: WorkerSlot, error: ToolBridgeError): void {
    this.#remove(slot);
    void slot.retire('crash');
    if (this.#startup.failed(error, () => this.fill())) return;
    if (!this.canServe()) this.#host.unservable(() => this.#startup.loadError());
  }

  #remove(slot: WorkerSlot): void {
    const at = this.slots.indexOf(slot);
    if (at >= 0) this.slots.splice(at, 1);
    this.#host.removed(slot);
  }

  #count(record: WorkerRecord, reason: RecycleReason): void {
    this.#recycles.set(reason, (this.#recycles.get(reason) ?? 0) + 1);
    const event = { pool: this.#options.pool.name, workerId: record.threadId, reason, heapMb: round(record.heapMb) };
    this.#options.onRecycle(event);
  }

  #emitExit(record: WorkerRecord, code: number): void {
    const { name } = this.#options.pool;
    this.#options.onWorkerExit({ pool: name, workerId: record.threadId, exitCode: code, reason: record.fate! });
  }

  /** Resolves once the slot's worker is ready, has gone, or has had the start-up time to be. */
  #started(slot: WorkerSlot): Promise<void> {
    const settled = () => slot.gone || slot.current === undefined || slot.current.ready;
    if (settled()) return Promise.resolve();
    return this.#waitFor(settled, { timeoutMs: this.#options.startTimeoutMs, also: this.#exited(slot) });
  }

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
    const settled = () => this.#closing || this.slots.filter((slot) => slot.idle || slot.busy).length >= count;
    return settled() ? Promise.resolve() : this.#waitFor(settled);
  }

  /**
   * Resolves when a change of the workers (one ready, one gone, close) finds `settled()` true, or after
   * `timeoutMs`, when `signal` fires, or when `also` settles: the one way every wait on the workers is made.
   */
  #waitFor(
    settled: () => boolean,
    { timeoutMs, signal, also }: { timeoutMs?: number; signal?: AbortSignal; also?: Promise<void> } = {},
  ): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#changeWaiters.delete(check);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const check = () => {
        if (settled()) done();
      };
      const timer = timeoutMs === undefined ? undefined : setTimeout(done, timeoutMs);
      this.#changeWaiters.add(check);
      signal?.addEventListener('abort', done, { once: true });
      void also?.then(done);
    });
  }
}

function startupError(error: NonNullable<ReadyNotice['error']>): ToolBridgeError {
  if (error.code === 'DUPLICATE_TOOL') return new DuplicateToolError(error.tool ?? '', error.modules ?? []);
  return new ToolLoadError(error.module, reviveError(error));
}

import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { releaseHandlesOf } from '../../memory/ledger.js';
import type { WireMessage } from '../../codec/message.js';
import type { SubmitOptions } from '../dispatcher.js';
import type { CodecCounts, ExitReason } from '../../telemetry/events.js';
import {
  GAUGE_ARROW,
  GAUGE_CLONE,
  GAUGE_COPIED,
  GAUGE_HEAP,
  GAUGE_EXTERNAL,
  GAUGE_HEAP_LIMIT,
  GAUGE_MSGPACK,
  GAUGE_SHARED,
  GAUGE_STARTED,
  isRuntimeNotice,
  type ReadyNotice,
  type RuntimeConfig,
} from '../../runtime-protocol.js';

/** The worker file: a CommonJS shim that loads the ESM runtime (see workers/entry.cts for why). */
const RUNTIME_ENTRY = new URL('../../../workers/entry.cjs', import.meta.url).href;
const MiB = 1024 * 1024;

/** A message waiting for a worker. */
export interface Job {
  readonly message: WireMessage;
  readonly options: SubmitOptions;
  readonly resolve: (reply: WireMessage) => void;
  readonly reject: (error: unknown) => void;
  /** Handed to a worker, cancelled or failed: it no longer waits. */
  done: boolean;
  /** Told which worker runs it, just before it starts. */
  onStart?: ((record: WorkerRecord) => void) | undefined;
  /** For a call pinned to a worker: the `performance.now()` time from which any worker may take it. */
  anyAfter?: number | undefined;
}

/** One worker thread of a slot, from its start to its exit. */
export class WorkerRecord {
  readonly worker: Worker;
  readonly threadId: number;
  readonly startedAt = performance.now();
  /** Tasks it completed (or that failed on it). */
  tasks = 0;
  /** Its tool modules are loaded and it serves calls. */
  ready = false;
  /** The tool module it is importing, while it starts. */
  loading: string | undefined;
  /** Why it is being stopped, once toolbridge has decided to stop it. */
  fate: ExitReason | undefined;
  #gauges: Float64Array | undefined;
  /** The heap in use read from the main thread (`worker.getHeapStatistics()`), when newer than the gauge. */
  liveHeap: number | undefined;
  /** Sessions it holds open (`bridge.open`), and their calls now running. */
  sessions = 0;
  sessionCalls = 0;
  /** Sticky broadcasts it has run (or was sent when they were made), by count. */
  stickyDone = 0;
  /** Told why, when it exits: the sessions it held are lost. */
  readonly #onGone: Array<(detail: string) => void> = [];

  constructor(worker: Worker) {
    this.worker = worker;
    this.threadId = worker.threadId;
  }

  /** How many handles of each shared-memory ledger entry it holds. */
  held: SharedArrayBuffer | undefined;

  /** Runs `listener` when this worker exits (its sessions are lost). */
  whenGone(listener: (detail: string) => void): void {
    this.#onGone.push(listener);
  }

  /** It exited: tells those waiting for that. */
  gone(detail: string): void {
    for (const listener of this.#onGone.splice(0)) listener(detail);
  }

  markReady(notice: ReadyNotice): void {
    this.ready = true;
    this.loading = undefined;
    this.#gauges = new Float64Array(notice.gauges);
  }

  /** Values its results sent by each path, so far. */
  addCodecs(into: CodecCounts): void {
    const g = this.#gauges;
    if (!g) return;
    into.shared += g[GAUGE_SHARED]!;
    into.arrow += g[GAUGE_ARROW]!;
    into.clone += g[GAUGE_CLONE]!;
    into.msgpack += g[GAUGE_MSGPACK]!;
    into.copied += g[GAUGE_COPIED]!;
  }

  /** The pool's number (`WireMessage.q`) of the latest task it has begun (they begin in the order sent). */
  get started(): number {
    return this.#gauges?.[GAUGE_STARTED] ?? 0;
  }

  /** Its V8 heap limit in MiB (`heap_size_limit`), once it has started. */
  get heapLimitMb(): number {
    return (this.#gauges?.[GAUGE_HEAP_LIMIT] ?? 0) / MiB;
  }

  /** V8 heap in use in MiB, as last sampled (after a task, at most every ms; or live, by the periodic check). */
  get heapMb(): number {
    const sampled = this.#gauges?.[GAUGE_HEAP] ?? 0;
    return Math.max(sampled, this.liveHeap ?? 0) / MiB;
  }

  /** Memory outside its V8 heap in MiB (its own ArrayBuffers and typed arrays), as last sampled. */
  get externalMb(): number {
    return (this.#gauges?.[GAUGE_EXTERNAL] ?? 0) / MiB;
  }

  ageMs(now = performance.now()): number {
    return now - this.startedAt;
  }
}

/**
 * A worker may end (a tool calling `process.exit()`, say) just after it answered the call before: with a
 * call sent ahead (ahead.ts) that answer is still in Piscina's reply port when the worker's `exit` event
 * comes, and Piscina fails every call it had not yet read an answer for, that one included. So, before
 * Piscina hears of the exit, its worker reads the answers already posted. Piscina offers no public way to:
 * this reaches its worker record through the `workerCreate` event's `kWorkerData` symbol, and does nothing
 * where that is not there (the call would then fail with `WORKER_CRASHED`, as the worker's own call does).
 */
function readRepliesBeforeExit(created: object): void {
  const key = Object.getOwnPropertySymbols(created).find((symbol) => symbol.description?.endsWith('kWorkerData'));
  const info = key && (created as Record<symbol, unknown>)[key];
  if (typeof info !== 'object' || info === null) return;
  const { worker, processPendingMessages } = info as { worker?: unknown; processPendingMessages?: unknown };
  if (!(worker instanceof EventEmitter) || typeof processPendingMessages !== 'function') return;
  worker.prependOnceListener('exit', () => {
    try {
      processPendingMessages.call(info);
    } catch {
      // Piscina fails the calls it could not read an answer for.
    }
  });
}

/** What a slot tells its pool. */
export interface SlotEvents {
  /** A worker of the slot has loaded its tool modules, or failed to (`notice.error`). */
  ready(slot: WorkerSlot, record: WorkerRecord, notice: ReadyNotice): void;
  /** A worker of the slot exited. */
  exit(slot: WorkerSlot, record: WorkerRecord, code: number): void;
}

export interface SlotOptions {
  runtime: RuntimeConfig;
  hardHeapMb: number | undefined;
}

/**
 * One worker thread, hosted by a Piscina pool of exactly one thread. Piscina runs the task protocol (the
 * Atomics wake-ups, aborts that stop the thread, replacing a worker that crashed under a task); the
 * toolbridge pool above decides which slot gets a call, and when a slot is drained and retired, so that
 * each worker can be recycled on its own with its replacement started first.
 */
export class WorkerSlot {
  readonly piscina: Piscina;
  /** The worker now serving (or starting); Piscina replaces it after a crash or a stopped task. */
  current: WorkerRecord | undefined;
  /** Tasks sent to its worker and not answered yet: the one running, and at most one sent ahead (ahead.ts). */
  inFlight = 0;
  /** The tool of the latest task sent. */
  tool: string | undefined;
  /** Settles once the latest task has ended and been accounted for. */
  task: Promise<void> | undefined;
  /** Marked for recycling: gets no new task, and is retired once idle. */
  draining: ExitReason | undefined;
  /** Retired or failed: its workers are stopped or stopping. */
  gone = false;
  /** `performance.now()` when it last became idle, and when its latest task started. */
  idleSince = performance.now();
  taskStart = 0;
  readonly #events: SlotEvents;
  readonly #records = new Map<number, WorkerRecord>();
  #stopped: Promise<void> | undefined;

  constructor(options: SlotOptions, events: SlotEvents) {
    this.#events = events;
    this.piscina = new Piscina({
      filename: RUNTIME_ENTRY,
      minThreads: 1,
      maxThreads: 1,
      idleTimeout: Infinity,
      // The running task and one sent ahead (see ahead.ts); the worker runs them one after the other.
      concurrentTasksPerWorker: 2,
      // toolbridge keeps its own latency figures: Piscina's histograms would time every task again.
      recordTiming: false,
      // An idle worker waits with Atomics.waitAsync, not Atomics.wait: its event loop keeps running between
      // tasks, so that sessions' ports (and a tool's timers) are served. Measured no slower for no-op calls.
      atomics: 'async',
      workerData: options.runtime,
      ...(options.hardHeapMb ? { resourceLimits: { maxOldGenerationSizeMb: options.hardHeapMb } } : {}),
    });
    this.piscina.on('message', (message: unknown) => this.#onNotice(message));
    this.piscina.on('workerCreate', (worker: object) => readRepliesBeforeExit(worker));
    // A worker that fails outside a task is reported here; its exit is handled below.
    this.piscina.on('error', () => undefined);
    this.adopt();
  }

  /** Calls waiting for this worker in particular (a session's open, a broadcast, an affinity key), in order. */
  readonly pinned: Job[] = [];

  /** Running a task. */
  get busy(): boolean {
    return this.inFlight > 0;
  }

  /** Usable for a new call now: started, not running a task nor a session's method, not draining. */
  get idle(): boolean {
    return this.free && this.draining === undefined;
  }

  /** Not running anything now (a draining worker may be free: it takes only calls pinned to it). */
  get free(): boolean {
    const record = this.current;
    return !this.busy && record?.ready === true && record.sessionCalls === 0;
  }

  /** Holds no open session: a draining worker may stop once it is also free. */
  get vacant(): boolean {
    return (this.current?.sessions ?? 0) === 0;
  }

  /** Picks up a worker Piscina has started (at first, or in place of one that died). */
  adopt(): void {
    for (const worker of this.piscina.threads) {
      if (this.#records.has(worker.threadId)) continue;
      const record = new WorkerRecord(worker);
      this.#records.set(record.threadId, record);
      this.current = record;
      worker.once('exit', (code) => {
        // It ran no finalizers: the shared memory it still held is released for it.
        if (record.held) releaseHandlesOf(record.held);
        this.#records.delete(record.threadId);
        if (this.current === record) this.current = undefined;
        this.#events.exit(this, record, code);
      });
    }
  }

  /** True when the worker that ran a task is no longer Piscina's (it was stopped for an abort). */
  lost(record: WorkerRecord): boolean {
    return !this.piscina.threads.includes(record.worker);
  }

  /** Stops the slot's workers now. Once: a second call returns the same stop. */
  retire(fate: ExitReason): Promise<void> {
    this.gone = true;
    for (const record of this.#records.values()) record.fate ??= fate;
    this.#stopped ??= this.piscina.destroy();
    return this.#stopped;
  }

  #onNotice(message: unknown): void {
    if (!isRuntimeNotice(message)) return;
    let record = this.#records.get(message.threadId);
    if (record === undefined) {
      this.adopt();
      record = this.#records.get(message.threadId);
      if (record === undefined) return;
    }
    if (message.toolbridge === 'loading') {
      record.loading = message.module;
      return;
    }
    record.held = message.held;
    if (!message.error) record.markReady(message);
    this.#events.ready(this, record, message);
  }
}

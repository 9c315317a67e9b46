/**
 * The worker entry: Piscina loads this module in every worker thread. At start-up it loads the built-in
 * tools and the user's tool modules; for each task it decodes the call envelope, runs the tool and
 * encodes the result (or the error) the same way.
 */
import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { toErrorRecord } from '../src/codec/error-record.js';
import { ModuleNeeded, withModules } from '../src/codec/lazy-modules.js';
import { attachLedger } from '../src/memory/ledger.js';
import { decodeMessage, SPLIT_MERGE, SPLIT_PLAN, type SplitPlan, type WireMessage } from '../src/codec/message.js';
import {
  BUILTIN_MODULE,
  GAUGE_HEAP_LIMIT,
  GAUGE_STARTED,
  type ReadyNotice,
  type RuntimeConfig,
  type RuntimeNotice,
} from '../src/runtime-protocol.js';
import { loadingRefusal, setLoadingModule } from '../src/loading-module.js';
import { toolsOfModule, type SplitSpec, type ToolDefinition, type ToolInfo } from '../src/tool/define.js';
import { sessionsOfModule, type SessionDefinition, type SessionInfo } from '../src/tool/session.js';
import { isScalar, type Scalar } from '../src/session/scalar.js';
import { CallContext } from './call-context.js';
import { isThenable, runChunk } from './chunk.js';
import { prepareKernels } from './kernels/kernels.js';
import { fail, gauges, reply, sampleHeap } from './reply.js';
import { builtinTools } from './tools/index.js';

/**
 * A call as the pool hands it to the worker: the wire message, a port for abort notices if any, and for a
 * session's open the session's port.
 */
export type Task = WireMessage & { p?: MessagePort; s?: MessagePort };

const config = workerData as RuntimeConfig;
const registry = new Map<string, { tool: ToolDefinition; module: string }>();
const sessions = new Map<string, { session: SessionDefinition; module: string }>();
// Before any tool module loads: shared memory allocated here is counted in the process's ledger.
const held = attachLedger(config.ledger);
let loadFailure: ReadyNotice['error'];

const notify = (notice: RuntimeNotice): void => parentPort?.postMessage(notice);

/** Registers a module's tools and sessions (one namespace: a name taken twice fails start-up). */
function register(tools: readonly ToolDefinition[], defined: readonly SessionDefinition[], module: string): void {
  for (const item of [...tools, ...defined]) {
    const existing = registry.get(item.name) ?? sessions.get(item.name);
    if (existing) {
      loadFailure = {
        name: 'DuplicateToolError',
        message: `Tool "${item.name}" is defined in ${existing.module} and ${module}`,
        stack: '',
        code: 'DUPLICATE_TOOL',
        path: '',
        module,
        tool: item.name,
        modules: [existing.module, module],
      };
      return;
    }
    if ('run' in item) registry.set(item.name, { tool: item, module });
    else sessions.set(item.name, { session: item, module });
  }
}

async function load(): Promise<void> {
  register(builtinTools, [], BUILTIN_MODULE);
  for (const module of config.modules) {
    if (loadFailure) return;
    notify({ toolbridge: 'loading', threadId, module });
    // While set, createBridge() refuses to start: a tool module that starts a bridge would have every
    // worker start workers of its own (a script passing its own URL in `tools`, say).
    setLoadingModule(module);
    try {
      const namespace = (await import(module)) as Record<string, unknown>;
      const tools = toolsOfModule(namespace);
      const defined = sessionsOfModule(namespace);
      // Refused even if the module caught the error.
      const refusal = loadingRefusal();
      if (refusal !== undefined) throw new Error(refusal);
      if (tools.length === 0 && defined.length === 0) {
        throw new Error(
          'the module exports no tool: export the results of defineTool() or defineSession() (or a default export of an array of them)',
        );
      }
      register(tools, defined, module);
    } catch (error) {
      loadFailure = { ...toErrorRecord(error), code: 'TOOL_LOAD_FAILED', module };
    } finally {
      setLoadingModule(undefined);
    }
  }
}

/** Tells the pool this worker is ready: the tools and sessions its modules define, or why they failed. */
function announce(): void {
  const catalog: ToolInfo[] = [...registry.values()].map(({ tool, module }) => ({
    name: tool.name,
    description: tool.description,
    version: tool.version,
    idempotent: tool.idempotent,
    timeoutMs: tool.timeoutMs,
    retries: tool.retries,
    module,
    batch: tool.batch,
    pool: tool.pool,
    inputSchema: tool.inputSchema,
    outputSchema: tool.outputSchema,
    annotations: tool.annotations,
  }));
  const sessionCatalog: SessionInfo[] = [...sessions.values()].map(({ session, module }) => ({
    name: session.name,
    description: session.description,
    pool: session.pool,
    concurrent: session.concurrent,
    idleTimeoutMs: session.idleTimeoutMs,
    module,
  }));
  sampleHeap();
  gauges[GAUGE_HEAP_LIMIT] = getHeapStatistics().heap_size_limit;
  notify({
    toolbridge: 'ready',
    threadId,
    tools: catalog,
    sessions: sessionCatalog,
    gauges: gauges.buffer as SharedArrayBuffer,
    held,
    ...(loadFailure ? { error: loadFailure } : {}),
  });
  if (loadFailure) return;
  // While the first call is on its way: the built-in tools' WebAssembly, compiled off the thread. (No first
  // run of the codec here: the first call reaches a ready worker within a millisecond or so, and would wait
  // for it; measured, that cost the first call more than the warm run spared it.)
  prepareKernels();
}

/**
 * Settles once the tool modules have loaded and the pool has been told, with the task handler: what Piscina
 * runs each task with (workers/entry.cts hands it this promise). No top-level await: the bundle is CommonJS,
 * which a worker loads in a few milliseconds less than an ES module (no ES module loader to start for the
 * built-in tools alone).
 */
export const started: Promise<(task: Task) => WireMessage | Promise<WireMessage>> = load().then(() => {
  announce();
  return handle;
});

/**
 * Tasks run one at a time, each in a turn of the event loop after the one before ended. The pool may send a
 * task to a worker still running one (see `LocalPool`), and Piscina may read both at once: a task begun in
 * the same turn as the previous one ended would run before Piscina has posted that one's answer (it does so
 * a few microtasks on), and a task that then ends the worker (`process.exit()`) would lose it.
 */
let tail: Promise<void> | undefined;
/** A task ended synchronously in this turn of the event loop. */
let turnBusy = false;

function endOfTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function freeTurn(): void {
  turnBusy = false;
}

/** Never throws: every failure becomes an error envelope. */
function handle(task: Task): WireMessage | Promise<WireMessage> {
  if (tail === undefined && !turnBusy) return runNow(task);
  const out = (tail ?? endOfTurn()).then(() => runNow(task));
  follow(out);
  return out;
}

function runNow(task: Task): WireMessage | Promise<WireMessage> {
  const out = runTask(task);
  if (out instanceof Promise) {
    follow(out);
  } else if (!turnBusy) {
    turnBusy = true;
    setImmediate(freeTurn);
  }
  return out;
}

/** Makes `out` the latest task: the next begins a turn after it has ended. */
function follow(out: Promise<unknown>): void {
  const ended: Promise<void> = out.then(endOfTurn, endOfTurn).then(() => {
    if (tail === ended) tail = undefined;
  });
  tail = ended;
}

/**
 * Set once the worker is ending (a tool called `process.exit()`, say): the thread stops soon, and may run
 * JavaScript until then. A task that arrives meanwhile (one sent ahead) is not begun, nor counted as begun,
 * so that the pool runs it on another worker.
 */
let exiting = false;
process.once('exit', () => {
  exiting = true;
});
const NEVER = new Promise<never>(() => undefined);

/** Runs one call (or chunk), then samples the heap. */
function runTask(task: Task): WireMessage | Promise<WireMessage> {
  if (exiting) return NEVER;
  if (task.q !== undefined) gauges[GAUGE_STARTED] = task.q;
  const out = run(task);
  if (out instanceof Promise) return out.finally(sampleHeap);
  sampleHeap();
  return out;
}

/** A split call's plan as it goes back: without a merge, with the value that is the call's result. */
function splitPlan(split: SplitSpec, parts: number, plan: { shared?: unknown; result?: unknown }): SplitPlan {
  if (split.merge) return { n: parts, s: plan.shared };
  return 'result' in plan
    ? { n: parts, s: plan.shared, o: true, v: plan.result }
    : { n: parts, s: plan.shared, o: true };
}

function run(task: Task): WireMessage | Promise<WireMessage> {
  let callId = 0;
  let name = '';
  let ctx: CallContext | undefined;
  const received = performance.now();
  let started = received;
  let decoded = false;
  try {
    const { fields, value } = decodeMessage(task);
    // A part of a split call, or its merge: what the plan shared (and the parts' results).
    const extra = task.y && (decodeMessage(task.y).value as { s: unknown; n?: number; p?: unknown[] });
    decoded = true;
    started = performance.now();
    const decodeMs = started - received;
    callId = fields.callId;
    name = fields.tool;
    if (task.s) return openSession(callId, name, value, task.s, decodeMs);
    const entry = registry.get(name);
    if (!entry) {
      if (loadFailure) return fail(callId, name, new Error(loadFailure.message), loadFailure.code);
      return fail(callId, name, new Error(`No tool named "${name}" in this worker`), 'TOOL_NOT_FOUND');
    }
    ctx = new CallContext(callId, name, fields.deadline, task.p);
    if (fields.count) return runChunk(entry.tool, value, fields.deadlines ?? [], ctx, decodeMs);
    const { split } = entry.tool;
    let out: unknown;
    if (split && extra && task.x !== undefined) {
      const { s, n, p } = extra;
      out =
        task.x === SPLIT_MERGE
          ? split.merge!(value, p ?? [], s, ctx)
          : split.part(value, { index: task.x, count: n ?? 1 }, s, ctx);
    } else if (split) {
      const plan = split.plan(value, { workers: config.threads });
      const parts = Math.floor(Number(plan?.parts));
      if (parts > 1) {
        ctx.dispose();
        return reply(callId, name, splitPlan(split, parts, plan), performance.now() - started, decodeMs, 0, SPLIT_PLAN);
      }
      out = entry.tool.run(value, ctx);
    } else {
      out = entry.tool.run(value, ctx);
    }
    if (isThenable(out)) {
      const context = ctx;
      return Promise.resolve(out).then(
        (result) => (context.dispose(), reply(callId, name, result, performance.now() - started, decodeMs)),
        (error: unknown) => (
          context.dispose(),
          fail(callId, name, error, undefined, performance.now() - started, decodeMs)
        ),
      );
    }
    const runMs = performance.now() - started;
    ctx.dispose();
    return reply(callId, name, out, runMs, decodeMs);
  } catch (error) {
    ctx?.dispose();
    // The call holds a table (or MessagePack) and this worker has not loaded that module yet.
    if (error instanceof ModuleNeeded && !decoded) {
      return error.load().then(
        () => run(task),
        (failure: unknown) => fail(0, '', failure, 'INVALID_ARGS'),
      );
    }
    const now = performance.now();
    return fail(callId, name, error, undefined, started > received ? now - started : 0, started - received);
  }
}

// --- sessions ---

type SessionObject = Record<string, unknown> & { close?: () => unknown };

/** Opens a session: runs its `create`, then serves the object on the session's port. Replies with its methods. */
async function openSession(
  callId: number,
  name: string,
  args: unknown,
  port: MessagePort,
  decodeMs: number,
): Promise<WireMessage> {
  const started = performance.now();
  const entry = sessions.get(name);
  if (!entry) {
    port.close();
    return fail(callId, name, new Error(`No session named "${name}" in this worker`), 'TOOL_NOT_FOUND');
  }
  const controller = new AbortController();
  try {
    const object = (await entry.session.create(args, {
      session: name,
      id: callId,
      signal: controller.signal,
    })) as SessionObject;
    if (object === null || (typeof object !== 'object' && typeof object !== 'function')) {
      throw new TypeError(`create() of session "${name}" must return an object with methods, got ${typeof object}`);
    }
    const { serveSession, methodsOf } = await import('./session-host.js');
    serveSession(port, {
      concurrent: entry.session.concurrent,
      controller,
      call: (method, message) => sessionCall(object, name, method, message),
      close: async () => {
        try {
          return await reply(callId, name, await object.close?.(), 0, 0);
        } catch (error) {
          return fail(callId, name, error);
        }
      },
    });
    return reply(callId, name, { methods: methodsOf(object) }, performance.now() - started, decodeMs);
  } catch (error) {
    controller.abort(error);
    port.close();
    return fail(callId, name, error, undefined, performance.now() - started, decodeMs);
  } finally {
    sampleHeap();
  }
}

/**
 * Runs one method of a session's object: decodes its args list (a list of scalars comes as it is), runs it,
 * and gives a scalar result as it is, or encodes the result or the error.
 */
async function sessionCall(
  object: SessionObject,
  name: string,
  method: string,
  message: WireMessage | Scalar[],
): Promise<WireMessage | Scalar> {
  const received = performance.now();
  let started = received;
  try {
    let args: unknown[];
    if (Array.isArray(message)) {
      args = message;
    } else {
      const decoded = await withModules(() => decodeMessage(message));
      args = Array.isArray(decoded.value) ? (decoded.value as unknown[]) : [];
    }
    started = performance.now();
    const fn = object[method];
    if (typeof fn !== 'function') throw new TypeError(`session "${name}" has no method "${method}"`);
    const out: unknown = await (fn as (...list: unknown[]) => unknown).apply(object, args);
    if (isScalar(out)) return out;
    return await reply(0, name, out, performance.now() - started, started - received);
  } catch (error) {
    return fail(0, name, error, undefined, performance.now() - started, started - received);
  } finally {
    sampleHeap();
  }
}

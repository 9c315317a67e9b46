import { InvalidOptionsError, describeValue } from '../errors.js';
import { checkKnownKeys } from '../known-keys.js';

/** Brand that marks a tool definition, shared by every copy of this module in the process. */
export const TOOL_BRAND: unique symbol = Symbol.for('toolbridge.tool') as never;

/** What a tool receives besides its arguments. */
export interface ToolContext {
  /** Fires when the call passes its deadline or the caller aborts it. Cooperative tools should stop. */
  readonly signal: AbortSignal;
  /** Identifies the call; unique within one bridge. */
  readonly callId: number;
  /** The tool's registered name. */
  readonly tool: string;
  /**
   * Reports how far the call has got: the caller's `onProgress` (and an MCP client's progress
   * notifications) receive it. `total` when known; `message` for people. A no-op when nobody listens.
   */
  progress(done: number, total?: number, message?: string): void;
}

/** What `ctx.progress` reports, as the caller's `onProgress` receives it. */
export interface Progress {
  done: number;
  total?: number;
  message?: string;
}

export interface ToolSpec<A = unknown, R = unknown> {
  /** Unique name callers use, dotted by convention (`vector.topk`). */
  name: string;
  /** Computes the result. Runs inside a worker thread; may be sync or async. */
  run: (args: A, ctx: ToolContext) => R | Promise<R>;
  /** One line for listings. @default '' */
  description?: string;
  /** Version of the tool's behaviour; part of the result-cache key. @default '1' */
  version?: string;
  /** The same arguments always give the same result and the call has no side effects. @default false */
  idempotent?: boolean;
  /** Default time limit for one call, in milliseconds; overrides the bridge's `timeoutMs`. */
  timeoutMs?: number;
  /**
   * How many times a call (or a batch chunk) whose worker died under it is run again, on another worker,
   * before it fails with `WORKER_CRASHED`. Calls that time out or are aborted are never retried.
   * @default 1 for idempotent tools, 0 otherwise
   */
  retries?: number;
  /**
   * Runs a whole chunk of a batch at once (vectorised): gets the args of every call in the chunk and returns
   * their results in the same order. Without it, batches call `run` once per call.
   */
  runBatch?: (argsList: A[], ctx: ToolContext) => R[] | Promise<R[]>;
  /**
   * Coalesce concurrent `bridge.call`s to this tool into chunks: calls arriving within `maxWaitMs` of the
   * first (or until `maxSize` wait) go to a worker as one task. Each caller still gets its own result.
   */
  batch?: MicroBatchOptions;
  /**
   * The pool that runs this tool: a name from `createBridge({ pools })`, so that a heavy tool gets its own
   * threads and memory limits. @default 'default'
   */
  pool?: string;
  /**
   * Spreads one large call over the pool's workers (see {@link SplitSpec}). Calls of batches and
   * micro-batches are not split.
   */
  split?: SplitSpec<A, R>;
  /**
   * A JSON Schema (draft-07, or 2020-12 when its `$schema` says so) of the args, checked on the caller's
   * thread before any worker is used: a call that fails it rejects with `INVALID_ARGS` listing every failing
   * path (`error.issues`). `'x-typedArray': 'Float32Array'` (or a list of names) on an array schema accepts
   * that typed array, or a JSON array of numbers converted to it once; `'x-arrowTable': true` accepts an
   * Arrow table. Or a Standard Schema that converts itself to JSON Schema (Standard JSON Schema: zod 4.2
   * and later, say), converted once, here.
   */
  inputSchema?: JsonSchema | StandardJsonSchema;
  /** A JSON Schema (or a Standard JSON Schema) of the result, for listings (agents read it); not checked. */
  outputSchema?: JsonSchema | StandardJsonSchema;
  /** Hints for agents (MCP tool annotations); `idempotentHint` defaults to `idempotent`. */
  annotations?: ToolAnnotations;
}

/** A JSON Schema, as a plain JSON object. */
export type JsonSchema = Record<string, unknown>;

/**
 * A schema of a validation library that implements Standard JSON Schema (`~standard.jsonSchema`: zod 4.2
 * and later, for one). toolbridge converts it to JSON Schema where the tool is defined: a tool's schema
 * must cross threads (and machines) to check args on the caller's side.
 */
export interface StandardJsonSchema {
  readonly '~standard': {
    readonly vendor: string;
    readonly jsonSchema?: {
      readonly input: (options: {
        target: string;
        libraryOptions?: Record<string, unknown>;
      }) => Record<string, unknown>;
      readonly output: (options: {
        target: string;
        libraryOptions?: Record<string, unknown>;
      }) => Record<string, unknown>;
    };
  };
}

/** Hints about a tool's behaviour, as MCP's tool annotations. */
export interface ToolAnnotations {
  title?: string;
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

/**
 * How a tool spreads one call over its pool: `plan` runs first, in the worker the call reaches, and says
 * into how many parts it splits (1 or less: `run` runs the call as usual, so small calls cost nothing more);
 * each part runs `part` in whichever worker is free, all parts at once; `merge` makes the result from the
 * parts' results, in a worker. `shared` (from `plan`) reaches every part and the merge: put outputs the parts
 * fill in shared memory there (`shared(Float64Array, n)`), and each part writes its own slice. Without
 * `merge`, the plan's `result` (by default `shared`), as the parts left it, is the call's result (no merge
 * task: one round trip less). The args reach every part as they reached `plan` (shared arrays without a
 * copy).
 */
export interface SplitSpec<A = unknown, R = unknown, P = unknown, S = unknown> {
  /**
   * `workers`: the threads of the tool's pool. Throw here to reject bad args before any part runs. `result`
   * (only without `merge`): the call's result once every part is in, when it is not `shared` itself (say,
   * one output array of a `shared` that also holds scratch memory for the parts).
   */
  plan(args: A, pool: { workers: number }): { parts: number; shared?: S; result?: unknown };
  /** Part `index` of `count` (0-based); its result goes to `merge`, in part order. */
  part(args: A, part: { index: number; count: number }, shared: S, ctx: ToolContext): P | Promise<P>;
  /** The call's result, from every part's result. Leave it out to make the plan's `result` (or `shared`) the result. */
  merge?(args: A, results: P[], shared: S, ctx: ToolContext): R | Promise<R>;
}

export interface MicroBatchOptions {
  /** Most calls in one chunk. @default 256 */
  maxSize?: number;
  /** Longest a call waits for others to join its chunk, in milliseconds. @default 1 */
  maxWaitMs?: number;
}

/** A tool definition, as returned by {@link defineTool}. Export it from a tool module to register it. */
export interface ToolDefinition<A = unknown, R = unknown> {
  readonly [TOOL_BRAND]: true;
  readonly name: string;
  readonly description: string;
  readonly version: string;
  readonly idempotent: boolean;
  readonly timeoutMs: number | undefined;
  readonly retries: number;
  readonly run: (args: A, ctx: ToolContext) => R | Promise<R>;
  readonly runBatch: ((argsList: A[], ctx: ToolContext) => R[] | Promise<R[]>) | undefined;
  readonly batch: Readonly<Required<MicroBatchOptions>> | undefined;
  readonly pool: string;
  readonly split: SplitSpec<A, R> | undefined;
  readonly inputSchema: JsonSchema | undefined;
  readonly outputSchema: JsonSchema | undefined;
  readonly annotations: Readonly<ToolAnnotations>;
}

/** The metadata of a registered tool, as listed by `bridge.tools()`. */
export interface ToolInfo {
  readonly name: string;
  readonly description: string;
  readonly version: string;
  readonly idempotent: boolean;
  readonly timeoutMs: number | undefined;
  /** Runs after a worker crash before `WORKER_CRASHED`. */
  readonly retries: number;
  /** The module the tool was loaded from, or `'toolbridge:builtin'`. */
  readonly module: string;
  /** Micro-batching of single calls, when the tool asks for it. */
  readonly batch: Readonly<Required<MicroBatchOptions>> | undefined;
  /** The pool that runs it. */
  readonly pool: string;
  /** Its args' JSON Schema, checked before dispatch; undefined when it has none. */
  readonly inputSchema?: JsonSchema | undefined;
  readonly outputSchema?: JsonSchema | undefined;
  /** Hints for agents; `idempotentHint` is `idempotent` unless the tool says otherwise. */
  readonly annotations?: Readonly<ToolAnnotations>;
}

/** The pool of tools that name none. */
export const DEFAULT_POOL = 'default';
export const POOL_NAME = /^[A-Za-z_][\w-]*$/;

const SPEC_KEYS = [
  'name',
  'run',
  'description',
  'version',
  'idempotent',
  'timeoutMs',
  'retries',
  'runBatch',
  'batch',
  'pool',
  'split',
  'inputSchema',
  'outputSchema',
  'annotations',
] as const satisfies ReadonlyArray<keyof ToolSpec>;

export const TOOL_NAME = /^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*$/;

/**
 * Defines a tool. Export the result from a module and pass the module's URL to `createBridge({ tools })`.
 *
 * @example
 * export const scale = defineTool({
 *   name: 'my.scale',
 *   run({ x, k }: { x: Float64Array; k: number }) { ... },
 * });
 */
export function defineTool<A = unknown, R = unknown>(spec: ToolSpec<A, R>): ToolDefinition<A, R> {
  if (spec === null || typeof spec !== 'object') {
    throw new InvalidOptionsError(`defineTool expects an object, got ${describeValue(spec)}`);
  }
  const { name, run, runBatch, description = '', version = '1', idempotent = false, timeoutMs } = spec;
  if (typeof name !== 'string' || !TOOL_NAME.test(name)) {
    throw new InvalidOptionsError(
      `defineTool: name must be a dotted identifier such as "vector.topk", got ${describeValue(name)}`,
    );
  }
  checkKnownKeys(`defineTool(${name})`, spec, SPEC_KEYS);
  if (typeof run !== 'function') {
    throw new InvalidOptionsError(`defineTool(${name}): run must be a function, got ${describeValue(run)}`);
  }
  if (typeof description !== 'string') {
    throw new InvalidOptionsError(
      `defineTool(${name}): description must be a string, got ${describeValue(description)}`,
    );
  }
  if (typeof version !== 'string' || version === '') {
    throw new InvalidOptionsError(
      `defineTool(${name}): version must be a non-empty string, got ${describeValue(version)}`,
    );
  }
  if (typeof idempotent !== 'boolean') {
    throw new InvalidOptionsError(
      `defineTool(${name}): idempotent must be a boolean, got ${describeValue(idempotent)}`,
    );
  }
  if (timeoutMs !== undefined && !isPositiveNumber(timeoutMs)) {
    throw new InvalidOptionsError(
      `defineTool(${name}): timeoutMs must be a positive number, got ${describeValue(timeoutMs)}`,
    );
  }
  if (runBatch !== undefined && typeof runBatch !== 'function') {
    throw new InvalidOptionsError(`defineTool(${name}): runBatch must be a function, got ${describeValue(runBatch)}`);
  }
  const retries = spec.retries ?? (idempotent ? 1 : 0);
  if (!Number.isSafeInteger(retries) || retries < 0) {
    throw new InvalidOptionsError(
      `defineTool(${name}): retries must be a non-negative integer, got ${describeValue(retries)}`,
    );
  }
  const batch = spec.batch === undefined ? undefined : microBatch(name, spec.batch);
  const pool = spec.pool ?? DEFAULT_POOL;
  if (typeof pool !== 'string' || !POOL_NAME.test(pool)) {
    throw new InvalidOptionsError(
      `defineTool(${name}): pool must be a pool name such as "heavy", got ${describeValue(pool)}`,
    );
  }
  const { split } = spec;
  if (split !== undefined) {
    if (split === null || typeof split !== 'object') {
      throw new InvalidOptionsError(`defineTool(${name}): split must be an object, got ${describeValue(split)}`);
    }
    checkKnownKeys(`defineTool(${name}).split`, split, ['plan', 'part', 'merge']);
    for (const key of ['plan', 'part', 'merge'] as const) {
      if (typeof split[key] !== 'function' && (key !== 'merge' || split[key] !== undefined)) {
        throw new InvalidOptionsError(
          `defineTool(${name}): split.${key} must be a function, got ${describeValue(split[key])}`,
        );
      }
    }
  }
  const inputSchema = jsonSchema(name, 'inputSchema', spec.inputSchema);
  const outputSchema = jsonSchema(name, 'outputSchema', spec.outputSchema);
  const annotations = toolAnnotations(name, spec.annotations, idempotent);
  return Object.freeze({
    [TOOL_BRAND]: true as const,
    name,
    description,
    version,
    idempotent,
    timeoutMs,
    retries,
    run,
    runBatch,
    batch,
    pool,
    split,
    inputSchema,
    outputSchema,
    annotations,
  });
}

/**
 * A schema given to defineTool as plain JSON (it crosses threads and machines), or undefined. A Standard
 * JSON Schema is converted (draft 2020-12; a type it cannot represent, a typed array say, accepts anything).
 */
function jsonSchema(name: string, key: 'inputSchema' | 'outputSchema', schema: unknown): JsonSchema | undefined {
  if (schema === undefined) return undefined;
  const standard =
    schema !== null && typeof schema === 'object' ? (schema as StandardJsonSchema)['~standard'] : undefined;
  if (standard !== undefined) {
    const convert = key === 'inputSchema' ? standard.jsonSchema?.input : standard.jsonSchema?.output;
    if (typeof convert !== 'function') {
      throw new InvalidOptionsError(
        `defineTool(${name}): ${key} is a Standard Schema (${String(standard.vendor)}) that cannot convert itself to JSON Schema (no ~standard.jsonSchema): args are checked on the caller's thread, where only JSON crosses. Use a library with Standard JSON Schema (zod 4.2 or later) or a JSON Schema`,
      );
    }
    try {
      schema = convert({ target: 'draft-2020-12', libraryOptions: { unrepresentable: 'any' } });
    } catch (error) {
      throw new InvalidOptionsError(
        `defineTool(${name}): ${key} (${String(standard.vendor)}) could not be converted to JSON Schema: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
  let plain = schema !== null && typeof schema === 'object' && !Array.isArray(schema);
  if (plain) {
    try {
      plain = JSON.stringify(schema) !== undefined;
    } catch {
      plain = false;
    }
  }
  if (!plain) {
    throw new InvalidOptionsError(
      `defineTool(${name}): ${key} must be a JSON Schema object (plain JSON), got ${describeValue(schema)}`,
    );
  }
  return JSON.parse(JSON.stringify(schema)) as JsonSchema;
}

const ANNOTATION_KEYS = ['title', 'readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const;

function toolAnnotations(name: string, given: unknown, idempotent: boolean): Readonly<ToolAnnotations> {
  if (given !== undefined && (given === null || typeof given !== 'object')) {
    throw new InvalidOptionsError(`defineTool(${name}): annotations must be an object, got ${describeValue(given)}`);
  }
  const annotations = { ...(given as ToolAnnotations | undefined) };
  checkKnownKeys(`defineTool(${name}).annotations`, annotations, ANNOTATION_KEYS);
  for (const key of ANNOTATION_KEYS) {
    const value = annotations[key];
    if (value === undefined) continue;
    if (key === 'title' ? typeof value !== 'string' : typeof value !== 'boolean') {
      throw new InvalidOptionsError(
        `defineTool(${name}): annotations.${key} must be a ${key === 'title' ? 'string' : 'boolean'}, got ${describeValue(value)}`,
      );
    }
  }
  annotations.idempotentHint ??= idempotent;
  return Object.freeze(annotations);
}

function microBatch(name: string, options: unknown): Readonly<Required<MicroBatchOptions>> {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionsError(`defineTool(${name}): batch must be an object, got ${describeValue(options)}`);
  }
  checkKnownKeys(`defineTool(${name}).batch`, options, ['maxSize', 'maxWaitMs']);
  const { maxSize = 256, maxWaitMs = 1 } = options as MicroBatchOptions;
  if (!Number.isSafeInteger(maxSize) || maxSize < 1) {
    throw new InvalidOptionsError(
      `defineTool(${name}): batch.maxSize must be a positive integer, got ${describeValue(maxSize)}`,
    );
  }
  if (typeof maxWaitMs !== 'number' || !(maxWaitMs >= 0) || maxWaitMs === Infinity) {
    throw new InvalidOptionsError(
      `defineTool(${name}): batch.maxWaitMs must be a non-negative number of milliseconds, got ${describeValue(maxWaitMs)}`,
    );
  }
  return Object.freeze({ maxSize, maxWaitMs });
}

export function isToolDefinition(value: unknown): value is ToolDefinition {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[TOOL_BRAND] === true;
}

export function isPositiveNumber(value: unknown): value is number {
  return typeof value === 'number' && value > 0 && !Number.isNaN(value);
}

/** The tools a module exports: every named export that is a tool, and a default export of a tool or tools. */
export function toolsOfModule(namespace: Record<string, unknown>): ToolDefinition[] {
  return exportsOf(namespace, isToolDefinition);
}

/** The exports of a module that pass `test`: named exports, and the items of a default-exported array. */
export function exportsOf<T>(namespace: Record<string, unknown>, test: (value: unknown) => value is T): T[] {
  const found: T[] = [];
  for (const [key, value] of Object.entries(namespace)) {
    if (key === 'default' && Array.isArray(value)) {
      for (const item of value) if (test(item)) found.push(item);
    } else if (test(value)) {
      found.push(value);
    }
  }
  // The same definition may be exported under two names; register it once.
  return [...new Set(found)];
}

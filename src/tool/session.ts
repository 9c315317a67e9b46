import { InvalidOptionsError, describeValue } from '../errors.js';
import { checkKnownKeys } from '../known-keys.js';
import { DEFAULT_POOL, exportsOf, isPositiveNumber, POOL_NAME, TOOL_NAME } from './define.js';

/** Brand that marks a session definition, shared by every copy of this module in the process. */
export const SESSION_BRAND: unique symbol = Symbol.for('toolbridge.session') as never;

/** What a session's `create` receives besides its arguments. */
export interface SessionContext {
  /** The session's registered name. */
  readonly session: string;
  /** Identifies this session; unique within one bridge. */
  readonly id: number;
  /** Fires when the session is closed (by its caller, its idle timeout, or its bridge closing). */
  readonly signal: AbortSignal;
}

export interface SessionSpec<A = unknown, T extends object = object> {
  /** Unique name callers open, dotted by convention (`vector.index`); tools and sessions share one namespace. */
  name: string;
  /**
   * Makes the session's object, once, in the worker the session is pinned to. Its methods are what the
   * caller's proxy calls; a `close()` method, if any, runs when the session closes.
   */
  create: (args: A, ctx: SessionContext) => T | Promise<T>;
  /** One line for listings. @default '' */
  description?: string;
  /** The pool whose workers hold these sessions. @default 'default' */
  pool?: string;
  /**
   * Lets the object's methods run at once (an async method awaiting I/O, say). Otherwise a session runs
   * one method at a time, in the order called. @default false
   */
  concurrent?: boolean;
  /** A session with no call for this long, in ms, is closed; `bridge.open(..., { idleTimeoutMs })` overrides. @default Infinity */
  idleTimeoutMs?: number;
}

/** A session definition, as returned by {@link defineSession}. Export it from a tool module to register it. */
export interface SessionDefinition<A = unknown, T extends object = object> {
  readonly [SESSION_BRAND]: true;
  readonly name: string;
  readonly description: string;
  readonly pool: string;
  readonly concurrent: boolean;
  readonly idleTimeoutMs: number;
  readonly create: (args: A, ctx: SessionContext) => T | Promise<T>;
}

/** The metadata of a registered session, as listed by `bridge.sessions()`. */
export interface SessionInfo {
  readonly name: string;
  readonly description: string;
  readonly pool: string;
  readonly concurrent: boolean;
  readonly idleTimeoutMs: number;
  /** The module the session was loaded from. */
  readonly module: string;
}

const SPEC_KEYS = [
  'name',
  'create',
  'description',
  'pool',
  'concurrent',
  'idleTimeoutMs',
] as const satisfies ReadonlyArray<keyof SessionSpec>;

/**
 * Defines a stateful session: an object made once in a worker, whose methods callers run there through
 * `bridge.open(name, args)`. Export the result from a tool module, beside its tools.
 *
 * @example
 * export const index = defineSession({
 *   name: 'vector.index',
 *   create({ matrix, dim }: { matrix: Float32Array; dim: number }) {
 *     const norms = computeNorms(matrix, dim);
 *     return { query: (q: Float32Array, k: number) => topk(matrix, norms, q, k) };
 *   },
 * });
 */
export function defineSession<A = unknown, T extends object = object>(
  spec: SessionSpec<A, T>,
): SessionDefinition<A, T> {
  if (spec === null || typeof spec !== 'object') {
    throw new InvalidOptionsError(`defineSession expects an object, got ${describeValue(spec)}`);
  }
  const { name, create, description = '', pool = DEFAULT_POOL, concurrent = false, idleTimeoutMs = Infinity } = spec;
  if (typeof name !== 'string' || !TOOL_NAME.test(name)) {
    throw new InvalidOptionsError(
      `defineSession: name must be a dotted identifier such as "vector.index", got ${describeValue(name)}`,
    );
  }
  const where = `defineSession(${name})`;
  checkKnownKeys(where, spec, SPEC_KEYS);
  if (typeof create !== 'function') {
    throw new InvalidOptionsError(`${where}: create must be a function, got ${describeValue(create)}`);
  }
  if (typeof description !== 'string') {
    throw new InvalidOptionsError(`${where}: description must be a string, got ${describeValue(description)}`);
  }
  if (typeof pool !== 'string' || !POOL_NAME.test(pool)) {
    throw new InvalidOptionsError(`${where}: pool must be a pool name such as "heavy", got ${describeValue(pool)}`);
  }
  if (typeof concurrent !== 'boolean') {
    throw new InvalidOptionsError(`${where}: concurrent must be a boolean, got ${describeValue(concurrent)}`);
  }
  if (!isPositiveNumber(idleTimeoutMs)) {
    throw new InvalidOptionsError(
      `${where}: idleTimeoutMs must be a positive number of milliseconds or Infinity, got ${describeValue(idleTimeoutMs)}`,
    );
  }
  return Object.freeze({
    [SESSION_BRAND]: true as const,
    name,
    description,
    pool,
    concurrent,
    idleTimeoutMs,
    create,
  });
}

export function isSessionDefinition(value: unknown): value is SessionDefinition {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[SESSION_BRAND] === true;
}

/** The sessions a module exports: every named export that is one, and those in a default export's array. */
export function sessionsOfModule(namespace: Record<string, unknown>): SessionDefinition[] {
  return exportsOf(namespace, isSessionDefinition);
}

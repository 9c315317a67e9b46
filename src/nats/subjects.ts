/** Subjects and headers shared by tool hosts and callers on NATS. */
import { InvalidOptionsError, describeValue } from '../errors.js';

/** A namespace is one NATS subject token: hosts and callers of one namespace see only each other. */
const NAMESPACE = /^[A-Za-z0-9_-]+$/;

export const DEFAULT_NAMESPACE = 'toolbridge';
export const DEFAULT_SERVERS = 'nats://127.0.0.1:4222';

export function checkNamespace(namespace: unknown): string {
  if (namespace === undefined) return DEFAULT_NAMESPACE;
  if (typeof namespace !== 'string' || !NAMESPACE.test(namespace)) {
    throw new InvalidOptionsError(
      `options.namespace must be letters, digits, '_' or '-' (one NATS subject token), got ${describeValue(namespace)}`,
    );
  }
  return namespace;
}

export function checkServers(servers: unknown): string | string[] {
  if (servers === undefined) return DEFAULT_SERVERS;
  if (typeof servers === 'string' || (Array.isArray(servers) && servers.every((s) => typeof s === 'string'))) {
    return servers as string | string[];
  }
  throw new InvalidOptionsError(`options.servers must be a URL or an array of URLs, got ${describeValue(servers)}`);
}

export const subjects = (namespace: string) => ({
  /** Calls of one tool: each pool's hosts share them as one queue group. */
  call: (tool: string) => `${namespace}.call.${tool}`,
  /** Every host answers with what it serves. */
  discover: `${namespace}.discover`,
  /** A caller's abort of call `key`: the host running it aborts it. */
  cancel: (key: string) => `${namespace}.cancel.${key}`,
  cancelAll: `${namespace}.cancel.*`,
  /** A host answers pings while it lives: callers waiting on it check it. */
  ping: (host: string) => `${namespace}.ping.${token(host)}`,
  /** Where a host says it took a caller's sync call. */
  accepted: (caller: string) => `${namespace}.accepted.${caller}`,
});

/** A name as one subject token: characters a subject cannot hold in a token become '_'. */
export const token = (name: string): string => name.replace(/[.*>\s]/g, '_');

/** Header of a sync call: the subject the host tells, as it takes the call, which host it is. */
export const ACCEPTED = 'tb-accepted';

/** Headers of a call: its key (for cancelling), and the time it has left in ms (none: no limit). */
export const CALL_KEY = 'tb-call';
export const TIME_LEFT = 'tb-time-left';
/** Header of a reply: the host that ran the call. */
export const HOST = 'tb-host';
/** Header of a reply: the host's load as it answered, `<in flight> <queued> <served>`. */
export const LOAD = 'tb-load';

/** What a host answers on the discover subject. */
export interface HostInfo {
  host: string;
  tools: Array<{
    name: string;
    description: string;
    version: string;
    idempotent: boolean;
    timeoutMs: number | null;
    retries: number;
    pool: string;
    inputSchema?: Record<string, unknown>;
    outputSchema?: Record<string, unknown>;
    annotations?: Record<string, unknown>;
  }>;
  /** Calls it is running now, and has served since it started. */
  inFlight: number;
  served: number;
}

/** Durable calls, as a host serves them (`serve(bridge, { durable })`). */
export interface DurableOptions {
  /** How long a host may hold a call without a sign of life before it goes to another host. @default 30_000 */
  ackWaitMs?: number;
  /** Deliveries of one call before it is answered with an error instead of run again. @default 5 */
  maxDeliveries?: number;
  /** Calls the queue holds at most; past it a durable call is refused with `QUEUE_FULL`. @default 100_000 */
  maxQueued?: number;
  /** How long answers stay in the results bucket (for retried and redelivered calls). @default 600_000 */
  resultTtlMs?: number;
}

/**
 * `toolbridge/nats`: the same bridge API served by tool hosts on many machines, through NATS. A host serves
 * a local bridge's tools (`serve`); a caller gets a bridge whose calls run on whichever host serves the
 * tool (`connect`). Needs `@nats-io/transport-node` (an optional peer dependency).
 */
export { serve, type ServeOptions, type ToolHost } from './host.js';
export { connect, type ConnectOptions } from './connect.js';
export type { DurableOptions } from './subjects.js';
export { UnavailableError } from '../errors.js';

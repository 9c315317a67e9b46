import { EventEmitter } from 'node:events';
import { ToolBridge, emitBridgeEvent, type Bridge } from './bridge.js';
import { loadHasher, warmHasher } from './cache/content-hash.js';
import { warmCodec } from './codec/message.js';
import { LocalPool } from './dispatch/local/pool.js';
import { InvalidOptionsError } from './errors.js';
import { loadingModule, refuseWhileLoading } from './loading-module.js';
import { ledger, setCeiling } from './memory/ledger.js';
import { resolveOptions, type BridgeOptions } from './options.js';
import { warmSchemas } from './schema/args-schema.js';
import { workerRecycle } from './telemetry/channels.js';
import { DEFAULT_POOL, type ToolInfo } from './tool/define.js';
import type { SessionInfo } from './tool/session.js';

/**
 * Starts a pool of worker threads with the built-in tools and the given tool modules loaded, and resolves
 * once the first worker of each pool has loaded them (the others go on starting). A module that fails to load rejects with `TOOL_LOAD_FAILED`
 * naming it; two tools of one name reject with `DUPLICATE_TOOL`.
 *
 * @example
 * const bridge = await createBridge({ tools: [new URL('./my-tools.js', import.meta.url)] });
 * const y = await bridge.call('my.scale', { x, k: 2 });
 * await bridge.close();
 */
export async function createBridge(options?: BridgeOptions): Promise<Bridge> {
  const loading = loadingModule();
  if (loading !== undefined) {
    const reason = `createBridge() was called while a toolbridge worker imported the tool module ${loading}: a tool module must not start a bridge (each worker would start workers of its own). Does a script pass its own URL in \`tools\`? Move its tools to a module of their own.`;
    refuseWhileLoading(reason);
    throw new InvalidOptionsError(reason);
  }
  const resolved = resolveOptions(options);
  if (resolved.cache) await loadHasher();
  const events = new EventEmitter();
  const pools = new Map<string, LocalPool>();
  for (const pool of resolved.pools.values()) {
    pools.set(
      pool.name,
      new LocalPool({
        pool,
        checkModules: pool.name === DEFAULT_POOL,
        startTimeoutMs: resolved.startTimeoutMs,
        runtime: {
          modules: [...resolved.modules],
          codec: resolved.codec,
          ledger: ledger().memory,
          threads: pool.maxThreads,
        },
        onDrain: () => emitBridgeEvent(events, 'drain'),
        onRecycle: (event) => {
          emitBridgeEvent(events, 'recycle', event);
          if (resolved.telemetry.enabled && workerRecycle.hasSubscribers) workerRecycle.publish(event);
        },
        onWorkerExit: (event) => emitBridgeEvent(events, 'workerExit', event),
      }),
    );
  }
  // While the workers start, the main thread makes the validators the first schema checks will need (one
  // that checks schemas against the meta-schema only where tool modules may bring schemas of their own),
  // and runs the codec and the content hash once.
  const warming = setImmediate(() => {
    warmSchemas(resolved.modules.length > 0);
    warmCodec(resolved.codec);
    if (resolved.cache) warmHasher();
  });
  let tools: ToolInfo[];
  let sessions: SessionInfo[];
  try {
    const started = await Promise.all([...pools.values()].map((pool) => pool.discover()));
    tools = started[0]!;
    sessions = pools.get(DEFAULT_POOL)!.sessionInfos();
    const unknown = [...tools, ...sessions].find((tool) => !pools.has(tool.pool));
    if (unknown) {
      throw new InvalidOptionsError(
        `${'concurrent' in unknown ? 'Session' : 'Tool'} "${unknown.name}" runs in pool "${unknown.pool}", which createBridge({ pools }) does not define (pools: ${[...pools.keys()].join(', ')})`,
      );
    }
  } catch (error) {
    clearImmediate(warming);
    await Promise.all([...pools.values()].map((pool) => pool.destroy().catch(() => undefined)));
    throw error;
  }
  const bridge = new ToolBridge(resolved, pools, tools, events, sessions);
  if (resolved.maxSharedMb !== Infinity) setCeiling(bridge, resolved.maxSharedMb);
  return bridge;
}

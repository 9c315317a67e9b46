/**
 * A second implementation of the Dispatcher seam, for unit tests: it decodes each message in this thread,
 * runs a function, and encodes the reply as a worker would. With it, the call pipeline runs with no threads.
 */
import { CallPipeline } from '../../src/call/pipeline.js';
import { CallTransport } from '../../src/call/transport.js';
import { toErrorRecord } from '../../src/codec/error-record.js';
import { withModules } from '../../src/codec/lazy-modules.js';
import { decodeMessage, encodeMessage, Kind, type WireMessage } from '../../src/codec/message.js';
import type { Dispatcher, SubmitOptions } from '../../src/dispatch/dispatcher.js';
import { ResultCache } from '../../src/cache/result-cache.js';
import { loadHasher } from '../../src/cache/content-hash.js';
import { resolveOptions } from '../../src/options.js';
import { ToolCatalog } from '../../src/registry/catalog.js';
import { StatsRecorder } from '../../src/telemetry/stats.js';
import type { ToolInfo } from '../../src/tool/define.js';

const policy = { msgpackThreshold: 256 * 1024, flatMsgpackThreshold: 16 * 1024 };

/** Runs tools in this thread, behind the seam. `crashes` fails the next n submits as a dead worker would. */
export class InProcessDispatcher implements Dispatcher {
  submitted = 0;
  crashes = 0;
  constructor(readonly tools: Record<string, (args: unknown) => unknown>) {}

  idle(): boolean {
    return true;
  }

  async submit(message: WireMessage, options: SubmitOptions): Promise<WireMessage> {
    this.submitted++;
    if (this.crashes > 0) {
      this.crashes--;
      throw new Error('worker exited with code 1');
    }
    const { fields, value } = await withModules(() => decodeMessage(message));
    const run = this.tools[fields.tool]!;
    if (run === HANG) {
      return new Promise((_resolve, reject) =>
        options.signal?.addEventListener('abort', () => reject(new Error('stopped'))),
      );
    }
    const head = { kind: Kind.Result, callId: fields.callId, tool: fields.tool, deadline: 0 };
    try {
      const result = fields.count ? { v: (value as unknown[]).map(run) } : run(value);
      return (await withModules(() => encodeMessage(head, result, policy, 'result'))).message;
    } catch (error) {
      const failed = { ...head, kind: Kind.Error, error: toErrorRecord(error) };
      return (await withModules(() => encodeMessage(failed, undefined, policy, 'error'))).message;
    }
  }

  async close(): Promise<void> {}
  async destroy(): Promise<void> {}
}

export const HANG = (): never => {
  throw new Error('never run');
};

export function info(name: string, extra: Partial<ToolInfo> = {}): ToolInfo {
  return {
    name,
    description: '',
    version: '1',
    idempotent: false,
    timeoutMs: undefined,
    retries: 0,
    module: 'test',
    batch: undefined,
    pool: 'default',
    ...extra,
  };
}

export async function pipelineOver(dispatcher: Dispatcher, tools: ToolInfo[]) {
  await loadHasher();
  const options = resolveOptions({ maxThreads: 2 });
  const catalog = new ToolCatalog(tools);
  const stats = new StatsRecorder(true);
  const transport = new CallTransport(
    () => dispatcher,
    policy,
    stats,
    () => catalog.names(),
  );
  const cache = new ResultCache(options.cache!);
  let inFlight = 0;
  const pipeline = new CallPipeline(options, catalog, cache, stats, transport, {
    began: () => inFlight++,
    ended: () => inFlight--,
    slowCall: () => undefined,
  });
  return { pipeline, stats, inFlight: () => inFlight };
}

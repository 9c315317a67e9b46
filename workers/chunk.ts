import { performance } from 'node:perf_hooks';
import { toErrorRecord } from '../src/codec/error-record.js';
import type { ErrorRecord, WireMessage } from '../src/codec/message.js';
import { TimeoutError } from '../src/errors.js';
import type { ChunkResult } from '../src/runtime-protocol.js';
import type { ToolDefinition } from '../src/tool/define.js';
import type { CallContext } from './call-context.js';
import { reply } from './reply.js';

export const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function';

/**
 * Runs a chunk of a batch: `runBatch` once if the tool has it, else `run` for each call in turn (a call
 * whose deadline has passed is not started). One call's failure fails only its own entry.
 */
export async function runChunk(
  tool: ToolDefinition,
  argsList: unknown,
  deadlines: ArrayLike<number>,
  ctx: CallContext,
  decodeMs: number,
): Promise<WireMessage> {
  const started = performance.now();
  const list = Array.isArray(argsList) ? (argsList as unknown[]) : [];
  const values: unknown[] = new Array<unknown>(list.length);
  let errors: Record<number, ErrorRecord> | undefined;
  const failEntry = (i: number, error: unknown) => ((errors ??= {})[i] = toErrorRecord(error));
  try {
    if (tool.runBatch) {
      const out: unknown = await tool.runBatch(list, ctx);
      if (!Array.isArray(out) || out.length !== list.length) {
        throw new TypeError(
          `runBatch of "${tool.name}" must return one result per call, in order: got ${Array.isArray(out) ? `${out.length} results` : typeof out} for ${list.length} calls`,
        );
      }
      for (let i = 0; i < list.length; i++) values[i] = out[i];
    } else {
      const wantsCtx = tool.run.length >= 2;
      for (let i = 0; i < list.length; i++) {
        const deadline = deadlines[i] ?? 0;
        if (deadline > 0 && Date.now() > deadline) {
          failEntry(i, new TimeoutError(tool.name, 0));
          continue;
        }
        // A tool whose run takes no ctx parameter cannot see one: it gets none made for it.
        const callCtx = wantsCtx ? ctx.forCall(deadline) : undefined;
        try {
          const out = tool.run(list[i], callCtx ?? ctx);
          values[i] = isThenable(out) ? await out : out;
        } catch (error) {
          failEntry(i, error);
        } finally {
          if (callCtx) {
            callCtx.dispose();
            ctx.current = undefined;
          }
        }
      }
    }
  } catch (error) {
    for (let i = 0; i < list.length; i++) failEntry(i, error);
  } finally {
    ctx.dispose();
  }
  const result: ChunkResult = errors ? { v: values, e: errors } : { v: values };
  return reply(ctx.callId, tool.name, result, performance.now() - started, decodeMs, 2);
}

import { errorFromWorker } from '../codec/error-record.js';
import { withModules } from '../codec/lazy-modules.js';
import {
  decodeMessage,
  encodeMessage,
  Kind,
  type CodecPolicy,
  type Encoded,
  type WireMessage,
} from '../codec/message.js';
import { InvalidArgsError, ToolBridgeError } from '../errors.js';
import { ledger } from '../memory/ledger.js';

/**
 * Encodes the args of a message sent outside the call pipeline (a session's open or method call, a
 * broadcast), loading apache-arrow or msgpackr first if they need it. Fails with `INVALID_ARGS`.
 */
export async function encodeArgs(
  head: { callId: number; tool: string; deadline?: number },
  args: unknown,
  policy: CodecPolicy,
): Promise<Encoded> {
  try {
    return await withModules(() => encodeMessage({ kind: Kind.Call, deadline: 0, ...head }, args, policy, 'args'));
  } catch (error) {
    if (error instanceof ToolBridgeError) throw error;
    throw new InvalidArgsError(`args of ${head.tool} cannot be encoded: ${String(error)}`, { cause: error });
  }
}

/**
 * A worker's reply as a value (its handed-over shared memory adopted), or the typed error it carries
 * (named after `label`). `count` is told the reply's bytes.
 */
export async function readReply(
  reply: WireMessage,
  label: string,
  known: () => readonly string[],
  count: (shared: number, copied: number) => void,
): Promise<unknown> {
  if (reply.r && reply.b) ledger().receive(reply.b, reply.r);
  const { fields, value } = await withModules(() => decodeMessage(reply));
  count(fields.sharedBytes, fields.copiedBytes);
  if (fields.kind === Kind.Error && fields.error) {
    throw errorFromWorker(label, fields.error, { known, timeoutMs: Infinity });
  }
  return value;
}

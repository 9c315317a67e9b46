/**
 * `toolbridge/ai`: a bridge's tools as a Vercel AI SDK `ToolSet` (the `ai` package, an optional peer).
 * Each tool's input is validated with its `inputSchema` before the model's call is run (the AI SDK's
 * `jsonSchema()` alone does not validate): an invalid input becomes a tool error, never a call. `execute`
 * forwards the AI SDK's abort signal to the bridge call. Names are LLM-safe (`vector.topk` -> `vector_topk`).
 */
import { jsonSchema, tool, type JSONSchema7, type ToolSet } from 'ai';
import type { Bridge } from '../bridge-api.js';
import { InvalidOptionsError, describeValue } from '../errors.js';
import { checkKnownKeys } from '../known-keys.js';
import { ArgsSchemas } from '../schema/args-schema.js';
import { toJson } from '../schema/json.js';
import { llmToolName } from '../schema/names.js';
import type { JsonSchema, ToolInfo } from '../tool/define.js';

export interface AiToolsOptions {
  /** The tools to offer, by bridge name (`'vector.topk'`), or a test on each. @default every tool */
  include?: readonly string[] | ((tool: ToolInfo) => boolean);
  /** A result whose JSON would pass this many bytes is replaced by a short note for the model. @default 1 MiB */
  maxResultBytes?: number;
}

/** The bridge's tools as AI SDK tools, keyed by LLM-safe name. */
export function aiTools(bridge: Bridge, options: AiToolsOptions = {}): ToolSet {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionsError(`aiTools options must be an object, got ${describeValue(options)}`);
  }
  checkKnownKeys('options', options, ['include', 'maxResultBytes']);
  const { include, maxResultBytes = 2 ** 20 } = options;
  if (include !== undefined && typeof include !== 'function' && !Array.isArray(include)) {
    throw new InvalidOptionsError(
      `options.include must be an array of tool names or a function, got ${describeValue(include)}`,
    );
  }
  const wanted = (info: ToolInfo) =>
    include === undefined ? true : typeof include === 'function' ? include(info) : include.includes(info.name);
  const schemas = new ArgsSchemas();
  const set: ToolSet = {};
  for (const info of bridge.tools().filter(wanted)) {
    const schema: JsonSchema = { type: 'object', ...(info.inputSchema ?? {}) };
    set[llmToolName(info.name)] = tool({
      description: info.description || info.name,
      inputSchema: jsonSchema<Record<string, unknown>>(schema as JSONSchema7, {
        validate: (value) => {
          try {
            const checked = schemas.checkTool(info, value, schema) as Record<string, unknown>;
            return { success: true, value: checked };
          } catch (error) {
            return { success: false, error: error as Error };
          }
        },
      }),
      execute: async (input: Record<string, unknown>, { abortSignal }: { abortSignal?: AbortSignal }) => {
        const value = await bridge.call(info.name, input, abortSignal ? { signal: abortSignal } : undefined);
        const json = toJson(value, maxResultBytes);
        return json === undefined
          ? { note: `the result of ${info.name} is too large to show (over ${maxResultBytes} bytes of JSON)` }
          : json;
      },
    });
  }
  return set;
}

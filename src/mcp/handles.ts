/**
 * Data passed by handle: an MCP client (an agent) names a dataset loaded on the server, or a result the
 * server kept, as `{ "dataset": "embeddings" }` (or `{ "dataset": "toolbridge://results/<id>" }`) in place of
 * the value, so that large data never crosses the MCP transport.
 */
import { InvalidArgsError } from '../errors.js';
import type { JsonSchema } from '../tool/define.js';
import { RESULT_PREFIX } from './result-store.js';

/** A JSON value that stands for a dataset: an object whose only key is `dataset`, a string. */
function handleName(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length !== 1 || keys[0] !== 'dataset') return undefined;
  const name = (value as { dataset: unknown }).dataset;
  return typeof name === 'string' ? name : undefined;
}

/**
 * The args with each handle replaced by the value it names (`lookup`); the rest is left as it is (and not
 * copied where nothing changes). An unknown name is `INVALID_ARGS` naming its path and the known datasets.
 */
export function resolveHandles(
  args: unknown,
  lookup: (name: string) => unknown,
  known: () => readonly string[],
  path = 'args',
): unknown {
  const name = handleName(args);
  if (name !== undefined) {
    const value = lookup(name);
    if (value === undefined) {
      const names = known();
      throw new InvalidArgsError(
        `${path}: no dataset named ${JSON.stringify(name)} on this server (${names.length > 0 ? `datasets: ${names.join(', ')}; ` : ''}results kept by this server are ${RESULT_PREFIX}<id>)`,
        { path },
      );
    }
    return value;
  }
  if (args === null || typeof args !== 'object') return args;
  if (Array.isArray(args)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < args.length; i++) {
      const item = resolveHandles(args[i], lookup, known, `${path}[${i}]`);
      if (item !== args[i]) (out ??= [...args])[i] = item;
    }
    return out ?? args;
  }
  let out: Record<string, unknown> | undefined;
  for (const [key, item] of Object.entries(args)) {
    const resolved = resolveHandles(item, lookup, known, `${path}.${key}`);
    if (resolved !== item) (out ??= { ...(args as Record<string, unknown>) })[key] = resolved;
  }
  return out ?? args;
}

/** What a client may send in place of a typed array or a table: a handle. */
const HANDLE_SCHEMA: JsonSchema = {
  type: 'object',
  description: `A dataset loaded on the server, by name, or a result this server kept (${RESULT_PREFIX}<id>), instead of the data itself`,
  properties: { dataset: { type: 'string' } },
  required: ['dataset'],
  additionalProperties: false,
};

/**
 * The input schema as listed to clients: each typed-array or table property (`x-typedArray`,
 * `x-arrowTable`) also accepts a handle (`anyOf`). The bridge still checks the resolved args against the
 * tool's own schema.
 */
export function withHandles(schema: JsonSchema): JsonSchema {
  if (schema['x-typedArray'] !== undefined || schema['x-arrowTable'] === true) {
    return { anyOf: [schema, HANDLE_SCHEMA] };
  }
  let out: JsonSchema | undefined;
  const properties = schema.properties;
  if (properties !== null && typeof properties === 'object' && !Array.isArray(properties)) {
    let changed = false;
    const next: Record<string, unknown> = {};
    for (const [key, sub] of Object.entries(properties as Record<string, unknown>)) {
      next[key] = sub !== null && typeof sub === 'object' && !Array.isArray(sub) ? withHandles(sub as JsonSchema) : sub;
      changed ||= next[key] !== sub;
    }
    if (changed) out = { ...schema, properties: next };
  }
  const items = schema.items;
  if (items !== null && typeof items === 'object' && !Array.isArray(items)) {
    const next = withHandles(items as JsonSchema);
    if (next !== items) out = { ...(out ?? schema), items: next };
  }
  return out ?? schema;
}

/** The MCP server over a bridge: tool listing and calls, results inline or kept as resources. */
import { randomUUID } from 'node:crypto';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  type CallToolResult,
} from '@modelcontextprotocol/sdk/types.js';
import type { Bridge } from '../bridge-api.js';
import type { Progress } from '../tool/define.js';
import { InvalidOptionsError, ToolBridgeError, describeValue } from '../errors.js';
import { checkKnownKeys } from '../known-keys.js';
import { resolveHandles, withHandles } from './handles.js';
import { DatasetBytes, RESULT_PREFIX, ResultStore, type Stored } from './result-store.js';
import { toJson } from '../schema/json.js';
import { llmToolName } from '../schema/names.js';

export interface McpServerOptions {
  /** The server's name in the MCP handshake. @default 'toolbridge' */
  name?: string;
  /** The server's version in the handshake. @default the toolbridge package's */
  version?: string;
  /** A result whose JSON would pass this many bytes stays on the server as a resource. @default 65_536 */
  maxInlineBytes?: number;
  /** Results kept at most; the oldest go first. @default 64 */
  maxResults?: number;
  /** Bytes of results kept at most; the oldest go first. @default 268_435_456 (256 MiB) */
  maxResultBytes?: number;
  /**
   * Largest result (or dataset) `resources/read` sends, in bytes before base64: past it the read answers
   * with a note (pass it to tools by handle, or fetch it over HTTP at `/results/<id>`) instead of the bytes,
   * so that no message passes the 10 MiB an MCP stdio message may carry.
   * @default 6_291_456 (6 MiB: 8 MiB of base64)
   */
  maxReadBytes?: number;
  /**
   * Named values kept on the server (typed arrays, shared arrays, Arrow tables, any value a tool takes),
   * which clients pass to tools by handle, `{ "dataset": "embeddings" }`, instead of sending the data; a
   * result the server kept (`toolbridge://results/<id>`) is passed the same way. Listed as resources
   * (`toolbridge://datasets/<name>`).
   */
  datasets?: Record<string, unknown>;
}

export const DATASET_PREFIX = 'toolbridge://datasets/';

/** The keys of {@link McpServerOptions} (`serveMcpHttp` passes them on to each session's server). */
export const SERVER_OPTION_KEYS = [
  'name',
  'version',
  'maxInlineBytes',
  'maxResults',
  'maxResultBytes',
  'maxReadBytes',
  'datasets',
] as const satisfies ReadonlyArray<keyof McpServerOptions>;

/** `vector.topk` -> `vector_topk`: names MCP clients accept (Claude Desktop, the OpenAI API and Copilot reject dots). */
export const mcpToolName: (name: string) => string = llmToolName;

const positive = (key: string, value: unknown, fallback: number): number => {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidOptionsError(`options.${key} must be a positive integer, got ${describeValue(value)}`);
  }
  return value;
};

/** An MCP server (not yet connected to a transport) that lists and calls `bridge`'s tools. */
export function createMcpServer(bridge: Bridge, options: McpServerOptions = {}): Server {
  return serverOver(bridge, options);
}

/**
 * The server, keeping large results and encoded datasets in `shared` when given (the HTTP side: every
 * session, one store and one dataset cache).
 */
export function serverOver(
  bridge: Bridge,
  options: McpServerOptions,
  shared?: { store: ResultStore; datasetBytes: DatasetBytes },
): Server {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionsError(`createMcpServer options must be an object, got ${describeValue(options)}`);
  }
  checkKnownKeys('options', options, SERVER_OPTION_KEYS);
  const maxReadBytes = positive('maxReadBytes', options.maxReadBytes, 6 * 2 ** 20);
  const datasets = checkDatasets(options.datasets);
  const maxInlineBytes = positive('maxInlineBytes', options.maxInlineBytes, 65_536);
  const store =
    shared?.store ??
    new ResultStore(
      positive('maxResults', options.maxResults, 64),
      positive('maxResultBytes', options.maxResultBytes, 256 * 2 ** 20),
    );
  const server = new Server(
    { name: options.name ?? 'toolbridge', version: options.version ?? '0.1.0' },
    { capabilities: { tools: {}, resources: {} } },
  );
  /** MCP name -> bridge name, rebuilt on each listing (and on a call of a name not seen yet). */
  let names = new Map<string, string>();
  const refresh = () => {
    names = new Map(bridge.tools().map((tool) => [mcpToolName(tool.name), tool.name]));
  };

  /** What a handle names: a dataset, or a result kept here. */
  const lookup = (name: string): unknown =>
    datasets.has(name) ? datasets.get(name) : name.startsWith(RESULT_PREFIX) ? store.get(name)?.value : undefined;
  const datasetNames = () => [...datasets.keys()];
  /** Datasets as resources, encoded on their first read. */
  const datasetBytes = shared?.datasetBytes ?? new DatasetBytes();

  server.setRequestHandler(ListToolsRequestSchema, () => {
    refresh();
    return {
      tools: bridge.tools().map((tool) => ({
        name: mcpToolName(tool.name),
        title: tool.annotations?.title ?? tool.name,
        description: tool.description || tool.name,
        // Typed-array and table arguments also take a handle to data kept here.
        inputSchema: { type: 'object' as const, ...withHandles(tool.inputSchema ?? {}) },
        annotations: { ...tool.annotations },
        _meta: { 'toolbridge/name': tool.name },
      })),
    };
  });

  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    if (!names.has(request.params.name)) refresh();
    const tool = names.get(request.params.name);
    if (tool === undefined) {
      return {
        isError: true,
        content: [{ type: 'text', text: `No tool named ${JSON.stringify(request.params.name)}.` }],
      };
    }
    // The tool's ctx.progress reports become the client's progress notifications, when it asked for them.
    // They are sent before the response: a client stops listening for a call's progress once it has its
    // response, and the last reports reach the bridge's listener just before the call settles.
    const token = request.params._meta?.progressToken;
    const notified: Array<Promise<void>> = [];
    const onProgress =
      token === undefined
        ? undefined
        : ({ done, total, message }: Progress) =>
            void notified.push(
              extra
                .sendNotification({
                  method: 'notifications/progress',
                  params: {
                    progressToken: token,
                    progress: done,
                    ...(total !== undefined ? { total } : {}),
                    ...(message !== undefined ? { message } : {}),
                  },
                })
                .catch(() => undefined),
            );
    let value: unknown;
    try {
      const args = resolveHandles(request.params.arguments ?? {}, lookup, datasetNames);
      value = await bridge.call(tool, args, {
        signal: extra.signal,
        ...(onProgress ? { onProgress } : {}),
      });
    } catch (error) {
      await Promise.all(notified);
      const text =
        error instanceof ToolBridgeError
          ? `${error.code}: ${error.message}`
          : `Error: ${String((error as Error)?.message ?? error)}`;
      return { isError: true, content: [{ type: 'text', text }] };
    }
    await Promise.all(notified);
    const json = toJson(value, maxInlineBytes);
    if (json !== undefined) {
      const text = JSON.stringify(json);
      const structured = json !== null && typeof json === 'object' && !Array.isArray(json) ? json : { result: json };
      return { content: [{ type: 'text', text }], structuredContent: structured as Record<string, unknown> };
    }
    const stored = await store.put(randomUUID(), value);
    return {
      content: [
        {
          type: 'resource_link',
          uri: stored.uri,
          name: `${tool} result`,
          mimeType: stored.mimeType,
          description: `${stored.description} (${stored.bytes.byteLength} bytes), kept on the server: read it with resources/read`,
        },
        { type: 'text', text: `The result is large (${stored.description}): it is at ${stored.uri}.` },
      ],
    };
  });

  server.setRequestHandler(ListResourcesRequestSchema, () => ({
    resources: [
      ...[...datasets.keys()].map((name) => ({
        uri: `${DATASET_PREFIX}${name}`,
        name,
        description: `Dataset "${name}": pass it to a tool as {"dataset": "${name}"}`,
      })),
      ...store.list().map((stored: Stored) => ({
        uri: stored.uri,
        name: stored.uri.slice(stored.uri.lastIndexOf('/') + 1),
        mimeType: stored.mimeType,
        description: `${stored.description}: pass it to a tool as {"dataset": "${stored.uri}"}`,
      })),
    ],
  }));

  server.setRequestHandler(ReadResourceRequestSchema, async (request) => {
    const { uri } = request.params;
    let stored: Omit<Stored, 'value'> | undefined = store.get(uri);
    const name = uri.startsWith(DATASET_PREFIX) ? uri.slice(DATASET_PREFIX.length) : undefined;
    if (stored === undefined && name !== undefined && datasets.has(name)) {
      stored = { uri, ...(await datasetBytes.get(name, datasets.get(name))) };
    }
    if (stored === undefined) throw new Error(`No result at ${uri} (gone from the result store?)`);
    if (stored.bytes.byteLength > maxReadBytes) {
      const path = name === undefined ? `/results/${uri.slice(RESULT_PREFIX.length)}` : `/datasets/${name}`;
      const text = `${stored.description} is ${(stored.bytes.byteLength / 2 ** 20).toFixed(1)} MiB, past what resources/read sends (maxReadBytes ${(maxReadBytes / 2 ** 20).toFixed(1)} MiB; MCP carries at most 10 MiB a stdio message). Pass it to a tool as {"dataset": "${uri}"}, or fetch its bytes (${stored.mimeType}) at GET ${path} of the toolbridge MCP HTTP server.`;
      return { contents: [{ uri, mimeType: 'text/plain', text }] };
    }
    return {
      contents: [
        stored.mimeType === 'application/json'
          ? { uri: stored.uri, mimeType: stored.mimeType, text: Buffer.from(stored.bytes).toString('utf8') }
          : { uri: stored.uri, mimeType: stored.mimeType, blob: Buffer.from(stored.bytes).toString('base64') },
      ],
    };
  });

  return server;
}

/** The `datasets` option, checked: an object of named values. */
function checkDatasets(given: unknown): ReadonlyMap<string, unknown> {
  if (given === undefined) return new Map();
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    throw new InvalidOptionsError(`options.datasets must be an object of named values, got ${describeValue(given)}`);
  }
  const out = new Map<string, unknown>();
  for (const [name, value] of Object.entries(given)) {
    if (name === '' || name.includes('://') || value === undefined) {
      throw new InvalidOptionsError(
        `options.datasets: ${JSON.stringify(name)} must be a name (no "://") with a value, got ${describeValue(value)}`,
      );
    }
    out.set(name, value);
  }
  return out;
}

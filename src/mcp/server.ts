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
import { ResultStore, type Stored } from './result-store.js';
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
}

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

/** The server, keeping large results in `shared` when given (the HTTP side: every session, one store). */
export function serverOver(bridge: Bridge, options: McpServerOptions, shared?: ResultStore): Server {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionsError(`createMcpServer options must be an object, got ${describeValue(options)}`);
  }
  checkKnownKeys('options', options, ['name', 'version', 'maxInlineBytes', 'maxResults', 'maxResultBytes']);
  const maxInlineBytes = positive('maxInlineBytes', options.maxInlineBytes, 65_536);
  const store =
    shared ??
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

  server.setRequestHandler(ListToolsRequestSchema, () => {
    refresh();
    return {
      tools: bridge.tools().map((tool) => ({
        name: mcpToolName(tool.name),
        title: tool.annotations?.title ?? tool.name,
        description: tool.description || tool.name,
        inputSchema: { type: 'object' as const, ...(tool.inputSchema ?? {}) },
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
    const token = request.params._meta?.progressToken;
    const onProgress =
      token === undefined
        ? undefined
        : ({ done, total, message }: Progress) =>
            void extra
              .sendNotification({
                method: 'notifications/progress',
                params: {
                  progressToken: token,
                  progress: done,
                  ...(total !== undefined ? { total } : {}),
                  ...(message !== undefined ? { message } : {}),
                },
              })
              .catch(() => undefined);
    let value: unknown;
    try {
      value = await bridge.call(tool, request.params.arguments ?? {}, {
        signal: extra.signal,
        ...(onProgress ? { onProgress } : {}),
      });
    } catch (error) {
      const text =
        error instanceof ToolBridgeError
          ? `${error.code}: ${error.message}`
          : `Error: ${String((error as Error)?.message ?? error)}`;
      return { isError: true, content: [{ type: 'text', text }] };
    }
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
    resources: store.list().map((stored: Stored) => ({
      uri: stored.uri,
      name: stored.uri.slice(stored.uri.lastIndexOf('/') + 1),
      mimeType: stored.mimeType,
      description: stored.description,
    })),
  }));

  server.setRequestHandler(ReadResourceRequestSchema, (request) => {
    const stored = store.get(request.params.uri);
    if (stored === undefined) throw new Error(`No result at ${request.params.uri} (gone from the result store?)`);
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

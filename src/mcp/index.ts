/**
 * `toolbridge/mcp`: a bridge's tools as a Model Context Protocol server (the official TypeScript SDK, an
 * optional peer dependency). Tool names are exported LLM-safe (`vector.topk` -> `vector_topk`); small
 * results go back as `structuredContent` and a text block; a result past `maxInlineBytes` stays on the
 * server, in a bounded result store, and goes back as a `resource_link` (`toolbridge://results/<id>`),
 * readable with `resources/read` (raw little-endian bytes for a typed array, Arrow IPC for a table, JSON
 * otherwise). A client's cancellation aborts the bridge call.
 */
export { createMcpServer, mcpToolName, type McpServerOptions } from './server.js';
export { serveMcpHttp, type McpHttpOptions, type McpHttpServer } from './http.js';

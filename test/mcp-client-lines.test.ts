/**
 * toolbridge/mcp with clients of both MCP SDK lines: the current one (`@modelcontextprotocol/client` 2.x)
 * and the one before it (`@modelcontextprotocol/sdk` 1.x, which the server is built on), over stdio (the
 * `toolbridge mcp` command) and streamable HTTP.
 */
import { Client as ClientV2, StreamableHTTPClientTransport as HttpV2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioV2 } from '@modelcontextprotocol/client/stdio';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as StdioV1 } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport as HttpV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createBridge, shared, type Bridge } from 'toolbridge';
import { serveMcpHttp, type McpHttpServer } from 'toolbridge/mcp';

const cli = fileURLToPath(new URL('../dist/src/cli.js', import.meta.url));
const stdioArgs = { command: process.execPath, args: [cli, 'mcp', '--threads', '1'], stderr: 'ignore' as const };

/** What the checks need of a client, whichever line it comes from. */
interface AnyClient {
  listTools(): Promise<{ tools: Array<{ name: string; inputSchema: Record<string, unknown> }> }>;
  callTool(params: { name: string; arguments: Record<string, unknown> }): Promise<Record<string, unknown>>;
  readResource(params: { uri: string }): Promise<{ contents: Array<Record<string, unknown>> }>;
  close(): Promise<void>;
}

const lines: Array<{ line: string; stdio: () => Promise<AnyClient>; http: (url: string) => Promise<AnyClient> }> = [
  {
    line: 'current (@modelcontextprotocol/client 2.x)',
    stdio: async () => {
      const client = new ClientV2({ name: 'toolbridge-test-v2', version: '1.0.0' });
      await client.connect(new StdioV2(stdioArgs));
      return client as unknown as AnyClient;
    },
    http: async (url) => {
      const client = new ClientV2({ name: 'toolbridge-test-v2', version: '1.0.0' });
      await client.connect(new HttpV2(new URL(url)));
      return client as unknown as AnyClient;
    },
  },
  {
    line: 'previous (@modelcontextprotocol/sdk 1.x)',
    stdio: async () => {
      const client = new ClientV1({ name: 'toolbridge-test-v1', version: '1.0.0' });
      await client.connect(new StdioV1(stdioArgs));
      return client as unknown as AnyClient;
    },
    http: async (url) => {
      const client = new ClientV1({ name: 'toolbridge-test-v1', version: '1.0.0' });
      await client.connect(new HttpV1(new URL(url)));
      return client as unknown as AnyClient;
    },
  },
];

let bridge: Bridge;
let http: McpHttpServer;
const matrix = shared(Float32Array, 6);
matrix.set([0, 1, 1, 0, 0.5, 0.5]);
beforeAll(async () => {
  bridge = await createBridge({ maxThreads: 1 });
  http = await serveMcpHttp(bridge, { maxInlineBytes: 1024, datasets: { emb: matrix } });
});
afterAll(async () => {
  await http?.close();
  await bridge?.close();
});

/** Lists, calls, fails with a path, and reads a large result back: the same on every transport and line. */
async function exercise(client: AnyClient): Promise<void> {
  const { tools } = await client.listTools();
  expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['vector_dot', 'vector_topk', 'matrix_multiply']));
  const dot = await client.callTool({ name: 'vector_dot', arguments: { a: [1, 2, 3], b: [4, 5, 6] } });
  expect(dot.structuredContent).toEqual({ result: 32 });
  const bad = await client.callTool({ name: 'vector_topk', arguments: { query: [1], matrix: [1], k: 0 } });
  expect(bad.isError).toBe(true);
  expect(JSON.stringify(bad.content)).toContain('args.k: must be >= 1');
  const n = 160; // its JSON (~100 KiB) is past the default maxInlineBytes (64 KiB)
  const ones = new Array<number>(n * n).fill(1);
  const product = await client.callTool({ name: 'matrix_multiply', arguments: { a: ones, b: ones, m: n, k: n, n } });
  const link = (product.content as Array<{ type: string; uri?: string }>).find((c) => c.type === 'resource_link')!;
  const read = await client.readResource({ uri: link.uri! });
  const bytes = Buffer.from(read.contents[0]!.blob as string, 'base64');
  const values = new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
  expect(values.length).toBe(n * n);
  expect(values.every((v) => v === n)).toBe(true);
}

describe.each(lines)('an MCP client of the $line SDK line', ({ stdio, http: overHttp }) => {
  test('over stdio (toolbridge mcp)', async () => {
    const client = await stdio();
    try {
      await exercise(client);
    } finally {
      await client.close();
    }
  });

  test('over streamable HTTP, with a dataset passed by handle', async () => {
    const client = await overHttp(http.url);
    try {
      await exercise(client);
      const top = await client.callTool({
        name: 'vector_topk',
        arguments: { query: [1, 0], matrix: { dataset: 'emb' }, k: 1 },
      });
      expect(top.structuredContent).toMatchObject({ indices: [1] });
    } finally {
      await client.close();
    }
  });
});

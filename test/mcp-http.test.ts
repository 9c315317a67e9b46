/** toolbridge/mcp over streamable HTTP, with the MCP SDK's own client, on loopback. */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createBridge, type Bridge } from 'toolbridge';
import { serveMcpHttp, type McpHttpServer } from 'toolbridge/mcp';

let bridge: Bridge;
let http: McpHttpServer;
let secured: McpHttpServer;
beforeAll(async () => {
  bridge = await createBridge({ maxThreads: 1 });
  http = await serveMcpHttp(bridge, {
    maxInlineBytes: 1024,
    maxReadBytes: 4096,
    datasets: { ramp: Float64Array.from({ length: 1000 }, (_, i) => i) },
  });
  secured = await serveMcpHttp(bridge, { token: 's3cret' });
});
afterAll(async () => {
  await http?.close();
  await secured?.close();
  await bridge?.close();
});

async function connected(url: string, headers: Record<string, string> = {}) {
  const client = new Client({ name: 'toolbridge-http-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

describe('toolbridge/mcp over streamable HTTP', () => {
  test('lists and calls tools; a large result is a link whose bytes the side endpoint serves', async () => {
    const client = await connected(http.url);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('matrix_multiply');
      const dot = await client.callTool({ name: 'vector_dot', arguments: { a: [1, 2], b: [3, 4] } });
      expect(dot.structuredContent).toEqual({ result: 11 });
      const n = 32;
      const ones = new Array<number>(n * n).fill(1);
      const product = await client.callTool({
        name: 'matrix_multiply',
        arguments: { a: ones, b: ones, m: n, k: n, n },
      });
      const link = (product.content as Array<{ type: string; uri?: string }>).find((c) => c.type === 'resource_link')!;
      const id = link.uri!.slice('toolbridge://results/'.length);
      const response = await fetch(new URL(`/results/${id}`, http.url));
      expect(response.headers.get('content-type')).toBe('application/octet-stream');
      const values = new Float64Array(await response.arrayBuffer());
      expect(values.length).toBe(n * n);
      expect(values.every((v) => v === n)).toBe(true);
      // Past maxReadBytes, resources/read sends a note, not the bytes: no MCP message grows past its limits.
      const read = await client.readResource({ uri: link.uri! });
      const note = read.contents[0] as { mimeType?: string; text?: string; blob?: string };
      expect(note.blob).toBeUndefined();
      expect(note.mimeType).toBe('text/plain');
      expect(note.text).toContain(`GET /results/${id}`);
      expect(note.text).toContain(`{"dataset": "${link.uri}"}`);
      // A dataset's bytes, at the side endpoint.
      const ramp = new Float64Array(await (await fetch(new URL('/datasets/ramp', http.url))).arrayBuffer());
      expect(ramp.length).toBe(1000);
      expect(ramp[999]).toBe(999);
      expect((await fetch(new URL('/datasets/nope', http.url))).status).toBe(404);
    } finally {
      await client.close();
    }
  });

  test('a request naming another Host is refused (DNS rebinding), and so is one from another Origin', async () => {
    const url = new URL(http.url);
    const status = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        import('node:http').then(({ request }) => {
          const req = request({ host: url.hostname, port: url.port, path: '/mcp', method: 'POST', headers }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on('error', reject);
          req.end('{}');
        }, reject);
      });
    expect(await status({ host: 'evil.example:80', 'content-type': 'application/json' })).toBe(403);
    expect(await status({ host: url.host, origin: 'http://evil.example', 'content-type': 'application/json' })).toBe(
      403,
    );
  });

  test('with a token, a client without it gets 401; with it, it is served', async () => {
    const response = await fetch(secured.url, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(401);
    const client = await connected(secured.url, { authorization: 'Bearer s3cret' });
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    await client.close();
  });

  test('listening beyond loopback without a token is refused', async () => {
    await expect(serveMcpHttp(bridge, { host: '0.0.0.0' })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
  });
});

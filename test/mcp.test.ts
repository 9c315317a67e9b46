/** toolbridge/mcp through the `toolbridge mcp` command and the MCP SDK's own client, over stdio. */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fixture } from './helpers.js';

/** A NumPy .npy file (format 1.0) of a C-order float32 array. */
function npy(values: Float32Array, shape: number[]): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(values.buffer)]);
}

// Datasets the server loads (--dataset): a 3 x 2 embeddings matrix (.npy) and a small table (.arrow).
const dir = mkdtempSync(join(tmpdir(), 'toolbridge-mcp-'));
const embeddings = Float32Array.from([0, 1, 1, 0, 0.5, 0.5]);
writeFileSync(join(dir, 'emb.npy'), npy(embeddings, [3, 2]));
writeFileSync(
  join(dir, 'sales.arrow'),
  tableToIPC(tableFromArrays({ units: Float64Array.from([1, 2, 3, 4]) }), 'file'),
);

const cli = fileURLToPath(new URL('../dist/src/cli.js', import.meta.url));
let client: Client;

beforeAll(async () => {
  client = new Client({ name: 'toolbridge-test', version: '1.0.0' });
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [
      cli,
      'mcp',
      '--tools',
      fileURLToPath(fixture('schema-tools.js')),
      '--tools',
      fileURLToPath(fixture('remote-tools.js')),
      '--threads',
      '1',
      '--dataset',
      `emb=${join(dir, 'emb.npy')}`,
      '--dataset',
      `sales=${join(dir, 'sales.arrow')}`,
    ],
    stderr: 'ignore',
  });
  await client.connect(transport);
});
afterAll(async () => {
  await client?.close();
  rmSync(dir, { recursive: true, force: true });
});

type Content = Array<{ type: string; text?: string; uri?: string; mimeType?: string }>;

describe('toolbridge mcp (stdio)', () => {
  test('lists the tools under LLM-safe names, with their schemas and annotations', async () => {
    const { tools } = await client.listTools();
    const dot = tools.find((t) => t.name === 'vector_dot')!;
    expect(dot.inputSchema).toMatchObject({ type: 'object', required: ['a', 'b'] });
    expect(dot._meta).toEqual({ 'toolbridge/name': 'vector.dot' });
    const search = tools.find((t) => t.name === 'schema_search')!;
    expect(search.annotations).toMatchObject({ title: 'Search', readOnlyHint: true, idempotentHint: true });
    expect(tools.every((t) => /^[A-Za-z0-9_-]+$/.test(t.name))).toBe(true);
  });

  test('calls a built-in tool with JSON arguments and returns the numbers as structured content', async () => {
    const result = await client.callTool({ name: 'vector_dot', arguments: { a: [1, 2, 3], b: [4, 5, 6] } });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({ result: 32 });
    expect((result.content as Content)[0]).toEqual({ type: 'text', text: '32' });
    const top = await client.callTool({
      name: 'vector_topk',
      arguments: { query: [1, 0], matrix: [0, 1, 1, 0, 0.5, 0.5], k: 2 },
    });
    expect(top.structuredContent).toMatchObject({ indices: [1, 2] });
  });

  test('datasets loaded on the server are passed by handle, and so are results it kept', async () => {
    const { tools } = await client.listTools();
    const topk = tools.find((t) => t.name === 'vector_topk')!;
    // The listed schema lets a client send a handle where the tool takes an array.
    const matrix = (topk.inputSchema.properties as Record<string, { anyOf?: Array<Record<string, unknown>> }>).matrix!;
    expect(matrix.anyOf?.[1]).toMatchObject({ type: 'object', required: ['dataset'] });
    const top = await client.callTool({
      name: 'vector_topk',
      arguments: { query: [1, 0], matrix: { dataset: 'emb' }, k: 2 },
    });
    expect(top.isError).toBeFalsy();
    expect(top.structuredContent).toMatchObject({ indices: [1, 2] });
    const described = await client.callTool({ name: 'frame_describe', arguments: { table: { dataset: 'sales' } } });
    expect(described.structuredContent).toMatchObject({ units: { count: 4, mean: 2.5, max: 4 } });

    // A large result, kept on the server, goes into the next call by its URI: nothing crosses the transport.
    const n = 160;
    const ones = new Array<number>(n * n).fill(1);
    const product = await client.callTool({ name: 'matrix_multiply', arguments: { a: ones, b: ones, m: n, k: n, n } });
    const uri = (product.content as Content).find((c) => c.type === 'resource_link')!.uri!;
    const dot = await client.callTool({ name: 'vector_dot', arguments: { a: { dataset: uri }, b: { dataset: uri } } });
    expect(dot.structuredContent).toEqual({ result: n * n * n * n });

    const unknown = await client.callTool({ name: 'vector_dot', arguments: { a: { dataset: 'nope' }, b: [1] } });
    expect(unknown.isError).toBe(true);
    const text = (unknown.content as Content)[0]!.text!;
    expect(text).toContain('INVALID_ARGS');
    expect(text).toContain('args.a: no dataset named "nope"');
    expect(text).toContain('datasets: emb, sales');

    // Datasets are resources too, readable as bytes.
    const { resources } = await client.listResources();
    expect(resources.map((r) => r.uri)).toEqual(expect.arrayContaining(['toolbridge://datasets/emb']));
    const read = await client.readResource({ uri: 'toolbridge://datasets/emb' });
    const bytes = Buffer.from((read.contents[0] as { blob: string }).blob, 'base64');
    expect([...new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)]).toEqual([...embeddings]);
  });

  test('bad arguments come back as a tool error naming each path', async () => {
    const result = await client.callTool({ name: 'schema_search', arguments: { query: [1, 2], k: 0 } });
    expect(result.isError).toBe(true);
    const text = (result.content as Content)[0]!.text!;
    expect(text).toContain('INVALID_ARGS');
    expect(text).toContain('args.query: must NOT have fewer than 4 items');
    expect(text).toContain('args.k: must be >= 1');
  });

  test('a large result stays on the server: a resource link whose bytes read back equal', async () => {
    const n = 160;
    const ones = new Array<number>(n * n).fill(1);
    const result = await client.callTool({ name: 'matrix_multiply', arguments: { a: ones, b: ones, m: n, k: n, n } });
    const link = (result.content as Content).find((c) => c.type === 'resource_link')!;
    expect(link.uri).toMatch(/^toolbridge:\/\/results\//);
    expect(link.mimeType).toBe('application/octet-stream');
    const read = await client.readResource({ uri: link.uri! });
    const blob = (read.contents[0] as { blob: string }).blob;
    const bytes = Buffer.from(blob, 'base64');
    const product = new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
    expect(product.length).toBe(n * n);
    expect(product.every((v) => v === n)).toBe(true);
    const { resources } = await client.listResources();
    expect(resources.map((r) => r.uri)).toContain(link.uri);
  });

  test("the client's cancellation aborts the tool's call", async () => {
    const before = (await client.callTool({ name: 'remote_aborted', arguments: {} })).structuredContent as {
      result: number;
    };
    const controller = new AbortController();
    const call = client.callTool({ name: 'remote_wait', arguments: { ms: 20_000 } }, undefined, {
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 300);
    await expect(call).rejects.toThrow();
    await expect
      .poll(
        async () =>
          ((await client.callTool({ name: 'remote_aborted', arguments: {} })).structuredContent as { result: number })
            .result,
        {
          timeout: 5_000,
        },
      )
      .toBeGreaterThan(before.result);
  });

  test("the tool's progress reports arrive as progress notifications, in order", async () => {
    const notes: Array<{ progress: number; total?: number; message?: string }> = [];
    const result = await client.callTool({ name: 'remote_steps', arguments: { n: 3 } }, undefined, {
      onprogress: (note) => notes.push(note),
    });
    expect(result.structuredContent).toEqual({ result: 3 });
    await expect.poll(() => notes.length).toBe(3);
    expect(notes).toEqual([1, 2, 3].map((i) => ({ progress: i, total: 3, message: `step ${i}` })));
  });
});

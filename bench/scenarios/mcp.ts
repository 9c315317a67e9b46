/**
 * MCP overhead: a small tool (vector.dot of two 3-vectors) and a heavier one (matrix.multiply 96^2) called
 * through MCP, over stdio (the `toolbridge mcp` command, the SDK's client) and over streamable HTTP
 * (loopback), against the same calls made directly with `bridge.call`, in turn. Target: a small call over
 * stdio answers with p50 <= 5 ms.
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { createBridge, shared, type Bridge } from '../../src/index.js';
import { createMcpServer, serveMcpHttp } from '../../src/mcp/index.js';
import { fmt, summarize } from '../harness.js';
import type { Check, Scenario } from '../scenario.js';

const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export const mcp: Scenario = async ({ tiny, threads }) => {
  const bridge = await createBridge({ minThreads: threads, maxThreads: threads, cache: false });
  const http = await serveMcpHttp(bridge, { maxInlineBytes: 16 * 2 ** 20 });
  const stdio = new Client({ name: 'bench', version: '1.0.0' });
  const overHttp = new Client({ name: 'bench', version: '1.0.0' });
  try {
    await stdio.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [cli, 'mcp', '--threads', String(threads)],
        stderr: 'ignore',
      }),
    );
    await overHttp.connect(new StreamableHTTPClientTransport(new URL(http.url)));
    const n = 96;
    const ones = new Array<number>(n * n).fill(1);
    const jobs = {
      small: { tool: 'vector.dot', name: 'vector_dot', args: { a: [1, 2, 3], b: [4, 5, 6] } },
      heavy: { tool: 'matrix.multiply', name: 'matrix_multiply', args: { a: ones, b: ones, m: n, k: n, n } },
    };
    const rounds = tiny ? 2 : 10;
    const perRound = tiny ? 5 : 50;
    const rows: Array<Record<string, string | number>> = [];
    const p50s: Record<string, number> = {};
    for (const [label, job] of Object.entries(jobs)) {
      const systems: Record<string, () => Promise<unknown>> = {
        'bridge.call': () => bridge.call(job.tool, job.args),
        'MCP over stdio': () => stdio.callTool({ name: job.name, arguments: job.args }),
        'MCP over HTTP': () => overHttp.callTool({ name: job.name, arguments: job.args }),
      };
      const times: Record<string, number[]> = {};
      for (const run of Object.values(systems)) for (let w = 0; w < (tiny ? 3 : 50); w++) await run();
      for (let r = 0; r < rounds; r++) {
        for (const [system, run] of Object.entries(systems)) {
          for (let i = 0; i < perRound; i++) {
            const start = performance.now();
            await run();
            (times[system] ??= []).push(performance.now() - start);
          }
        }
      }
      for (const [system, samples] of Object.entries(times)) {
        const s = summarize(samples);
        p50s[`${label}|${system}`] = s.p50;
        rows.push({ call: `${label}: ${job.tool}`, system, p50: fmt(s.p50), p99: fmt(s.p99) });
      }
    }
    const crossing = await whatCrosses(bridge, tiny);
    rows.push(...crossing.rows);
    const checks: Check[] = [
      {
        criterion: 'largest MCP message (tools/call and resources/read), results up to an 8 MiB n x n product',
        measured: `${(crossing.largest / 1024).toFixed(1)} KiB`,
        target: '< 10 MiB (an MCP stdio message)',
        pass: crossing.largest < 10 * 2 ** 20,
      },
      {
        criterion: 'small call over MCP stdio, p50',
        measured: `${p50s['small|MCP over stdio']!.toFixed(2)} ms (bridge.call ${p50s['small|bridge.call']!.toFixed(3)} ms)`,
        target: '<= 5 ms',
        pass: p50s['small|MCP over stdio']! <= 5,
      },
    ];
    return {
      name: 'mcp',
      title: `MCP overhead over a direct bridge.call, stdio and streamable HTTP; ${threads} threads`,
      rows,
      checks,
      notes: [
        'What crosses: matrix.multiply of two n x n float64 datasets kept on the server (passed by handle), through an in-process MCP server and client; bytes are the JSON-RPC messages as serialized (a tools/call request and its response, and a resources/read response for a result kept as a resource_link).',
        `${rounds} rounds of ${perRound} calls each, the systems in turn. The stdio server is a process of its own (the toolbridge command) with its own bridge; the HTTP server runs in this process over the same bridge as bridge.call. The heavy call's ${n}^2 product goes back inline as JSON (maxInlineBytes raised for it).`,
      ],
    };
  } finally {
    await stdio.close().catch(() => undefined);
    await overHttp.close().catch(() => undefined);
    await http.close();
    await bridge.close();
  }
};

/**
 * What crosses the MCP transport for results of growing size: the serialized tools/call request and
 * response, and (for a result kept on the server) the resources/read response, through an in-process pair.
 */
async function whatCrosses(bridge: Bridge, tiny: boolean) {
  const sizes = tiny ? [16, 64] : [16, 64, 256, 1024];
  const datasets: Record<string, Float64Array> = {};
  for (const n of sizes) datasets[`m${n}`] = shared(Float64Array, n * n).fill(1);
  const server = createMcpServer(bridge, { datasets });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const sent: number[] = [];
  const send = serverSide.send.bind(serverSide);
  serverSide.send = (message, options) => {
    sent.push(JSON.stringify(message).length);
    return send(message, options);
  };
  await server.connect(serverSide);
  const client = new Client({ name: 'bench', version: '1.0.0' });
  await client.connect(clientSide);
  const rows: Array<Record<string, string | number>> = [];
  let largest = 0;
  try {
    for (const n of sizes) {
      const args = { a: { dataset: `m${n}` }, b: { dataset: `m${n}` }, m: n, k: n, n };
      const request = JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'matrix_multiply', arguments: args },
      }).length;
      sent.length = 0;
      const result = await client.callTool({ name: 'matrix_multiply', arguments: args });
      const response = sent.at(-1)!;
      largest = Math.max(largest, request, response);
      const link = (result.content as Array<{ type: string; uri?: string }>).find((c) => c.type === 'resource_link');
      let read = '';
      if (link?.uri) {
        sent.length = 0;
        const contents = (await client.readResource({ uri: link.uri })).contents[0]!;
        const bytes = sent.at(-1)!;
        largest = Math.max(largest, bytes);
        read = `resources/read ${(bytes / 1024).toFixed(1)} KiB (${'blob' in contents ? 'base64' : 'a note: too large to read over MCP'})`;
      }
      rows.push({
        call: `what crosses: ${n} x ${n} product (${((n * n * 8) / 1024).toFixed(0)} KiB of float64)`,
        system: link ? 'resource_link' : 'inline JSON',
        p50: `request ${(request / 1024).toFixed(1)} KiB, response ${(response / 1024).toFixed(1)} KiB`,
        p99: read || '-',
      });
    }
  } finally {
    await client.close();
    await server.close();
  }
  return { rows, largest };
}

#!/usr/bin/env node
/**
 * The `toolbridge` command.
 *
 *   toolbridge mcp --tools ./my-tools.js [--tools ...] [--threads N]   an MCP server over stdio
 *   toolbridge mcp ... --http 127.0.0.1:8808 [--token T]                 ... over streamable HTTP
 *   toolbridge mcp ... --dataset embeddings=./emb.npy                  a dataset tools take by handle
 *
 * Over stdio its standard output is the MCP channel: everything else goes to standard error.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const usage = `usage: toolbridge mcp --tools <module> [--tools <module> ...] [--threads <n>] [--dataset <name>=<file> ...] [--http <host:port> [--token <t>]]`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command !== 'mcp') {
    console.error(usage);
    process.exit(2);
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      tools: { type: 'string', multiple: true, default: [] },
      threads: { type: 'string' },
      http: { type: 'string' },
      token: { type: 'string' },
      dataset: { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.error(usage);
    return;
  }
  const threads = values.threads === undefined ? undefined : Number(values.threads);
  if (threads !== undefined && !(Number.isInteger(threads) && threads > 0)) {
    console.error(`toolbridge: --threads must be a positive integer, got ${values.threads}`);
    process.exit(2);
  }
  const [{ createBridge }, { createMcpServer, serveMcpHttp }, { StdioServerTransport }, { loadDataset }] =
    await Promise.all([
      import('./index.js'),
      import('./mcp/index.js'),
      import('@modelcontextprotocol/sdk/server/stdio.js'),
      import('./mcp/datasets.js'),
    ]);
  // --dataset name=path, loaded into shared memory before the server starts.
  const datasets: Record<string, unknown> = {};
  for (const spec of values.dataset) {
    const at = spec.indexOf('=');
    if (at <= 0) {
      console.error(`toolbridge: --dataset must be <name>=<path>, got ${spec}`);
      process.exit(2);
    }
    datasets[spec.slice(0, at)] = await loadDataset(resolve(spec.slice(at + 1)));
  }
  const bridge = await createBridge({
    tools: values.tools.map((path) => pathToFileURL(resolve(path))),
    ...(threads !== undefined ? { maxThreads: threads } : {}),
  });
  if (values.http !== undefined) {
    const at = values.http.lastIndexOf(':');
    const host = values.http.slice(0, at).replace(/^\[|\]$/g, '') || '127.0.0.1';
    const port = Number(values.http.slice(at + 1));
    if (at < 0 || !Number.isInteger(port) || port < 0) {
      console.error(`toolbridge: --http must be <host>:<port>, got ${values.http}`);
      process.exit(2);
    }
    const http = await serveMcpHttp(bridge, {
      host,
      port,
      datasets,
      ...(values.token ? { token: values.token } : {}),
    });
    const stopHttp = async () => {
      await http.close();
      await bridge.close();
      process.exit(0);
    };
    process.on('SIGTERM', () => void stopHttp());
    process.on('SIGINT', () => void stopHttp());
    console.error(`toolbridge: MCP server at ${http.url}, ${bridge.tools().length} tools`);
    return;
  }
  const server = createMcpServer(bridge, { datasets });
  const transport = new StdioServerTransport();
  const stop = async () => {
    await server.close().catch(() => undefined);
    await bridge.close();
    process.exit(0);
  };
  transport.onclose = () => void stop();
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  await server.connect(transport);
  console.error(`toolbridge: MCP server on stdio, ${bridge.tools().length} tools`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(`toolbridge: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

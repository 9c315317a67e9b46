#!/usr/bin/env bash
# Packs the package, installs the tarball into a fresh project and uses it through its exports map:
# a typed call from TypeScript (type-checked against the packed .d.ts) and a run of the compiled JavaScript,
# with the toolbridge/tool (in the tool module), toolbridge/dashboard, toolbridge/otel, toolbridge/nats and
# toolbridge/mcp and toolbridge/ai subpaths, and the `toolbridge` command.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

tarball="$(cd "$root" && npm pack --silent --pack-destination "$work" | tail -n 1)"
cd "$work"
npm init -y >/dev/null
npm pkg set type=module >/dev/null
npm install --no-audit --no-fund "$work/$tarball" \
  "@opentelemetry/api@$(node -p "require('$root/node_modules/@opentelemetry/api/package.json').version")" \
  "typescript@$(node -p "require('$root/node_modules/typescript/package.json').version")" \
  "@types/node@$(node -p "require('$root/node_modules/@types/node/package.json').version")" >/dev/null

cat > tools.js <<'JS'
import { defineSession, defineTool, shared } from 'toolbridge/tool';
export const tally = defineSession({
  name: 'consumer.tally',
  create: ({ start }) => {
    let total = start;
    return { add: (x) => (total += x.reduce((a, b) => a + b, 0)) };
  },
});
export const twice = defineTool({
  name: 'consumer.twice',
  run({ x }) {
    const out = shared(Float64Array, x.length);
    for (let i = 0; i < x.length; i++) out[i] = 2 * x[i];
    return out;
  },
});
JS
cat > main.ts <<'TS'
import { createBridge, shared, ToolBridgeError, type Bridge } from 'toolbridge';
import { serveDashboard } from 'toolbridge/dashboard';
import { instrumentBridge } from 'toolbridge/otel';
import { defineTool, ToolBridgeError as ToolSideError, type ToolDefinition } from 'toolbridge/tool';

// The tool entry is typed from its own .d.ts and holds the same objects as the main entry.
const probe: ToolDefinition<{ n: number }, number> = defineTool({ name: 'consumer.probe', run: ({ n }) => n });
if (ToolSideError !== ToolBridgeError || probe.name !== 'consumer.probe') throw new Error('toolbridge/tool differs');

const bridge: Bridge = await createBridge({ maxThreads: 1, tools: [new URL('./tools.js', import.meta.url)] });
const x = shared(Float64Array, 4).fill(1.5);
const y = await bridge.call<Float64Array>('consumer.twice', { x });
// A session: state kept in one worker across calls, typed through the proxy.
const tally = await bridge.open<{ add(x: Float64Array): number }>('consumer.tally', { start: 1 });
await tally.add(x);
if ((await tally.add(x)) !== 13) throw new Error('the session lost its state');
await tally.close();
const dot = await bridge.call<number>('vector.dot', { a: x, b: y });
try {
  await bridge.call('no.such.tool');
} catch (error) {
  if (!(error instanceof ToolBridgeError) || error.code !== 'TOOL_NOT_FOUND') throw error;
}
const handle = instrumentBridge(bridge);
const dashboard = await serveDashboard(bridge);
const metrics = await (await fetch(new URL('metrics', dashboard.url))).text();
if (!metrics.includes('toolbridge_calls_total{tool="consumer.twice"} 1')) throw new Error('no metrics');
await dashboard.close();
handle.close();
await bridge.close();
if (dot !== 18 || !(y.buffer instanceof SharedArrayBuffer)) throw new Error(`unexpected result ${dot}`);
console.log(`packed package works: ${bridge.stats().tools['consumer.twice']?.calls} call, dot = ${dot}`);
TS
npx tsc --strict --module nodenext --moduleResolution nodenext --target es2022 --types node main.ts
node main.js

# apache-arrow is a peer dependency: the app's own copy is the one toolbridge uses. The lowest version of
# the range must work as well as the newest (the app above got the newest).
lowest="$(node -p "require('$root/package.json').peerDependencies['apache-arrow'].match(/>=\s*([\d.]+)/)[1]")"
npm install --no-audit --no-fund "apache-arrow@$lowest" >/dev/null
cat > arrow.js <<'JS'
import { readFileSync } from 'node:fs';
import { tableFromArrays } from 'apache-arrow';
import { createBridge, toShared } from 'toolbridge';

const table = tableFromArrays({ k: Int32Array.from([1, 1, 2]), x: Float64Array.from([1, 2, 4]) });
const bridge = await createBridge({ maxThreads: 1 });
const grouped = await bridge.call('frame.groupby', { table, by: 'k', aggs: { x: 'sum' } });
const described = await bridge.call('frame.describe', { table: toShared(table) });
await bridge.close();
const sums = [...grouped.getChild('x')];
if (sums.join() !== '3,4' || described.x.max !== 4) throw new Error(`unexpected ${sums} ${JSON.stringify(described.x)}`);
const { version } = JSON.parse(readFileSync(new URL('./node_modules/apache-arrow/package.json', import.meta.url)));
console.log(`apache-arrow ${version} (lowest of the peer range) works: sums ${sums}`);
JS
node arrow.js

# toolbridge/nats with its optional peer (@nats-io/transport-node), against a nats-server on loopback when
# this machine has one (.ci/run installs Debian's).
npm install --no-audit --no-fund \
  "@nats-io/transport-node@$(node -p "require('$root/node_modules/@nats-io/transport-node/package.json').version")" >/dev/null
cat > nats.ts <<'TS'
import { spawn } from 'node:child_process';
import { createBridge, type Bridge } from 'toolbridge';
import { connect, serve, UnavailableError, type ToolHost } from 'toolbridge/nats';

const server = spawn('nats-server', ['-a', '127.0.0.1', '-p', '-1'], { stdio: ['ignore', 'ignore', 'pipe'] });
const url = await new Promise<string>((resolve, reject) => {
  server.stderr!.on('data', (chunk: Buffer) => {
    const port = /Listening for client connections on \S+:(\d+)/.exec(chunk.toString())?.[1];
    if (port) resolve(`nats://127.0.0.1:${port}`);
  });
  server.once('exit', (code) => reject(new Error(`nats-server exited with ${code}`)));
});
try {
  const local = await createBridge({ maxThreads: 1 });
  const host: ToolHost = await serve(local, { servers: url, namespace: 'smoke' });
  const remote: Bridge = await connect({ servers: url, namespace: 'smoke' });
  const dot = await remote.call<number>('vector.dot', { a: Float64Array.from([1, 2]), b: Float64Array.from([3, 4]) });
  await host.close();
  const refused = await remote.call('vector.dot', { a: new Float64Array(1), b: new Float64Array(1) }).catch((e) => e);
  await remote.close();
  await local.close();
  if (dot !== 11 || !(refused instanceof UnavailableError)) throw new Error(`unexpected ${dot} ${refused}`);
  console.log(`toolbridge/nats works: dot = ${dot} on a host, then ${refused.code}`);
} finally {
  server.kill();
}
TS
npx tsc --strict --module nodenext --moduleResolution nodenext --target es2022 --types node nats.ts
if command -v nats-server >/dev/null; then
  node nats.js
else
  echo "toolbridge/nats type-checked; not run: no nats-server on this machine"
fi

# toolbridge/mcp and the `toolbridge` command, with the MCP SDK's own client over stdio.
npm install --no-audit --no-fund \
  "@modelcontextprotocol/sdk@$(node -p "require('$root/node_modules/@modelcontextprotocol/sdk/package.json').version")" >/dev/null
cat > mcp.ts <<'TS'
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { createBridge } from 'toolbridge';
import { createMcpServer, mcpToolName } from 'toolbridge/mcp';

const bridge = await createBridge({ maxThreads: 1 });
const server = createMcpServer(bridge, { maxInlineBytes: 1024 });
await server.close();
await bridge.close();
if (mcpToolName('vector.topk') !== 'vector_topk') throw new Error('mcpToolName');

const client = new Client({ name: 'smoke', version: '1.0.0' });
await client.connect(
  new StdioClientTransport({ command: 'node_modules/.bin/toolbridge', args: ['mcp', '--threads', '1'], stderr: 'ignore' }),
);
const { tools } = await client.listTools();
const result = await client.callTool({ name: 'vector_dot', arguments: { a: [1, 2], b: [3, 4] } });
await client.close();
if (!tools.some((t) => t.name === 'vector_dot') || (result.structuredContent as { result: number }).result !== 11) {
  throw new Error(`unexpected ${JSON.stringify(result)}`);
}
console.log(`toolbridge mcp works: ${tools.length} tools listed, vector_dot = 11`);
TS
npx tsc --strict --module nodenext --moduleResolution nodenext --target es2022 --types node --skipLibCheck mcp.ts
node mcp.js

# toolbridge/ai with its optional peer (the `ai` package): types and one tool run by hand.
npm install --no-audit --no-fund "ai@$(node -p "require('$root/node_modules/ai/package.json').version")" >/dev/null
cat > ai.ts <<'TS'
import { createBridge } from 'toolbridge';
import { aiTools } from 'toolbridge/ai';

const bridge = await createBridge({ maxThreads: 1 });
const tools = aiTools(bridge, { include: ['vector.dot'] });
const out = await tools.vector_dot!.execute!({ a: [1, 2], b: [3, 4] }, { toolCallId: 'c', messages: [] } as never);
await bridge.close();
if (out !== 11) throw new Error(`unexpected ${JSON.stringify(out)}`);
console.log(`toolbridge/ai works: vector_dot = ${out}`);
TS
npx tsc --strict --module nodenext --moduleResolution nodenext --target es2022 --types node --skipLibCheck ai.ts
node ai.js

#!/usr/bin/env bash
# Packs the package, installs the tarball into a fresh project and uses it through its exports map:
# a typed call from TypeScript (type-checked against the packed .d.ts) and a run of the compiled JavaScript,
# with the toolbridge/dashboard and toolbridge/otel subpaths.
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
import { defineTool, shared } from 'toolbridge';
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

const bridge: Bridge = await createBridge({ maxThreads: 1, tools: [new URL('./tools.js', import.meta.url)] });
const x = shared(Float64Array, 4).fill(1.5);
const y = await bridge.call<Float64Array>('consumer.twice', { x });
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

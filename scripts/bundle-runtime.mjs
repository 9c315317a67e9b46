#!/usr/bin/env node
// Bundles the worker runtime (dist/workers/runtime.js, as tsc emitted it, with the built-in tools and the
// codec it imports) into dist/workers/bundle/: a worker then loads one file instead of ~30 ES modules,
// which is most of what a worker's start-up costs beyond Piscina's own (see BENCHMARKS.md, start-up).
//
// The runtime is CommonJS: a worker of the built-in tools alone then never starts Node's ES module loader
// (~4 ms of its start-up here). What it loads on first need stays ES modules, so that every module of a
// worker sees the same copy of apache-arrow, msgpackr and comlink as the tool modules do (a CommonJS
// require() of them would load their CommonJS builds, other classes): apache-arrow, msgpackr and comlink
// themselves, from the app's copy, and two ES module bundles of the runtime's own, the frame kernels (first
// frame call) and the session host (first session).
// State a tool module shares with the runtime through `toolbridge/tool` (the shared-memory ledger, the
// loading mark, the tool and error brands) is keyed by global symbols, so each bundle's copy and the
// package's copy see the same.
import { rmSync } from 'node:fs';
import { rolldown } from 'rolldown';

const workers = new URL('../dist/workers/', import.meta.url);
const out = new URL('bundle/', workers);
const external = [/^node:/, 'apache-arrow', 'msgpackr', 'comlink'];
/** The runtime's dynamic imports of its lazy parts -> the ES module bundles of them. */
const LAZY = { 'tools/frame-kernels.js': 'frame-kernels.mjs', 'session-host.js': 'session-host.mjs' };

async function build(input, output, plugins = []) {
  const bundle = await rolldown({ input, platform: 'node', external, plugins, logLevel: 'warn' });
  await bundle.write({ dir: out.pathname, sourcemap: true, ...output });
  await bundle.close();
}

rmSync(out, { recursive: true, force: true });
const lazyInput = Object.fromEntries(
  Object.entries(LAZY).map(([source, file]) => [file.replace('.mjs', ''), new URL(source, workers).pathname]),
);
await build(lazyInput, { format: 'esm', entryFileNames: '[name].mjs', chunkFileNames: 'chunk-[name].mjs' });
await build(
  { runtime: new URL('runtime.js', workers).pathname },
  // Strict, as the ES modules it is made of are.
  { format: 'cjs', strict: true, entryFileNames: '[name].cjs', chunkFileNames: 'chunk-[name].cjs' },
  [
    {
      name: 'lazy-parts-as-es-modules',
      resolveId(source, importer) {
        if (importer === undefined) return null;
        const path = new URL(source, `file://${importer}`).pathname;
        for (const [lazy, file] of Object.entries(LAZY)) {
          if (path === new URL(lazy, workers).pathname) return { id: `./${file}`, external: true };
        }
        return null;
      },
    },
  ],
);

#!/usr/bin/env node
// Bundles the worker runtime (dist/workers/runtime.js, as tsc emitted it, with the built-in tools and the
// codec it imports) into dist/workers/bundle/: a worker then loads three files instead of ~30 ES modules,
// which is most of what a worker's start-up costs beyond Piscina's own (see BENCHMARKS.md, start-up).
// apache-arrow, msgpackr and comlink stay outside (loaded on first need, from the app's copy); the frame kernels stay
// a chunk of their own, loaded on the first frame call. State a tool module shares with the runtime through
// `toolbridge/tool` (the shared-memory ledger, the loading mark, the tool and error brands) is keyed by
// global symbols, so the bundle's copy and the package's copy see the same.
import { rmSync } from 'node:fs';
import { rolldown } from 'rolldown';

const workers = new URL('../dist/workers/', import.meta.url);
const out = new URL('bundle/', workers);
rmSync(out, { recursive: true, force: true });
const bundle = await rolldown({
  input: { runtime: new URL('runtime.js', workers).pathname },
  platform: 'node',
  external: [/^node:/, 'apache-arrow', 'msgpackr', 'comlink'],
  logLevel: 'warn',
});
await bundle.write({
  dir: out.pathname,
  format: 'esm',
  entryFileNames: '[name].js',
  chunkFileNames: 'chunk-[name].js',
  sourcemap: true,
});
await bundle.close();

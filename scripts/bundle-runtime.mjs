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
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { rolldown } from 'rolldown';
import { parseSync } from 'rolldown/utils';

const workers = new URL('../dist/workers/', import.meta.url);
const out = new URL('bundle/', workers);
const external = [/^node:/, 'apache-arrow', 'msgpackr', 'comlink'];
/** What the runtime bundle calls for `import()` (see workers/entry.cts). */
const LOAD = '__load';
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
      // workers/entry.cts compiles the bundle with V8's code cache, as a `vm.Script`, whose own `import()`
      // needs an experimental option on Node 20 (and failed even so once compiled from a cache): the
      // bundle's `import()` calls go through `__load` (the same length as `import`, so the source map stays
      // right), which is the entry's `import()` where it hands one over, the bundle's own otherwise (a plain
      // `require()` of it).
      name: 'dynamic-imports-through-the-entry',
      renderChunk(code) {
        if (code.includes(LOAD)) throw new Error(`the runtime bundle already uses the name ${LOAD}`);
        const { program } = parseSync('runtime.cjs', code);
        const starts = [];
        const visit = (node) => {
          if (Array.isArray(node)) return node.forEach(visit);
          if (node === null || typeof node !== 'object') return;
          if (node.type === 'ImportExpression') starts.push(node.start);
          for (const value of Object.values(node)) if (typeof value === 'object') visit(value);
        };
        visit(program);
        let out = code;
        for (const start of starts) {
          if (out.slice(start, start + 6) !== 'import') throw new Error(`no import() at ${start} of the bundle`);
          out = out.slice(0, start) + LOAD + out.slice(start + 6);
        }
        // On the first line, after the "use strict" directive: no line of the source map moves.
        const directive = program.body[0];
        if (directive?.directive !== 'use strict') throw new Error('the runtime bundle does not start "use strict"');
        const prologue = ` const ${LOAD} = module[Symbol.for('toolbridge.load')] ?? ((specifier) => import(specifier));`;
        out = out.slice(0, directive.end) + prologue + out.slice(directive.end);
        return { code: out, map: null };
      },
    },
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
// The bundle's content hash, which names its code cache (workers/entry.cts): a rebuilt bundle never reads a
// cache made for another.
const runtime = readFileSync(new URL('runtime.cjs', out));
writeFileSync(new URL('runtime.key', out), `${createHash('sha256').update(runtime).digest('hex').slice(0, 16)}\n`);

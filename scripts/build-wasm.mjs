#!/usr/bin/env node
// Builds workers/kernels/kernels.wat (WebAssembly text format, 128-bit SIMD) with wabt into
// workers/kernels/kernels-wasm.ts, the module's bytes as base64, which the worker bundle inlines. Two
// modules come from the one source: the baseline (SIMD128), and one where every `a + x * y` of two SIMD
// values is a relaxed-SIMD multiply-add (`f64x2.relaxed_madd`, a fused multiply-add where the CPU has one),
// which runtimes with relaxed SIMD (Node 22 and later) load instead. Each is built twice: with a memory of
// its own, and importing a shared memory (`env.memory`), the one a large shared array lives in, so that a
// scan reads the array where it is (src/memory/kernel-memory.ts).
// `--check` builds them again and fails if the committed file differs (CI runs it): the bytes that ship
// are always the ones this source gives.
import { readFileSync, writeFileSync } from 'node:fs';
import { Buffer } from 'node:buffer';
import wabtInit from 'wabt';

const source = new URL('../workers/kernels/kernels.wat', import.meta.url);
const target = new URL('../workers/kernels/kernels-wasm.ts', import.meta.url);

/** `(T.add (local.get $c) (T.mul (local.get $x) (local.get $y)))` -> `(T.relaxed_madd $x $y $c)`. */
const MULTIPLY_ADD =
  /\((f64x2|f32x4)\.add \(local\.get (\$\w+)\) \(\1\.mul \(local\.get (\$\w+)\) \(local\.get (\$\w+)\)\)\)/g;

const wabt = await wabtInit();
const text = readFileSync(source, 'utf8');
const fused = text.replace(MULTIPLY_ADD, '($1.relaxed_madd (local.get $3) (local.get $4) (local.get $2))');
if (fused === text) throw new Error('kernels.wat: no multiply-add found for the relaxed-SIMD module');

const OWN_MEMORY = '(memory (export "memory") 1)';
if (!text.includes(OWN_MEMORY)) throw new Error(`kernels.wat: no ${OWN_MEMORY} to replace by an import`);
/** The module reading an imported shared memory of up to 4 GiB instead of its own. */
const importing = (wat) => wat.replace(OWN_MEMORY, '(import "env" "memory" (memory 1 65536 shared))');

function build(wat, features) {
  const module = wabt.parseWat('kernels.wat', wat, features);
  module.validate(features);
  const { buffer } = module.toBinary({});
  module.destroy();
  return buffer;
}

function constant(name, buffer) {
  const lines =
    Buffer.from(buffer)
      .toString('base64')
      .match(/.{1,100}/g) ?? [];
  return `export const ${name} =\n${lines.map((line, i) => `  '${line}'${i < lines.length - 1 ? ' +' : ';'}`).join('\n')}\n`;
}

const baseline = build(text, { simd: true });
const relaxed = build(fused, { simd: true, relaxed_simd: true });
const sharedBaseline = build(importing(text), { simd: true, threads: true });
const sharedRelaxed = build(importing(fused), { simd: true, relaxed_simd: true, threads: true });
const sizes = [baseline, relaxed, sharedBaseline, sharedRelaxed].map((b) => b.length).join(', ');
const out = `// Built from kernels.wat by scripts/build-wasm.mjs (wabt); do not edit. ${sizes} bytes.
/** SIMD128. */
${constant('KERNELS_WASM', baseline)}/** SIMD128 with relaxed-SIMD multiply-adds. */
${constant('KERNELS_WASM_RELAXED', relaxed)}/** SIMD128, reading an imported shared memory. */
${constant('KERNELS_WASM_SHARED', sharedBaseline)}/** SIMD128 with relaxed-SIMD multiply-adds, reading an imported shared memory. */
${constant('KERNELS_WASM_SHARED_RELAXED', sharedRelaxed)}`;
const buffer = { length: sizes };

if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(target, 'utf8');
  } catch {
    // Missing: reported below.
  }
  if (committed !== out) {
    console.error(
      'workers/kernels/kernels-wasm.ts does not match workers/kernels/kernels.wat: run `npm run build:wasm`',
    );
    process.exit(1);
  }
  console.log(`kernels-wasm.ts matches kernels.wat (${buffer.length} bytes)`);
} else {
  writeFileSync(target, out);
  console.log(`wrote workers/kernels/kernels-wasm.ts (${buffer.length} bytes)`);
}

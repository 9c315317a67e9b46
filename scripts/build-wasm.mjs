#!/usr/bin/env node
// Builds workers/kernels/kernels.wat (WebAssembly text format, 128-bit SIMD) with wabt into
// workers/kernels/kernels-wasm.ts, the module's bytes as base64, which the worker bundle inlines.
// `--check` builds it again and fails if the committed file differs (CI runs it): the bytes that ship
// are always the ones this source gives.
import { readFileSync, writeFileSync } from 'node:fs';
import { Buffer } from 'node:buffer';
import wabtInit from 'wabt';

const source = new URL('../workers/kernels/kernels.wat', import.meta.url);
const target = new URL('../workers/kernels/kernels-wasm.ts', import.meta.url);

const wabt = await wabtInit();
const module = wabt.parseWat('kernels.wat', readFileSync(source, 'utf8'), { simd: true });
module.validate();
const { buffer } = module.toBinary({});
module.destroy();
const base64 = Buffer.from(buffer).toString('base64');
const lines = base64.match(/.{1,100}/g) ?? [];
const text = `// Built from kernels.wat by scripts/build-wasm.mjs (wabt); do not edit. ${buffer.length} bytes.
export const KERNELS_WASM =
${lines.map((line, i) => `  '${line}'${i < lines.length - 1 ? ' +' : ';'}`).join('\n')}
`;

if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(target, 'utf8');
  } catch {
    // Missing: reported below.
  }
  if (committed !== text) {
    console.error(
      'workers/kernels/kernels-wasm.ts does not match workers/kernels/kernels.wat: run `npm run build:wasm`',
    );
    process.exit(1);
  }
  console.log(`kernels-wasm.ts matches kernels.wat (${buffer.length} bytes)`);
} else {
  writeFileSync(target, text);
  console.log(`wrote workers/kernels/kernels-wasm.ts (${buffer.length} bytes)`);
}

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const generated = join(root, 'schemas', 'generated');
const listing = () => readdirSync(generated, { recursive: true }).map(String).sort();

describe('npm run generate:schemas', () => {
  test('without flatc it says what to install and leaves schemas/generated as it was', () => {
    const before = listing();
    // A PATH with node alone (through a folder of its own: node's may hold a flatc too).
    const bin = mkdtempSync(join(tmpdir(), 'toolbridge-no-flatc-'));
    try {
      symlinkSync(process.execPath, join(bin, 'node'));
      const run = spawnSync(join(bin, 'node'), [join(root, 'scripts', 'generate-schemas.mjs')], {
        encoding: 'utf8',
        env: { PATH: bin },
      });
      expect(run.status).toBe(1);
      expect(run.stderr).toContain('needs the FlatBuffers compiler `flatc`');
      expect(run.stderr).toContain('flatbuffers-compiler');
      expect(listing()).toEqual(before);
      expect(before.length).toBeGreaterThan(0);
      expect(readdirSync(dirname(generated)).filter((name) => name.startsWith('.generated-'))).toEqual([]);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});

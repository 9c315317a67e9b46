import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';

describe('examples/', () => {
  test('quickstart.js runs through the package by name and prints what it computed', async () => {
    const script = fileURLToPath(new URL('../examples/quickstart.js', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [script], { timeout: 60_000 });
    expect(stdout).toContain('scaled 10000000 values: y[0] = 3');
    expect(stdout).toContain('built-in vector.dot: 45000000');
    expect(stdout).toContain('simulate: TIMEOUT');
    expect(stdout).toContain('bytes copied: 0');
  });
});

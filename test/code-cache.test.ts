import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { tableFromArrays } from 'apache-arrow';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createBridge } from 'toolbridge';

// Workers read TOOLBRIDGE_CODE_CACHE from the environment they start with: each test sets it first.
const saved = process.env.TOOLBRIDGE_CODE_CACHE;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'toolbridge-code-cache-'));
});
afterEach(() => {
  if (saved === undefined) delete process.env.TOOLBRIDGE_CODE_CACHE;
  else process.env.TOOLBRIDGE_CODE_CACHE = saved;
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const x = Float64Array.from([1, 2, 3, 4]);

/** A bridge of one worker in the environment as it is now: one call of each kind the bundle loads parts for. */
async function serve(): Promise<void> {
  const bridge = await createBridge({ maxThreads: 1 });
  try {
    expect(await bridge.call('vector.dot', { a: x, b: x })).toBe(30);
    // A frame tool loads apache-arrow and the frame kernels: the bundle's dynamic imports.
    const table = tableFromArrays({ k: Int32Array.from([1, 2, 1]), v: Float64Array.from([1, 2, 3]) });
    const described = await bridge.call<Record<string, { mean: number }>>('frame.describe', { table });
    expect(described.v!.mean).toBe(2);
  } finally {
    await bridge.close();
  }
}

async function cacheFiles(folder: string): Promise<string[]> {
  return (await readdir(folder)).filter((name) => name.endsWith('.bin'));
}

describe('the workers’ code cache', () => {
  test('the first worker writes it; the next ones read it; one V8 refuses is written again', async () => {
    const folder = join(dir, 'cache');
    process.env.TOOLBRIDGE_CODE_CACHE = folder;
    await serve();
    const [name, ...others] = await cacheFiles(folder);
    expect(others).toEqual([]);
    expect(name).toMatch(new RegExp(`^runtime-[0-9a-f]{16}-${process.version}-${process.arch}-[0-9a-f]+\\.bin$`));
    const file = join(folder, name!);
    const written = await stat(file);
    expect(written.size).toBeGreaterThan(10_000);

    // Read, not written again: the file is the same one.
    await serve();
    expect((await stat(file)).mtimeMs).toBe(written.mtimeMs);
    expect(await cacheFiles(folder)).toEqual([name]);

    // A cache that does not fit (damaged here): V8 refuses it, the worker compiles and serves as without one,
    // and writes a good one.
    const damaged = Buffer.alloc(written.size, 7);
    await writeFile(file, damaged);
    await serve();
    const rewritten = await readFile(file);
    expect(rewritten.equals(damaged)).toBe(false);
    expect(rewritten.length).toBeGreaterThan(10_000);
  });

  test('a folder that cannot be written: workers serve without a cache', async () => {
    // A path below a regular file: no folder can be made there.
    const blocker = join(dir, 'not-a-folder');
    await writeFile(blocker, 'x');
    process.env.TOOLBRIDGE_CODE_CACHE = join(blocker, 'cache');
    await serve();
    await serve();
    expect((await stat(blocker)).isFile()).toBe(true);
  });

  test('by default it is kept beside the bundle; TOOLBRIDGE_CODE_CACHE=0 turns it off', async () => {
    // The installed package's dist/workers/bundle/.code-cache (the tests run one file at a time).
    const main = createRequire(import.meta.url).resolve('toolbridge');
    const beside = join(dirname(main), '..', 'workers', 'bundle', '.code-cache');
    await rm(beside, { recursive: true, force: true });
    process.env.TOOLBRIDGE_CODE_CACHE = '0';
    await serve();
    await expect(stat(beside)).rejects.toMatchObject({ code: 'ENOENT' });
    delete process.env.TOOLBRIDGE_CODE_CACHE;
    await serve();
    expect(await cacheFiles(beside)).toHaveLength(1);
  });
});

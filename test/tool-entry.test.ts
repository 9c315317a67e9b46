import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as main from 'toolbridge';
import * as tool from 'toolbridge/tool';

const run = promisify(execFile);
const recorder = fileURLToPath(new URL('./support/record-loads.mjs', import.meta.url));
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'toolbridge-loads-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs node with a module loader hook that records every module loaded; returns the lines it wrote. */
async function loadsOf(name: string, args: string[]): Promise<string[]> {
  const file = join(dir, `${name}.txt`);
  await run(process.execPath, ['--import', recorder, ...args], {
    env: { ...process.env, TOOLBRIDGE_LOADS_FILE: file },
    timeout: 60_000,
  });
  return (await readFile(file, 'utf8')).split('\n').filter(Boolean);
}

const HEAVY = /\/node_modules\/(piscina|apache-arrow|msgpackr)\//;
/** Modules of toolbridge that only the main thread needs. */
const MAIN_THREAD =
  /\/dist\/src\/(bridge|create-bridge|options|otel)\.js|\/dist\/src\/(call|dispatch|registry|batch|cache|telemetry|dashboard)\//;

describe("'toolbridge/tool'", () => {
  test('loads neither Piscina, nor apache-arrow, nor msgpackr, nor any main-thread module', async () => {
    const loads = await loadsOf('tool-entry', ['--input-type=module', '-e', "await import('toolbridge/tool');"]);
    const urls = loads.map((line) => line.slice(line.indexOf(' ') + 1));
    expect(urls.some((url) => url.endsWith('/dist/src/tool/index.js'))).toBe(true);
    expect(urls.filter((url) => HEAVY.test(url))).toEqual([]);
    expect(urls.filter((url) => MAIN_THREAD.test(url))).toEqual([]);
  });

  test('exports the same objects as the main entry', () => {
    const names = Object.keys(tool);
    expect(names).toEqual(
      expect.arrayContaining([
        'defineTool',
        'defineSession',
        'shared',
        'isShared',
        'toShared',
        'ToolBridgeError',
        'InvalidArgsError',
        'SessionLostError',
        'SessionClosedError',
      ]),
    );
    for (const name of names)
      expect((main as Record<string, unknown>)[name], name).toBe(tool[name as keyof typeof tool]);
  });
});

describe('workers load apache-arrow and msgpackr on first need', () => {
  test('small calls load neither; a MessagePack payload loads msgpackr; a table loads apache-arrow', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/lazy-loads.mjs', import.meta.url));
    const lines = await loadsOf('worker', [fixture]);
    // What worker threads (thread id > 0) loaded in each phase of the fixture.
    const phases = new Map<string, string[]>();
    let current = 'start';
    for (const line of lines) {
      const [thread, url] = line.split(' ') as [string, string];
      if (thread === 'phase') current = url;
      else if (thread !== '0') phases.set(current, [...(phases.get(current) ?? []), url]);
    }
    const workerLoads = (phase: string) => phases.get(phase) ?? [];
    // The worker started (its entry file, which compiles the runtime bundle itself) before the first call.
    expect(workerLoads('start').some((url) => url.endsWith('/dist/workers/entry.cjs'))).toBe(true);
    const upToSmall = [...workerLoads('start'), ...workerLoads('small')];
    expect(upToSmall.filter((url) => HEAVY.test(url) && !url.includes('/piscina/'))).toEqual([]);
    // Nor any main-thread part of toolbridge, at any point.
    expect([...phases.values()].flat().filter((url) => MAIN_THREAD.test(url))).toEqual([]);
    expect(workerLoads('msgpack').some((url) => url.includes('/node_modules/msgpackr/'))).toBe(true);
    expect(workerLoads('msgpack').some((url) => url.includes('/node_modules/apache-arrow/'))).toBe(false);
    expect(workerLoads('table').some((url) => url.includes('/node_modules/apache-arrow/'))).toBe(true);
  });
});

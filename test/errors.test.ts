import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { InvalidArgsError, TimeoutError, ToolBridgeError, ToolFailedError } from 'toolbridge';

const run = promisify(execFile);

describe('toolbridge errors', () => {
  test('are recognised by class and code', () => {
    const error = new InvalidArgsError('bad', { path: 'args.x' });
    expect(error).toBeInstanceOf(ToolBridgeError);
    expect(error).toBeInstanceOf(InvalidArgsError);
    expect(error).not.toBeInstanceOf(TimeoutError);
    expect(new Error('plain')).not.toBeInstanceOf(ToolBridgeError);
    expect({ code: 'TIMEOUT', name: 'TimeoutError' }).not.toBeInstanceOf(TimeoutError);
    expect(error.name).toBe('InvalidArgsError');
  });

  test('raised by another installed copy of toolbridge are recognised by this one, and the other way round', async () => {
    // A second copy of the module: the same file under another URL is a module of its own.
    const errors = new URL('errors.js', pathToFileURL(createRequire(import.meta.url).resolve('toolbridge'))).href;
    const script = `
      const one = await import(${JSON.stringify(errors)});
      const two = await import(${JSON.stringify(`${errors}?second-copy`)});
      if (one.ToolBridgeError === two.ToolBridgeError) throw new Error('not two copies');
      const fromTwo = new two.TimeoutError('t', 5);
      const fromOne = new one.InvalidArgsError('x');
      console.log(JSON.stringify([
        fromTwo instanceof one.ToolBridgeError,
        fromTwo instanceof one.TimeoutError,
        fromTwo instanceof one.InvalidArgsError,
        fromOne instanceof two.InvalidArgsError,
        fromOne instanceof two.ToolFailedError,
        new Error('e') instanceof two.ToolBridgeError,
      ]));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 });
    expect(JSON.parse(stdout)).toEqual([true, true, false, true, false, false]);
  });

  test('TOOL_FAILED names the tool and wraps the cause', () => {
    const error = new ToolFailedError('my.tool', new RangeError('out of range'));
    expect(error.message).toContain('my.tool');
    expect((error.cause as Error).name).toBe('RangeError');
  });
});

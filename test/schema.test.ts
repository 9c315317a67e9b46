/** Input schemas on tools: checked on the caller's thread, through the public API. */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createBridge, defineTool, type Bridge } from 'toolbridge';
import { fixture, rejection } from './helpers.js';

let bridge: Bridge;
beforeAll(async () => {
  bridge = await createBridge({ maxThreads: 1, tools: [fixture('schema-tools.js')] });
});
afterAll(() => bridge.close());

const tasks = () => bridge.stats().memory.workers.reduce((n, w) => n + w.tasks, 0);

describe('inputSchema', () => {
  test('a call that fails it is INVALID_ARGS listing every failing path, and no worker runs', async () => {
    await bridge.call('schema.search', { query: new Float32Array(4), k: 1 });
    const before = tasks();
    const error = (await rejection(
      bridge.call('schema.search', { query: new Float32Array(2), k: 0, filter: { tag: 7 }, extra: true }),
    )) as Error & { code?: string; path?: string; issues?: Array<{ path: string; message: string }> };
    expect(error.code).toBe('INVALID_ARGS');
    expect(error.issues).toEqual(
      expect.arrayContaining([
        { path: 'args.query', message: 'must NOT have fewer than 4 items' },
        { path: 'args.k', message: 'must be >= 1' },
        { path: 'args.filter.tag', message: 'must be string' },
        { path: 'args', message: 'must NOT have additional properties' },
      ]),
    );
    expect(error.message).toContain('args.query: must NOT have fewer than 4 items');
    expect(error.message).toContain('args.k: must be >= 1');
    expect(error.path).toBe(error.issues![0]!.path);
    const missing = (await rejection(bridge.call('schema.search', { query: new Float32Array(4) }))) as Error & {
      issues?: Array<{ path: string; message: string }>;
    };
    expect(missing.issues).toEqual([{ path: 'args.k', message: "must have required property 'k'" }]);
    expect(tasks()).toBe(before);
  });

  test('x-typedArray takes the typed array as it is, or a JSON array of numbers converted once', async () => {
    expect(await bridge.call('schema.search', { query: Float32Array.of(1, 2, 3, 4), k: 2 })).toEqual({
      type: 'Float32Array',
      length: 4,
      k: 2,
    });
    expect(await bridge.call('schema.search', { query: [1, 2, 3, 4, 5], k: 3 })).toEqual({
      type: 'Float32Array',
      length: 5,
      k: 3,
    });
    const wrong = await rejection(bridge.call('schema.search', { query: Float64Array.of(1, 2, 3, 4), k: 1 }));
    expect(wrong.message).toContain('args.query: must be a Float32Array or an array of numbers');
    expect((await rejection(bridge.call('schema.search', { query: ['a', 'b', 'c', 'd'], k: 1 }))).code).toBe(
      'INVALID_ARGS',
    );
  });

  test('tools() gives each tool its schemas and annotations; idempotent tools hint so', () => {
    const search = bridge.tools().find((t) => t.name === 'schema.search')!;
    expect(search.inputSchema).toMatchObject({ type: 'object', required: ['query', 'k'] });
    expect(search.outputSchema).toEqual({ type: 'object' });
    expect(search.annotations).toEqual({ title: 'Search', readOnlyHint: true, idempotentHint: true });
    for (const name of ['vector.dot', 'vector.topk', 'matrix.multiply', 'frame.describe', 'frame.groupby']) {
      const tool = bridge.tools().find((t) => t.name === name)!;
      expect(tool.inputSchema).toMatchObject({ type: 'object' });
      expect(tool.annotations?.idempotentHint).toBe(true);
    }
  });

  test('built-in tools check their args before a worker runs', async () => {
    const before = tasks();
    const error = (await rejection(
      bridge.call('vector.topk', { query: [1, 2], matrix: 'x', k: 0, metric: 'cos' }),
    )) as Error & {
      issues?: Array<{ path: string }>;
    };
    expect(error.issues!.map((i) => i.path).sort()).toEqual(['args.k', 'args.matrix', 'args.metric']);
    expect((await rejection(bridge.call('frame.describe', { table: { numRows: 1 } }))).message).toContain(
      'args.table: must be an Arrow table',
    );
    expect(tasks()).toBe(before);
  });

  test('a zod schema (Standard JSON Schema) is converted where the tool is defined and checked before dispatch', async () => {
    const info = bridge.tools().find((tool) => tool.name === 'schema.zod')!;
    expect(info.inputSchema).toMatchObject({
      type: 'object',
      properties: { text: { type: 'string', minLength: 1 }, limit: { type: 'integer', maximum: 10 } },
      required: ['text', 'limit'],
    });
    const before = tasks();
    const error = (await rejection(bridge.call('schema.zod', { text: '', limit: 11 }))) as Error & {
      code?: string;
      issues?: Array<{ path: string; message: string }>;
    };
    expect(error.code).toBe('INVALID_ARGS');
    expect(error.issues).toEqual(
      expect.arrayContaining([
        { path: 'args.text', message: 'must NOT have fewer than 1 characters' },
        { path: 'args.limit', message: 'must be <= 10' },
      ]),
    );
    expect(tasks()).toBe(before);
    // A type JSON Schema cannot say (a typed array) is left to the tool.
    expect(await bridge.call('schema.zod', { text: 'a', limit: 2, weights: new Float32Array(2) })).toEqual({
      text: 'a',
      limit: 2,
      weights: 'Float32Array',
    });
    const noConverter = { '~standard': { vendor: 'valibot', version: 1, validate: () => ({ value: 1 }) } };
    expect(() => defineTool({ name: 'bad.standard', run: () => 0, inputSchema: noConverter as never })).toThrow(
      /cannot convert itself to JSON Schema/,
    );
  });

  test('a draft 2020-12 schema is checked as 2020-12', async () => {
    expect(await bridge.call('schema.pair', { pair: ['a', 1] })).toEqual(['a', 1]);
    const error = await rejection(bridge.call('schema.pair', { pair: [1, 'a', 3] }));
    expect(error.code).toBe('INVALID_ARGS');
    expect(error.message).toContain('args.pair[0]: must be string');
  });

  test('defineTool refuses a schema that is not plain JSON, and bad annotations', () => {
    const bad = [
      { inputSchema: 'object' },
      { inputSchema: [] },
      { inputSchema: { type: 'object', default: 1n } },
      { outputSchema: 5 },
      { annotations: { readOnlyHint: 'yes' } },
      { annotations: { sideEffects: true } },
    ];
    for (const extra of bad) {
      expect(() => defineTool({ name: 'bad.schema', run: () => 0, ...(extra as object) })).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTIONS' }),
      );
    }
  });

  test('batches check each call: a bad one fails alone with its issues, the others run', async () => {
    const entries = await bridge.batch([
      { tool: 'schema.search', args: { query: [1, 2, 3, 4], k: 1 } },
      { tool: 'schema.search', args: { query: [1], k: 1 } },
      { tool: 'schema.search', args: { query: new Float32Array(4), k: 2 } },
    ]);
    expect(entries[0]).toEqual({ ok: true, value: { type: 'Float32Array', length: 4, k: 1 } });
    expect(entries[1]!.ok).toBe(false);
    const error = (entries[1] as unknown as { error: { code: string; issues: Array<{ path: string }> } }).error;
    expect(error.code).toBe('INVALID_ARGS');
    expect(error.issues.map((i) => i.path)).toEqual(['args.query']);
    expect(entries[2]).toEqual({ ok: true, value: { type: 'Float32Array', length: 4, k: 2 } });
  });

  test("a JSON array is converted in the args the tool gets, not in the caller's object", async () => {
    const args = { query: [1, 2, 3, 4], k: 1 };
    await bridge.call('schema.search', args);
    expect(Array.isArray(args.query)).toBe(true);
  });
});

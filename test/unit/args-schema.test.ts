/**
 * The caller-side schema checks. Built-in tools' schemas skip ajv's meta-schema check (it costs ~30 ms on a
 * bridge's first call): these tests hold them to it instead, and show a tool module's schema still gets it.
 */
import { Ajv } from 'ajv';
import { describe, expect, test } from 'vitest';
import { ArgsSchemas } from '../../src/schema/args-schema.js';
import { builtinTools } from '../../workers/tools/index.js';

describe('input schemas', () => {
  test('every built-in schema is a valid draft-07 schema', () => {
    const ajv = new Ajv({ strict: false });
    const withSchemas = builtinTools.filter((tool) => tool.inputSchema !== undefined);
    expect(withSchemas.length).toBeGreaterThanOrEqual(5);
    for (const tool of withSchemas) {
      expect(ajv.validateSchema(tool.inputSchema!), `${tool.name}: ${ajv.errorsText()}`).toBe(true);
      if (tool.outputSchema) expect(ajv.validateSchema(tool.outputSchema), tool.name).toBe(true);
    }
  });

  test("a tool module's invalid schema is refused; the same schema marked built-in is not meta-checked", () => {
    const schemas = new ArgsSchemas();
    const bad = { type: 'object', properties: { a: { minimum: 'one' } } };
    expect(() => schemas.check('user.tool', '1', bad, { a: 1 })).toThrow(/schema is invalid|must be number/);
    // Without the meta-schema only ajv's own keyword check catches it, with a rougher message: only the
    // package's own schemas (tested above) go this way.
    expect(() => new ArgsSchemas().check('builtin.tool', '1', bad, { a: 1 }, true)).toThrow(/^minimum value must be/);
  });

  test('built-in and module schemas check args the same way', () => {
    const schema = {
      type: 'object',
      properties: { x: { type: 'array', 'x-typedArray': 'Float64Array', minItems: 2 }, k: { type: 'number' } },
      required: ['x', 'k'],
    };
    for (const builtin of [false, true]) {
      const schemas = new ArgsSchemas();
      const checked = schemas.check('t', '1', schema, { x: [1, 2, 3], k: 2 }, builtin) as { x: Float64Array };
      expect(checked.x).toBeInstanceOf(Float64Array);
      expect(() => schemas.check('t', '1', schema, { x: [1], k: 'a' }, builtin)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGS', issues: expect.arrayContaining([expect.anything()]) }),
      );
    }
  });
});

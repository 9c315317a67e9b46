/**
 * Checks a call's args against its tool's `inputSchema` on the caller's thread, before any worker is used:
 * ajv (all errors, one compiled validator per tool), with two keywords of toolbridge's own:
 *
 * - `'x-typedArray': 'Float32Array'` (or a list of names) on an array schema: the value may be that typed
 *   array, or a JSON array of numbers, converted to it once (the first name) in the args the tool gets.
 *   `minItems` and `maxItems` apply to either.
 * - `'x-arrowTable': true`: the value is an Arrow table (any installed copy of apache-arrow).
 */
import AjvModule, { type ErrorObject, type ValidateFunction } from 'ajv';
import Ajv2020Module from 'ajv/dist/2020.js';

/** ajv is CommonJS: its class is the module's `default` export under Node's ESM interop. */
type AjvClass = typeof AjvModule.default;
import { looksLikeTable } from '../codec/arrow-table.js';
import { InvalidArgsError } from '../errors.js';
import { BUILTIN_MODULE } from '../runtime-protocol.js';
import type { JsonSchema, ToolInfo } from '../tool/define.js';

import type { ArgsIssue } from '../errors.js';

const TYPED_ARRAYS: Record<string, new (values: ArrayLike<number>) => ArrayLike<number>> = {
  Float64Array,
  Float32Array,
  Int32Array,
  Uint32Array,
  Int16Array,
  Uint16Array,
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
};

const classOf = (module: unknown): AjvClass => (module as { default?: AjvClass }).default ?? (module as AjvClass);
/** Draft-07 (ajv's default), and draft 2020-12 for a schema whose `$schema` names it. */
const Ajv: AjvClass = classOf(AjvModule);
const Ajv2020: AjvClass = classOf(Ajv2020Module);

/**
 * `checked`: the schemas it compiles are first checked against the JSON Schema meta-schema, which ajv
 * compiles on first use (~30 ms here). The built-in tools' schemas are the package's own, checked by its tests:
 * they skip that step, so a bridge of built-in tools alone never pays for it.
 */
function newAjv(Class: AjvClass, checked = true) {
  const ajv = new Class({ allErrors: true, strict: false, validateSchema: checked });
  ajv.addKeyword({
    keyword: 'x-typedArray',
    modifying: true,
    schemaType: ['string', 'array'],
    validate: function typedArray(
      this: unknown,
      names: string | string[],
      data: unknown,
      parentSchema?: { minItems?: number; maxItems?: number },
      context?: { parentData: Record<string | number, unknown>; parentDataProperty: string | number },
    ): boolean {
      const allowed = (Array.isArray(names) ? names : [names]).filter((name) => name in TYPED_ARRAYS);
      const fail = (message: string) => {
        (typedArray as unknown as { errors: Array<Partial<ErrorObject>> }).errors = [
          { keyword: 'x-typedArray', message, params: {} },
        ];
        return false;
      };
      let length: number;
      if (ArrayBuffer.isView(data) && allowed.includes(data.constructor.name)) {
        length = (data as unknown as ArrayLike<number>).length;
      } else if (Array.isArray(data) && data.every((v) => typeof v === 'number')) {
        length = data.length;
        // Converted once, in place in the args the tool will get.
        if (context?.parentData !== undefined) {
          context.parentData[context.parentDataProperty] = new TYPED_ARRAYS[allowed[0] ?? 'Float64Array']!(data);
        }
      } else {
        return fail(`must be a ${allowed.join(' or ')} or an array of numbers`);
      }
      if (parentSchema?.minItems !== undefined && length < parentSchema.minItems) {
        return fail(`must NOT have fewer than ${parentSchema.minItems} items`);
      }
      if (parentSchema?.maxItems !== undefined && length > parentSchema.maxItems) {
        return fail(`must NOT have more than ${parentSchema.maxItems} items`);
      }
      return true;
    },
  });
  ajv.addKeyword({
    keyword: 'x-arrowTable',
    schemaType: 'boolean',
    validate: function arrowTable(this: unknown, wanted: boolean, data: unknown): boolean {
      if (!wanted || (typeof data === 'object' && data !== null && looksLikeTable(data))) return true;
      (arrowTable as unknown as { errors: Array<Partial<ErrorObject>> }).errors = [
        { keyword: 'x-arrowTable', message: 'must be an Arrow table', params: {} },
      ];
      return false;
    },
  });
  return ajv;
}

/**
 * An array schema with `x-typedArray` keeps `type`, `items` and the item counts for listings, but they would
 * reject a typed array: the keyword checks those itself. This copy drops them where it appears.
 */
function forTypedArrays(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(forTypedArrays);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  const typed = 'x-typedArray' in schema;
  for (const [key, value] of Object.entries(schema)) {
    if (typed && (key === 'type' || key === 'items' || key === 'minItems' || key === 'maxItems')) continue;
    out[key] = key === 'x-typedArray' || key === 'x-arrowTable' ? value : forTypedArrays(value);
  }
  // The keyword reads the bounds from its parent schema: keep them where it can see them.
  if (typed) {
    const { minItems, maxItems } = schema as { minItems?: number; maxItems?: number };
    return Object.assign(out, minItems !== undefined ? { minItems } : {}, maxItems !== undefined ? { maxItems } : {});
  }
  return out;
}

/** `/items/2/x` -> `args.items[2].x`. */
function pathOf(error: ErrorObject): string {
  let path = 'args';
  for (const part of error.instancePath.split('/').slice(1)) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    path += /^\d+$/.test(key) ? `[${key}]` : /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
  }
  if (error.keyword === 'required')
    path += `.${String((error.params as { missingProperty?: string }).missingProperty)}`;
  return path;
}

/**
 * The validator of the tool modules' schemas made ahead of need ({@link warmSchemas}), for the next
 * {@link ArgsSchemas} to take: one that checks schemas against the meta-schema takes ~35-45 ms to make here,
 * which the first call of a tool with a schema would otherwise wait for.
 */
let spare: ReturnType<typeof newAjv> | undefined;

/**
 * The built-in tools' validators, made once in the process and kept, by the schema's JSON text: their
 * schemas are the package's own, the same for every bridge, so a bridge's first call of a built-in tool
 * compiles nothing that an earlier bridge compiled (~1-3 ms a schema here). Tool modules' schemas are
 * compiled per bridge: two bridges may load different schemas under one `$id`.
 */
let builtinAjv: ReturnType<typeof newAjv> | undefined;
const builtinValidators = new Map<string, ValidateFunction>();

function builtinValidator(schema: JsonSchema): ValidateFunction {
  const text = JSON.stringify(schema);
  let validate = builtinValidators.get(text);
  if (validate === undefined) {
    validate = (builtinAjv ??= newAjv(Ajv, false)).compile(forTypedArrays(schema) as JsonSchema) as ValidateFunction;
    builtinValidators.set(text, validate);
  }
  return validate;
}

/**
 * Makes validators now, for the next bridge's first schema checks: the built-in tools' ajv, and with
 * `userSchemas` one that checks the tool modules' schemas too. `createBridge` calls it while its workers
 * start, when the main thread would otherwise wait for them.
 */
export function warmSchemas(userSchemas: boolean): void {
  if (builtinAjv === undefined) {
    builtinAjv = newAjv(Ajv, false);
    // A schema of the usual shape, so that the code generating validators has run once (the first real
    // schema then compiles in a fraction of the time), and checked once.
    builtinAjv.compile(forTypedArrays(WARM_SCHEMA) as JsonSchema)(WARM_ARGS);
  }
  if (userSchemas && spare === undefined) {
    spare = newAjv(Ajv);
    spare.compile({ type: 'object' });
  }
}

const WARM_SCHEMA = {
  type: 'object',
  properties: {
    x: { type: 'array', items: { type: 'number' }, 'x-typedArray': ['Float64Array', 'Float32Array'] },
    k: { type: 'integer', minimum: 1 },
    mode: { enum: ['a', 'b'] },
    table: { 'x-arrowTable': true },
  },
  required: ['x', 'k'],
};
const WARM_ARGS = { x: new Float64Array(4), k: 2, mode: 'a' };

function takeSpare(): ReturnType<typeof newAjv> | undefined {
  const taken = spare;
  spare = undefined;
  return taken;
}

/** Checks (and converts, for `x-typedArray`) the args of one tool's calls. */
export class ArgsSchemas {
  #ajv: ReturnType<typeof newAjv> | undefined;
  #ajv2020: ReturnType<typeof newAjv> | undefined;
  readonly #validators = new Map<string, ValidateFunction>();

  /**
   * The args of a call of `info`'s tool checked against its input schema (which it must have), or against
   * `schema` made from it; a built-in tool's schema skips the meta-schema.
   */
  checkTool(info: ToolInfo, args: unknown, schema: JsonSchema = info.inputSchema!): unknown {
    return this.check(info.name, info.version, schema, args, info.module === BUILTIN_MODULE);
  }

  /**
   * The args checked (JSON arrays converted in place); throws `INVALID_ARGS` with every issue. `builtin`: the
   * schema is a built-in tool's (draft-07, not checked against the meta-schema).
   */
  check(tool: string, version: string, schema: JsonSchema, args: unknown, builtin = false): unknown {
    const key = `${tool}@${version}`;
    let validate = this.#validators.get(key);
    if (validate === undefined) {
      if (builtin) {
        validate = builtinValidator(schema);
      } else {
        const draft2020 = typeof schema.$schema === 'string' && schema.$schema.includes('2020-12');
        const ajv = draft2020 ? (this.#ajv2020 ??= newAjv(Ajv2020)) : (this.#ajv ??= takeSpare() ?? newAjv(Ajv));
        validate = ajv.compile(forTypedArrays(schema) as JsonSchema) as ValidateFunction;
      }
      this.#validators.set(key, validate);
    }
    // Conversions (x-typedArray) go into a copy of the top-level object, not the caller's own.
    const target =
      args !== null && typeof args === 'object' && Object.getPrototypeOf(args) === Object.prototype
        ? { ...(args as Record<string, unknown>) }
        : args;
    if (validate(target)) return target;
    const issues: ArgsIssue[] = (validate.errors ?? []).map((error) => ({
      path: pathOf(error),
      message: error.message ?? 'is invalid',
    }));
    throw new InvalidArgsError(`${tool}: ${issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ')}`, {
      path: issues[0]?.path ?? 'args',
      issues,
    });
  }
}

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
import type { JsonSchema } from '../tool/define.js';

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

function newAjv(Class: AjvClass) {
  const ajv = new Class({ allErrors: true, strict: false });
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
 * A draft-07 validator made ahead of need ({@link warmSchemas}), for the next {@link ArgsSchemas} to take:
 * making one (ajv compiles its meta-schema on first use) takes ~35-45 ms here, which the first call of a
 * tool with a schema would otherwise wait for.
 */
let spare: ReturnType<typeof newAjv> | undefined;

/**
 * Makes a validator now, for the next bridge's first schema check. `createBridge` calls it while its
 * workers start, when the main thread would otherwise wait for them.
 */
export function warmSchemas(): void {
  if (spare !== undefined) return;
  spare = newAjv(Ajv);
  spare.compile({ type: 'object' });
}

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

  /** The args checked (JSON arrays converted in place); throws `INVALID_ARGS` with every issue. */
  check(tool: string, version: string, schema: JsonSchema, args: unknown): unknown {
    const key = `${tool}@${version}`;
    let validate = this.#validators.get(key);
    if (validate === undefined) {
      const draft2020 = typeof schema.$schema === 'string' && schema.$schema.includes('2020-12');
      const ajv = draft2020 ? (this.#ajv2020 ??= newAjv(Ajv2020)) : (this.#ajv ??= takeSpare() ?? newAjv(Ajv));
      validate = ajv.compile(forTypedArrays(schema) as JsonSchema) as ValidateFunction;
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

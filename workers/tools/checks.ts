import { InvalidArgsError, describeValue } from '../../src/errors.js';

export type FloatArray = Float32Array | Float64Array;

/** Throws `INVALID_ARGS` for `tool`, naming the argument. */
export function invalid(tool: string, arg: string, message: string): never {
  throw new InvalidArgsError(`${tool}: ${arg} ${message}`, { path: `args.${arg}` });
}

export function record(tool: string, args: unknown): Record<string, unknown> {
  if (typeof args !== 'object' || args === null) {
    throw new InvalidArgsError(`${tool}: args must be an object, got ${describeValue(args)}`, { path: 'args' });
  }
  return args as Record<string, unknown>;
}

export function floatArray(tool: string, arg: string, value: unknown): FloatArray {
  if (value instanceof Float64Array || value instanceof Float32Array) return value;
  return invalid(tool, arg, `must be a Float32Array or a Float64Array, got ${describeValue(value)}`);
}

export function positiveInteger(tool: string, arg: string, value: unknown): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  return invalid(tool, arg, `must be a positive integer, got ${describeValue(value)}`);
}

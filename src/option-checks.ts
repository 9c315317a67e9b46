/** The checks `resolveOptions` applies to single option values: each throws INVALID_OPTIONS quoting the value. */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidOptionsError, describeValue } from './errors.js';

export function checkInteger(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    const what = min === 0 ? 'a non-negative integer' : 'a positive integer';
    throw new InvalidOptionsError(`options.${name} must be ${what}, got ${describeValue(value)}`);
  }
  return value;
}

/** A positive number, or Infinity for no limit. */
export function checkLimit(name: string, value: unknown): number {
  if (typeof value !== 'number' || !(value > 0)) {
    throw new InvalidOptionsError(`options.${name} must be a positive number or Infinity, got ${describeValue(value)}`);
  }
  return value;
}

/** A time limit: a positive number of milliseconds, or Infinity for none. */
export function checkTimeout(name: string, value: unknown): number {
  if (typeof value !== 'number' || !(value > 0)) {
    throw new InvalidOptionsError(
      `${name} must be a positive number of milliseconds or Infinity, got ${describeValue(value)}`,
    );
  }
  return value;
}

export function toModuleUrl(entry: unknown, index: number): string {
  if (entry instanceof URL) return entry.href;
  if (typeof entry === 'string' && entry !== '') {
    if (/^(file|data):/.test(entry)) return entry;
    return pathToFileURL(resolve(entry)).href;
  }
  throw new InvalidOptionsError(`options.tools[${index}] must be a URL or a file path, got ${describeValue(entry)}`);
}

export function checkObject(name: string, value: unknown): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidOptionsError(`${name} must be an object, got ${describeValue(value)}`);
  }
}

export function checkMaxArgBytes(value: unknown): number {
  if (value === Infinity) return value;
  return checkInteger('cache.maxArgBytes', value, 0);
}

export function checkMaxQueue(name: string, value: unknown): number {
  if (value === Infinity) return value;
  return checkInteger(name, value, 0);
}

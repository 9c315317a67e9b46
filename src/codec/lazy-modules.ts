/**
 * apache-arrow and msgpackr, loaded on first need. A worker that never sees a table or a MessagePack payload
 * never pays for importing them (apache-arrow alone takes ~150 ms to import), and neither does a tool module
 * that imports `toolbridge/tool`.
 *
 * Code that needs one of them synchronously calls {@link arrow} or {@link packr}; when the module is not
 * loaded yet these throw {@link ModuleNeeded}, and {@link withModules} loads it and runs the code again.
 */
import type * as Arrow from 'apache-arrow';
import type { Packr } from 'msgpackr';

type ArrowModule = typeof Arrow;

let arrowModule: ArrowModule | undefined;
/** msgpackr in structured-clone mode (keeps identity; decodes both), and without it (much faster). */
let packrs: { clone: Packr; records: Packr } | undefined;

/** Thrown (never to the user) by code that needs a module not yet loaded. */
export class ModuleNeeded {
  constructor(readonly load: () => Promise<unknown>) {}
}

async function loadArrow(): Promise<ArrowModule> {
  return (arrowModule ??= await import('apache-arrow'));
}

async function loadPackr(): Promise<unknown> {
  const { Packr } = await import('msgpackr');
  // Both keep Maps, Sets, Dates, RegExps, Errors, typed arrays and undefined; structured-clone mode also
  // keeps cycles and shared references, at ~6x the packing cost of a record (its identity map).
  return (packrs ??= {
    clone: new Packr({ structuredClone: true, moreTypes: true, useRecords: true }),
    records: new Packr({ moreTypes: true, useRecords: true }),
  });
}

const NEED_ARROW = new ModuleNeeded(loadArrow);
const NEED_PACKR = new ModuleNeeded(loadPackr);

/** The apache-arrow module, or throws {@link ModuleNeeded}. */
export function arrow(): ArrowModule {
  if (arrowModule === undefined) throw NEED_ARROW;
  return arrowModule;
}

/** apache-arrow if this thread has loaded it through toolbridge, else `undefined`. */
export const loadedArrow = (): ArrowModule | undefined => arrowModule;

/**
 * The MessagePack codec, or throws {@link ModuleNeeded}: in structured-clone mode if `keepIdentity`
 * (the one to unpack with: it reads both).
 */
export function packr(keepIdentity = true): Packr {
  if (packrs === undefined) throw NEED_PACKR;
  return keepIdentity ? packrs.clone : packrs.records;
}

/**
 * Runs `fn`; if it needs a module not loaded yet, loads it and runs `fn` again (so `fn` must have no effect
 * before it asks for a module). Synchronous whenever the modules are already there.
 */
export function withModules<T>(fn: () => T): T | Promise<T> {
  try {
    return fn();
  } catch (error) {
    if (!(error instanceof ModuleNeeded)) throw error;
    return error.load().then(() => withModules(fn));
  }
}

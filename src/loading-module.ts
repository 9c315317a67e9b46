/**
 * Which tool module a toolbridge worker is importing, if any: a process-wide mark (a global symbol, so that
 * two copies of the package see the same one). `createBridge` reads it to refuse starting a bridge from
 * inside a tool module, and leaves its refusal there, so that the worker fails the module even when the
 * module caught the error.
 */
const LOADING: unique symbol = Symbol.for('toolbridge.loadingModule') as never;

interface Mark {
  module: string;
  refusal?: string;
}

type Marked = typeof globalThis & { [LOADING]?: Mark };

/** Marks the start (a module URL) or the end (`undefined`) of a tool module's import. */
export function setLoadingModule(module: string | undefined): void {
  (globalThis as Marked)[LOADING] = module === undefined ? undefined : { module };
}

/** The tool module being imported in this thread, if any. */
export function loadingModule(): string | undefined {
  return (globalThis as Marked)[LOADING]?.module;
}

/** Records why something the module did during its import was refused. */
export function refuseWhileLoading(reason: string): void {
  const mark = (globalThis as Marked)[LOADING];
  if (mark) mark.refusal ??= reason;
}

/** What was refused during the current import, if anything. */
export function loadingRefusal(): string | undefined {
  return (globalThis as Marked)[LOADING]?.refusal;
}

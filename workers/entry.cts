/**
 * The file Piscina starts in every worker: it loads the runtime bundle and hands Piscina a promise of the
 * runtime's task handler (settled once the tool modules have loaded), which Piscina awaits once and caches,
 * so no call pays for the indirection. A CommonJS file, so that Piscina's `require()` of its worker file
 * (tried before `import()`) finds it: on Node versions where `require()` loads ES modules, requiring an ES
 * module runtime with top-level await was seen to abort the whole process with a V8 fatal error
 * (`v8::Module::IsGraphAsync must be used on an instantiated module`).
 *
 * The bundle (one CommonJS file that `npm run build` makes of runtime.js, see scripts/bundle-runtime.mjs) is
 * compiled with V8's code cache. A worker that finds no cache that fits compiles it, runs its first call, then
 * writes what V8 has compiled by then (the bundle's top level and the functions a call runs); the workers
 * started after it, in this process and the next ones, skip that parsing and compiling (~2 ms of a worker's
 * start and ~1 ms of its first call here). The cache is kept in `bundle/.code-cache/` beside the bundle, so it
 * is trusted as the package's own code is, or in the folder `TOOLBRIDGE_CODE_CACHE` names;
 * `TOOLBRIDGE_CODE_CACHE=0` turns it off. Its file name holds the bundle's content hash, Node's version, the
 * architecture and the worker's Node flags (and NODE_OPTIONS), so a cache made for anything else is never
 * read, and V8 refuses one that does not fit (the worker then writes it again). Where the folder cannot be
 * written, workers compile the bundle each time. With source maps on (`--enable-source-maps`), workers
 * `require()` the bundle, so that Node maps its stack traces.
 */
import fs = require('node:fs');
import Module = require('node:module');
import path = require('node:path');
import url = require('node:url');
import vm = require('node:vm');
import workerThreads = require('node:worker_threads');

type Handler = (task: unknown) => unknown;

const bundle = path.join(__dirname, 'bundle');
const file = path.join(bundle, 'runtime.cjs');

/**
 * The bundle's `import()` where it runs as a script compiled here: a `vm.Script`'s own `import()` needs an
 * experimental option on Node 20 (which warns), and failed even so once compiled from a code cache. The
 * build renames the bundle's `import(` to `__load(`, which is this function when the module hands it over,
 * the bundle's own `import()` otherwise. Its relative specifiers are the bundle's lazy parts, beside it.
 */
function load(specifier: string): Promise<unknown> {
  return import(specifier.startsWith('./') ? url.pathToFileURL(path.join(bundle, specifier)).href : specifier);
}

/** A short hash of a string (FNV-1a, 32 bits, hex): enough to tell sets of flags apart in a file name. */
function shortHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16);
}

/** The cache file for this bundle, Node and flags, or undefined when the cache is off. */
function cacheFile(): string | undefined {
  const setting = process.env.TOOLBRIDGE_CODE_CACHE;
  if (setting === '0') return undefined;
  let key: string;
  try {
    key = fs.readFileSync(path.join(bundle, 'runtime.key'), 'latin1').trim();
  } catch {
    return undefined;
  }
  const folder = setting ? path.resolve(setting) : path.join(bundle, '.code-cache');
  // A folder that cannot be written (nor made), as in a read-only install: no cache, and no worker pays for
  // making one it could not keep.
  if (!writable(folder)) return undefined;
  const flags = shortHash(`${process.execArgv.join(' ')}\n${process.env.NODE_OPTIONS ?? ''}`);
  return path.join(folder, `runtime-${key}-${process.version}-${process.arch}-${flags}.bin`);
}

/** Whether `folder` can be written, or made where its nearest existing parent can be written. */
function writable(folder: string): boolean {
  for (let at = folder; ; at = path.dirname(at)) {
    try {
      if (!fs.statSync(at).isDirectory()) return false;
      fs.accessSync(at, fs.constants.W_OK);
      return true;
    } catch (error) {
      const parent = path.dirname(at);
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || parent === at) return false;
    }
  }
}

/** Writes the compiled code of `script` to `cache` (through a file of its own, renamed: readers see all or nothing). */
function writeCache(script: vm.Script, cache: string): void {
  const temporary = `${cache}.${process.pid}-${workerThreads.threadId}.tmp`;
  try {
    fs.mkdirSync(path.dirname(cache), { recursive: true });
    fs.writeFileSync(temporary, script.createCachedData());
    fs.renameSync(temporary, cache);
  } catch {
    // A folder that cannot be written (a read-only install, say): workers compile the bundle each time.
    fs.rmSync(temporary, { force: true });
  }
}

/** Runs the bundle as `require()` would, compiled with (or for) the code cache `cache`. */
function compile(cache: string): { started: Promise<Handler>; script: vm.Script; cached: boolean } {
  let cachedData: Buffer | undefined;
  try {
    cachedData = fs.readFileSync(cache);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(
    Module.wrap(fs.readFileSync(file, 'utf8')),
    cachedData === undefined ? { filename: file } : { filename: file, cachedData },
  );
  const module = new Module(file);
  module.filename = file;
  (module as unknown as Record<symbol, unknown>)[Symbol.for('toolbridge.load')] = load;
  const run = script.runInThisContext() as (...args: unknown[]) => void;
  run.call(module.exports, module.exports, Module.createRequire(file), module, file, bundle);
  module.loaded = true;
  const { started } = module.exports as { started: Promise<Handler> };
  return { started, script, cached: cachedData !== undefined && !script.cachedDataRejected };
}

/** Loads the bundle; resolves with its task handler once the tool modules have loaded. */
function start(): Promise<Handler> {
  // With source maps on (`--enable-source-maps`), `require()`, which has Node apply the bundle's.
  const cache = process.sourceMapsEnabled === true ? undefined : cacheFile();
  if (cache === undefined) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(file) as { started: Promise<Handler> }).started;
  }
  const { started, script, cached } = compile(cache);
  if (cached) return started;
  // No cache that fits: one is written when the first call has run (and before its reply goes: a worker may
  // be stopped as soon as the caller has it), so that it holds what a call compiles. This worker pays it once.
  return started.then((handle) => {
    let first = true;
    return (task: unknown) => {
      const out = handle(task);
      if (!first) return out;
      first = false;
      if (!(out instanceof Promise)) {
        writeCache(script, cache);
        return out;
      }
      return out.finally(() => writeCache(script, cache));
    };
  });
}

const handler: Promise<Handler> = start();
export = handler;

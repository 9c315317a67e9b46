/**
 * The file Piscina starts in every worker. Piscina tries `require()` on its worker file before `import()`:
 * on Node versions where `require()` loads ES modules, requiring the runtime (an ES module with top-level
 * await) fails, and has been seen to abort the whole process with a V8 fatal error
 * (`v8::Module::IsGraphAsync must be used on an instantiated module`). This CommonJS file is what
 * `require()` finds instead: it hands Piscina a promise of the runtime's task handler, which Piscina awaits
 * once and caches, so no call pays for the indirection.
 */
// The bundle `npm run build` makes of runtime.js (scripts/bundle-runtime.mjs): one CommonJS file to load,
// not ~30 ES modules. `started` settles with the task handler once the tool modules have loaded.
const runtime = './bundle/runtime.cjs';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const handler: Promise<unknown> = (require(runtime) as { started: Promise<unknown> }).started;
export = handler;

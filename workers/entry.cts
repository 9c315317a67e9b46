/**
 * The file Piscina starts in every worker: it requires the runtime bundle and hands Piscina a promise of the
 * runtime's task handler (settled once the tool modules have loaded), which Piscina awaits once and caches,
 * so no call pays for the indirection. A CommonJS file, so that Piscina's `require()` of its worker file
 * (tried before `import()`) finds it: on Node versions where `require()` loads ES modules, requiring an ES
 * module runtime with top-level await was seen to abort the whole process with a V8 fatal error
 * (`v8::Module::IsGraphAsync must be used on an instantiated module`).
 */
// The bundle `npm run build` makes of runtime.js (scripts/bundle-runtime.mjs): one CommonJS file to load,
// not ~30 ES modules. `started` settles with the task handler once the tool modules have loaded.
const runtime = './bundle/runtime.cjs';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const handler: Promise<unknown> = (require(runtime) as { started: Promise<unknown> }).started;
export = handler;

/**
 * The layer rules of toolbridge (README, "Design"), checked by `npm run lint`.
 * Type-only imports are allowed across layers (they vanish at run time); a dynamic import() is how a module
 * loads a heavy dependency on first need, so it does not count as loading it.
 */
const RUN_TIME = { dependencyTypesNot: ['type-only'] };
const MAIN_THREAD =
  '^src/(bridge|create-bridge|options|otel|index)\\.ts$|^src/(call|dispatch|batch|cache|registry|dashboard|schema)/|^src/session/(client|sessions)\\.ts$';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules must not import each other in a cycle.',
      from: {},
      to: { circular: true, ...RUN_TIME },
    },
    {
      name: 'codec-knows-no-dispatch',
      severity: 'error',
      comment: 'The codec turns values into messages; it knows nothing of who carries them.',
      from: { path: '^src/codec/' },
      to: { path: '^src/(pool|dispatch|call|batch)/' },
    },
    {
      name: 'telemetry-is-a-sink',
      severity: 'error',
      comment: 'Telemetry records what it is told; it imports nothing of the pool, the dispatch or the codec.',
      from: { path: '^src/telemetry/' },
      to: { path: '^src/(pool|dispatch|codec|call)/' },
    },
    {
      name: 'dispatch-knows-no-tools',
      severity: 'error',
      comment: 'The Dispatcher seam carries encoded messages; tool definitions and calls are above it.',
      from: { path: '^src/dispatch/dispatcher\\.ts$' },
      to: { path: '^src/(tool|registry|call|batch|cache)/', ...RUN_TIME },
    },
    {
      name: 'workers-import-no-main-thread-module',
      severity: 'error',
      comment: 'The worker runtime and the built-in tools run in workers: no bridge, pool or main-thread part.',
      from: { path: '^workers/' },
      to: { path: `${MAIN_THREAD}|^src/telemetry/`, ...RUN_TIME },
    },
    {
      name: 'tool-entry-is-worker-safe',
      severity: 'error',
      comment: 'toolbridge/tool is imported by tool modules in every worker: no main-thread module.',
      from: { path: '^src/tool/' },
      to: { path: `${MAIN_THREAD}|^src/telemetry/`, ...RUN_TIME },
    },
    {
      name: 'core-knows-no-nats',
      severity: 'error',
      comment: 'toolbridge/nats is an optional subpath over the core: nothing else imports it.',
      from: { pathNot: '^src/nats/' },
      to: { path: '^src/nats/' },
    },
    {
      name: 'nats-client-only-in-toolbridge-nats',
      severity: 'error',
      comment: 'The NATS client is an optional peer dependency: only toolbridge/nats loads it.',
      from: { pathNot: '^src/nats/' },
      to: { path: 'node_modules/@nats-io/' },
    },
    {
      name: 'core-knows-no-mcp',
      severity: 'error',
      comment: 'toolbridge/mcp is an optional subpath over the core: only the command line imports it.',
      from: { pathNot: '^src/(mcp/|cli\\.ts$)' },
      to: { path: '^src/mcp/' },
    },
    {
      name: 'mcp-sdk-only-in-toolbridge-mcp',
      severity: 'error',
      comment: 'The MCP SDK is an optional peer dependency: only toolbridge/mcp and the command line load it.',
      from: { pathNot: '^src/(mcp/|cli\\.ts$)' },
      to: { path: 'node_modules/@modelcontextprotocol/' },
    },
    {
      name: 'ai-sdk-only-in-toolbridge-ai',
      severity: 'error',
      comment: 'The AI SDK is an optional peer dependency: only toolbridge/ai loads it, and nothing imports that.',
      from: { pathNot: '^src/ai/' },
      to: { path: '^src/ai/|node_modules/(ai|@ai-sdk)/' },
    },
    {
      name: 'worker-side-loads-no-heavy-package',
      severity: 'error',
      comment:
        'What workers and tool modules load at start-up imports neither Piscina, nor apache-arrow, nor msgpackr ' +
        '(apache-arrow and msgpackr load with import() on first need: see src/codec/lazy-modules.ts).',
      from: {
        path: '^src/(tool|codec|memory)/|^src/session/port\\.ts$|^src/(errors|known-keys|runtime-protocol|loading-module)\\.ts$|^workers/(runtime|call-context|chunk|reply|session-host|tools/(index|vector|matrix|frame|checks))\\.ts$',
      },
      to: {
        path: 'node_modules/(piscina|apache-arrow|msgpackr)/',
        dependencyTypesNot: ['type-only', 'dynamic-import'],
      },
    },
    {
      name: 'runtime-loads-comlink-on-first-session',
      severity: 'error',
      comment: 'The worker runtime loads comlink (through workers/session-host.ts) with import() when a session opens.',
      from: { path: '^workers/(runtime|call-context|chunk|reply)\\.ts$|^workers/tools/' },
      to: {
        path: 'node_modules/comlink/|^src/session/port\\.ts$',
        dependencyTypesNot: ['type-only', 'dynamic-import'],
      },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
  },
};

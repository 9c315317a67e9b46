export {
  createBridge,
  type Bridge,
  type BridgeEvents,
  type CallOptions,
  type CloseOptions,
  type SlowCallEvent,
} from './bridge.js';
export type { CallTiming } from './call/transport.js';
export type { CodecCounts } from './telemetry/events.js';
export type { BatchCall, BatchEntry, BatchOptions, BatchProgress, StreamEntry } from './batch/batch-executor.js';
export type { BridgeOptions, MemoryOptions, PoolOptions, TelemetryOptions } from './options.js';
export type { ExitReason, RecycleEvent, RecycleReason, WorkerExitEvent, WorkerStats } from './telemetry/events.js';
// What a tool module needs (the same objects as `toolbridge/tool`): defineTool, shared, the error classes.
export * from './tool/index.js';
export type { BridgeStats, HostStats, LatencySummary, PoolStats, ToolStats } from './telemetry/stats.js';
export type { HealthBudgets, HealthReason, HealthReport, HealthStatus } from './telemetry/health.js';
export type { CacheMessage, CallMessage } from './telemetry/channels.js';

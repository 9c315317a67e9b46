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
export {
  defineTool,
  type MicroBatchOptions,
  type ToolContext,
  type ToolDefinition,
  type ToolInfo,
  type ToolSpec,
} from './tool/define.js';
export {
  isShared,
  shared,
  toShared,
  type SharedArray,
  type TypedArray,
  type TypedArrayConstructor,
} from './tool/shared.js';
export type { BridgeStats, LatencySummary, PoolStats, ToolStats } from './telemetry/stats.js';
export type { HealthBudgets, HealthReason, HealthReport, HealthStatus } from './telemetry/health.js';
export type { CacheMessage, CallMessage } from './telemetry/channels.js';
export {
  AbortedError,
  ClosedError,
  DuplicateToolError,
  InvalidArgsError,
  InvalidOptionsError,
  QueueFullError,
  QuotaExceededError,
  TimeoutError,
  ToolBridgeError,
  ToolFailedError,
  ToolLoadError,
  ToolNotFoundError,
  WorkerCrashedError,
  type ErrorCode,
  type QuotaDetail,
} from './errors.js';

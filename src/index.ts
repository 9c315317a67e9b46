export { createBridge } from './create-bridge.js';
export type { Bridge, BridgeEvents, CallOptions, CloseOptions, SlowCallEvent } from './bridge.js';
export type { BroadcastEntry, CallTiming } from './call/transport.js';
export type { BroadcastOptions } from './call/pipeline.js';
export type { Session, SessionControl } from './session/client.js';
export type { OpenOptions } from './session/sessions.js';
export type { CodecCounts } from './telemetry/events.js';
export type { BatchCall, BatchEntry, BatchOptions, BatchProgress, StreamEntry } from './batch/batch-executor.js';
export type { BridgeOptions, MemoryOptions, PoolOptions, TelemetryOptions } from './options.js';
export type { ExitReason, RecycleEvent, RecycleReason, WorkerExitEvent, WorkerStats } from './telemetry/events.js';
// What a tool module needs (the same objects as `toolbridge/tool`): defineTool, shared, the error classes.
export * from './tool/index.js';
export type { LatencySummary } from './telemetry/distribution.js';
export type { BridgeStats, HostStats, PoolStats, SessionStats, ToolStats } from './telemetry/stats.js';
export type { HealthBudgets, HealthReason, HealthReport, HealthStatus } from './telemetry/health.js';
export type { CacheMessage, CallMessage } from './telemetry/channels.js';

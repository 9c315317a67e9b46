/**
 * `toolbridge/tool`: what a tool module needs, and nothing else. Safe to import in a worker: it loads
 * neither Piscina, nor apache-arrow, nor msgpackr, nor any main-thread part of toolbridge.
 */
export {
  defineTool,
  type MicroBatchOptions,
  type SplitSpec,
  type ToolContext,
  type ToolDefinition,
  type ToolInfo,
  type ToolSpec,
  type JsonSchema,
  type StandardJsonSchema,
  type Progress,
  type ToolAnnotations,
} from './define.js';
export {
  defineSession,
  type SessionContext,
  type SessionDefinition,
  type SessionInfo,
  type SessionSpec,
} from './session.js';
export { isShared, shared, toShared, type SharedArray, type TypedArray, type TypedArrayConstructor } from './shared.js';
export {
  AbortedError,
  ClosedError,
  DuplicateToolError,
  InvalidArgsError,
  InvalidOptionsError,
  QueueFullError,
  QuotaExceededError,
  SessionClosedError,
  SessionLostError,
  TimeoutError,
  ToolBridgeError,
  ToolFailedError,
  ToolLoadError,
  ToolNotFoundError,
  UnavailableError,
  WorkerCrashedError,
  type ArgsIssue,
  type ErrorCode,
  type QuotaDetail,
} from '../errors.js';

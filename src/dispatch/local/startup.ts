import { ToolLoadError, type ToolBridgeError } from '../../errors.js';
import type { ToolInfo } from '../../tool/define.js';

/** Start-up failures in a row before the pool waits this long to try again: 100 ms, doubling, at most 10 s. */
const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 10_000;

/**
 * A pool's start-up: the first worker's catalog (or the first failure) settles `discover()`, within its
 * time limit; after that, a worker that cannot load the tools makes the pool back off, doubling the wait,
 * before it starts another, and remembers the failure to tell the calls that no worker can take.
 */
export class Startup {
  #pending: { resolve: (tools: ToolInfo[]) => void; reject: (error: Error) => void } | undefined;
  /** The latest start-up failure, until a worker starts. */
  #failure: ToolBridgeError | undefined;
  #failuresInRow = 0;
  #backoff: NodeJS.Timeout | undefined;

  /**
   * Waits for the first worker: resolves with its catalog, or rejects with its failure, or with
   * `TOOL_LOAD_FAILED` naming what still loads (`loading()`) after `timeoutMs`.
   */
  begin(timeoutMs: number, loading: () => string[]): Promise<ToolInfo[]> {
    return new Promise<ToolInfo[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        const pending = loading();
        const where = pending.length > 0 ? ` (still loading ${pending.join(', ')})` : '';
        const cause = new Error(`workers not ready after ${timeoutMs} ms${where}`);
        this.#pending?.reject(new ToolLoadError(pending[0] ?? 'toolbridge runtime', cause));
      }, timeoutMs);
      const settle = () => {
        clearTimeout(timer);
        this.#pending = undefined;
      };
      this.#pending = {
        resolve: (tools) => (settle(), resolve(tools)),
        reject: (error) => (settle(), reject(error)),
      };
    });
  }

  /** A worker loaded the tools. */
  ready(tools: ToolInfo[]): void {
    this.#failure = undefined;
    this.#failuresInRow = 0;
    this.#pending?.resolve(tools);
  }

  /**
   * A worker could not load the tools: fails `discover()` if it still waits; else remembers the failure and
   * calls `retry` after the back-off (unless one is already set). Returns whether start-up was still waiting.
   */
  failed(error: ToolBridgeError, retry: () => void): boolean {
    if (this.#pending) {
      this.#pending.reject(error);
      return true;
    }
    this.#failure = error;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.#failuresInRow++);
    this.#backoff ??= setTimeout(() => {
      this.#backoff = undefined;
      retry();
    }, delay).unref();
    return false;
  }

  /** While backing off, the pool starts no worker. */
  get backingOff(): boolean {
    return this.#backoff !== undefined;
  }

  /** The failure since the last worker that started, if any. */
  get failure(): ToolBridgeError | undefined {
    return this.#failure;
  }

  /** The start-up failure, as a fresh error for one call. */
  loadError(): ToolBridgeError {
    const failure = this.#failure!;
    return failure instanceof ToolLoadError ? new ToolLoadError(failure.module, failure.cause) : failure;
  }

  stop(): void {
    clearTimeout(this.#backoff);
  }
}

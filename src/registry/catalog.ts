import { ToolNotFoundError } from '../errors.js';
import type { ToolInfo } from '../tool/define.js';

/**
 * Where the tools come from: the local pool learns them from its first worker's tool modules; a remote
 * backend would ask its hosts. Discovery is a step of its own, apart from dispatching calls.
 */
export interface ToolSource {
  /** Starts what is needed and resolves with the tools it offers. */
  discover(): Promise<ToolInfo[]>;
}

/** The registered tools, by name: lookup (`TOOL_NOT_FOUND` before any work) and listing. */
export class ToolCatalog {
  readonly #tools: ReadonlyMap<string, ToolInfo>;

  constructor(tools: readonly ToolInfo[]) {
    this.#tools = new Map(tools.map((tool) => [tool.name, Object.freeze({ ...tool })]));
  }

  /** The tool named `name`, or undefined. */
  get(name: string): ToolInfo | undefined {
    return this.#tools.get(name);
  }

  /** The error for a name no tool has, listing those that exist. */
  notFound(name: unknown): ToolNotFoundError {
    return new ToolNotFoundError(String(name), this.names());
  }

  names(): string[] {
    return [...this.#tools.keys()];
  }

  list(): ToolInfo[] {
    return [...this.#tools.values()];
  }
}

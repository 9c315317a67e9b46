import type { ToolDefinition } from '../../src/tool/define.js';
import { describe, groupby } from './frame.js';
import { multiply } from './matrix.js';
import { dot, topk } from './vector.js';

/** The tools every bridge registers. */
export const builtinTools: readonly ToolDefinition[] = [dot, topk, multiply, describe, groupby] as ToolDefinition[];

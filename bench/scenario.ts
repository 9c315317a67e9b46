import type { Chart } from './charts.js';

/** What every scenario returns: a table to print and the checks against its targets. */
export interface Check {
  criterion: string;
  measured: string;
  target: string;
  pass: boolean;
}

export interface ScenarioResult {
  name: string;
  title: string;
  /** Rows for the printed table and the Markdown report. */
  rows: Array<Record<string, string | number>>;
  checks: Check[];
  notes?: string[];
  /** Charts for the report (rendered to SVG by `npm run bench`). */
  charts?: Chart[];
}

export interface ScenarioOptions {
  /** Smaller sizes and fewer rounds: for the smoke test. */
  tiny: boolean;
  /** More rounds, and the largest codec sizes (`npm run bench:full`); the quick suite keeps every size a target names. */
  full?: boolean;
  threads: number;
}

export type Scenario = (options: ScenarioOptions) => Promise<ScenarioResult>;

export const toolsModule = new URL('./tools.js', import.meta.url);
export const rawWorker = new URL('./workers/raw.js', import.meta.url).href;
/** The same worker for Piscina, through a CommonJS entry (see bench/workers/raw-entry.cts). */
export const rawPiscinaWorker = new URL('./workers/raw-entry.cjs', import.meta.url).href;

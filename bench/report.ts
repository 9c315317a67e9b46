/**
 * Renders benchmark results as Markdown: a header naming the machine and the command, then one section per
 * scenario with its table, its target checks and its notes.
 */
import type { machine } from './harness.js';
import type { ScenarioResult } from './scenario.js';

export interface Report {
  startedAt: string;
  command: string;
  machine: ReturnType<typeof machine>;
  threads: number;
  results: ScenarioResult[];
}

const cell = (value: unknown): string => String(value ?? '').replaceAll('|', '\\|');

function table(rows: ScenarioResult['rows']): string {
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const lines = [`| ${columns.join(' | ')} |`, `| ${columns.map(() => '---').join(' | ')} |`];
  for (const row of rows) lines.push(`| ${columns.map((c) => cell(row[c])).join(' | ')} |`);
  return lines.join('\n');
}

/** The report; charts are linked as `<chartDir><file>.svg`, relative to where the Markdown lands. */
export function renderMarkdown(report: Report, chartDir = ''): string {
  const m = report.machine;
  const packages = Object.entries(m.packages)
    .map(([name, version]) => `${name} ${version}`)
    .join(', ');
  const out = [
    `Produced by \`${report.command}\` on ${report.startedAt.slice(0, 10)}: ${m.cpu}, ${m.cores} cores, ` +
      `${m.memoryGiB} GiB, Node ${m.node} (${m.platform}); ${packages}; ${report.threads} worker threads per pool.`,
  ];
  for (const result of report.results) {
    out.push(`### ${result.name}: ${result.title}`);
    for (const chart of result.charts ?? []) out.push(`![${chart.title}](${chartDir}${chart.file}.svg)`);
    out.push(table(result.rows));
    if (result.checks.length > 0) {
      out.push(
        table(
          result.checks.map((c) => ({
            criterion: c.criterion,
            measured: c.measured,
            target: c.target,
            result: c.pass ? 'pass' : 'FAIL',
          })),
        ),
      );
    }
    for (const note of result.notes ?? []) out.push(`- ${note}`);
  }
  return `${out.join('\n\n')}\n`;
}

const START = '<!-- results:start -->';
const END = '<!-- results:end -->';

/** Replaces the generated part of a Markdown document (between the result markers) with `generated`. */
export function splice(document: string, generated: string): string {
  const start = document.indexOf(START);
  const end = document.indexOf(END);
  if (start < 0 || end < start) return `${document.trimEnd()}\n\n${START}\n${generated}${END}\n`;
  return `${document.slice(0, start + START.length)}\n${generated}${document.slice(end)}`;
}

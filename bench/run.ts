/**
 * `npm run bench [-- --only <scenario>] [-- --tiny] [-- --threads N]`: runs the benchmark scenarios, prints
 * a table and the target checks for each, and writes bench/results/latest.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { writeCharts } from './charts.js';
import { machine } from './harness.js';
import { renderMarkdown, splice } from './report.js';
import type { Scenario, ScenarioResult } from './scenario.js';
import { alloc } from './scenarios/alloc.js';
import { batching } from './scenarios/batching.js';
import { codec } from './scenarios/codec.js';
import { costs } from './scenarios/costs.js';
import { dataframes } from './scenarios/dataframes.js';
import { dispatch } from './scenarios/dispatch.js';
import { frameKernels } from './scenarios/frame-kernels.js';
import { frames } from './scenarios/frames.js';
import { kernels } from './scenarios/kernels.js';
import { load } from './scenarios/load.js';
import { mcp } from './scenarios/mcp.js';
import { nats } from './scenarios/nats.js';
import { chaos, soak, startup } from './scenarios/lifecycle.js';
import { payload } from './scenarios/payload.js';
import { realwork } from './scenarios/realwork.js';
import { scaling } from './scenarios/scaling.js';
import { sessions } from './scenarios/sessions.js';
import { schema } from './scenarios/schema.js';
import { sweep } from './scenarios/sweep.js';
import { telemetry } from './scenarios/telemetry.js';

// The lifecycle scenarios run first: start-up times and the soak's peak RSS are the process's own, not
// what the payload scenarios' large arrays leave for the garbage collector.
export const scenarios: Record<string, Scenario> = {
  startup,
  soak,
  chaos,
  dispatch,
  payload,
  sweep,
  frames,
  dataframes,
  codec,
  batching,
  costs,
  scaling,
  kernels,
  'frame-kernels': frameKernels,
  realwork,
  load,
  nats,
  telemetry,
  schema,
  mcp,
  sessions,
  alloc,
};

export async function runScenarios(names: string[], options: { tiny: boolean; full?: boolean; threads: number }) {
  const results: ScenarioResult[] = [];
  for (const name of names) {
    const scenario = scenarios[name];
    if (!scenario) throw new Error(`Unknown scenario "${name}". Known: ${Object.keys(scenarios).join(', ')}`);
    results.push(await scenario(options));
  }
  return results;
}

function print(result: ScenarioResult): void {
  console.log(`\n## ${result.name}: ${result.title}`);
  console.table(result.rows);
  for (const c of result.checks) {
    console.log(`${c.pass ? 'PASS' : 'FAIL'}  ${c.criterion}: ${c.measured} (target ${c.target})`);
  }
  for (const note of result.notes ?? []) console.log(`note: ${note}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string', multiple: true },
      tiny: { type: 'boolean', default: false },
      /** The whole suite: more rounds and sizes (`npm run bench:full`). */
      full: { type: 'boolean', default: false },
      threads: { type: 'string' },
      out: { type: 'string', default: new URL('../../bench/results/latest.json', import.meta.url).pathname },
      /** Also write the results into BENCHMARKS.md, between its result markers. */
      report: { type: 'boolean', default: false },
    },
  });
  const names = values.only ?? Object.keys(scenarios);
  const threads = values.threads ? Number(values.threads) : Math.min(2, availableParallelism());
  const info = machine();
  console.log(
    `machine: ${info.cpu}, ${info.cores} cores, ${info.memoryGiB} GiB; node ${info.node}; threads ${threads}`,
  );
  const startedAt = new Date().toISOString();
  const results: ScenarioResult[] = [];
  for (const name of names) {
    // Progress on stderr, and a line a minute while a scenario runs, so that a stalled run says where it is.
    const began = performance.now();
    const seconds = () => Math.round((performance.now() - began) / 1000);
    process.stderr.write(`[bench] ${name}: started\n`);
    const ticker = setInterval(() => process.stderr.write(`[bench] ${name}: still running (${seconds()} s)\n`), 60_000);
    ticker.unref();
    try {
      const [result] = await runScenarios([name], { tiny: values.tiny, full: values.full, threads });
      print(result!);
      results.push(result!);
    } finally {
      clearInterval(ticker);
    }
    process.stderr.write(`[bench] ${name}: done in ${seconds()} s\n`);
  }
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const report = { startedAt, command, machine: info, threads, results };
  mkdirSync(new URL('.', `file://${values.out}`), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(values.out.replace(/\.json$/, '.md'), renderMarkdown(report));
  const charts = await writeCharts(
    results.flatMap((r) => r.charts ?? []),
    new URL('.', `file://${values.out}`),
  );
  console.log(`\nwrote ${values.out}, its .md and ${charts.length} charts`);
  if (values.report) {
    const path = new URL('../../BENCHMARKS.md', import.meta.url);
    writeFileSync(path, splice(readFileSync(path, 'utf8'), renderMarkdown(report, 'bench/results/')));
    console.log(`updated ${path.pathname}`);
  }
  if (results.some((r) => r.checks.some((c) => !c.pass))) process.exitCode = 1;
}

if (import.meta.url === `file://${process.argv[1]}`) await main();

/**
 * Charts for the benchmark report: each scenario describes its charts as Vega-Lite specs with the data
 * inline; they are compiled with vega-lite and rendered to SVG by vega, in Node, without a browser.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface Chart {
  /** File name under bench/results/, without the extension. */
  file: string;
  title: string;
  spec: TopLevelSpec;
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Writes each chart as `<dir>/<file>.svg`; returns the paths written. */
export async function writeCharts(charts: readonly Chart[], dir: URL): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const chart of charts) {
    const path = new URL(`${chart.file}.svg`, dir);
    writeFileSync(path, await renderSvg(chart.spec));
    written.push(path.pathname);
  }
  return written;
}

const base = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', width: 480, height: 260 } as const;

/** Grouped horizontal bars: one bar per (category, series) with a log or linear value axis. */
export function bars(
  title: string,
  values: Array<{ category: string; series?: string; value: number }>,
  axis: string,
  log = false,
): TopLevelSpec {
  const grouped = values.some((v) => v.series !== undefined);
  return {
    ...base,
    title,
    data: { values },
    mark: { type: 'bar', tooltip: true },
    encoding: {
      y: { field: 'category', type: 'nominal', title: null, sort: null, axis: { labelLimit: 240 } },
      // symlog, not log: bars start at zero, which a log scale cannot place.
      x: { field: 'value', type: 'quantitative', title: axis, scale: log ? { type: 'symlog' } : {} },
      ...(grouped
        ? { yOffset: { field: 'series' }, color: { field: 'series', title: null, legend: { labelLimit: 320 } } }
        : {}),
    },
  } as TopLevelSpec;
}

/** Lines over a log-log plane: one line per series. */
export function lines(
  title: string,
  values: Array<{ x: number; series: string; value: number }>,
  xTitle: string,
  yTitle: string,
): TopLevelSpec {
  // A log scale cannot place zero: a time too small for the timer to see is drawn at its floor.
  const floor = 1e-4;
  return {
    ...base,
    title,
    data: { values: values.map((v) => ({ ...v, value: Math.max(v.value, floor) })) },
    mark: { type: 'line', point: true, tooltip: true },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: xTitle, scale: { type: 'log' } },
      y: { field: 'value', type: 'quantitative', title: yTitle, scale: { type: 'log' } },
      color: { field: 'series', title: null, legend: { labelLimit: 320, orient: 'bottom', columns: 2 } },
    },
  } as TopLevelSpec;
}

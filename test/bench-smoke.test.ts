// Runs every benchmark scenario at a tiny size, so the suite cannot rot. Targets are not checked here:
// they mean something only at full size, in `npm run bench`.
import { describe, expect, test } from 'vitest';

type Chart = { file: string; title: string; spec: unknown };
type Result = {
  name: string;
  rows: unknown[];
  checks: Array<{ criterion: string; measured: string; pass: boolean }>;
  charts?: Chart[];
};

// The compiled suite, as `npm run bench` runs it (built by `npm test` before the tests run).
const { runScenarios, scenarios } = (await import(new URL('../dist/bench/run.js', import.meta.url).href)) as {
  runScenarios: (names: string[], options: { tiny: boolean; threads: number }) => Promise<Result[]>;
  scenarios: Record<string, unknown>;
};
const { renderSvg } = (await import(new URL('../dist/bench/charts.js', import.meta.url).href)) as {
  renderSvg: (spec: unknown) => Promise<string>;
};

describe('benchmark scenarios (tiny)', () => {
  for (const name of Object.keys(scenarios)) {
    test(name, { timeout: 120_000 }, async () => {
      const [result] = await runScenarios([name], { tiny: true, threads: 1 });
      expect(result!.name).toBe(name);
      expect(result!.rows.length).toBeGreaterThan(0);
      for (const check of result!.checks) {
        expect(check.criterion).toEqual(expect.any(String));
        expect(check.measured).toEqual(expect.any(String));
        expect(typeof check.pass).toBe('boolean');
      }
      for (const chart of result!.charts ?? []) {
        const svg = await renderSvg(chart.spec);
        expect(svg.startsWith('<svg')).toBe(true);
        expect(svg).toContain('<text'); // axes and title were drawn
      }
    });
  }
});

/**
 * Input schema cost: a call of a tool with a 3-field input schema against the same tool without one, call by
 * call in turn (target: the check costs < 5% of a no-op call), and the check alone, in process.
 */
import { performance } from 'node:perf_hooks';
import { createBridge } from '../../src/index.js';
import { ArgsSchemas } from '../../src/schema/args-schema.js';
import { fmt, fmtRatio, ratios, rounds, spread } from '../harness.js';
import { toolsModule, type Scenario } from '../scenario.js';

export const schema: Scenario = async ({ tiny, full, threads }) => {
  const bridge = await createBridge({ minThreads: threads, maxThreads: threads, tools: [toolsModule] });
  try {
    const args = { a: 1, b: 2, c: 3 };
    const result = await rounds(
      [
        { name: 'with schema', run: () => bridge.call('bench.add3', args) },
        { name: 'without', run: () => bridge.call('bench.add3Plain', args) },
      ],
      tiny ? { rounds: 2, perRound: 10, warmup: 10 } : { rounds: full ? 30 : 20, perRound: 400, warmup: 5_000 },
    );
    const ratio = spread(ratios(result.p50s['with schema']!, result.p50s.without!));
    // The check alone: the compiled validator on the same args.
    const schemas = new ArgsSchemas();
    const inputSchema = bridge.tools().find((t) => t.name === 'bench.add3')!.inputSchema!;
    const n = tiny ? 1_000 : 200_000;
    for (let i = 0; i < n; i++) schemas.check('bench.add3', '1', inputSchema, args);
    const start = performance.now();
    for (let i = 0; i < n; i++) schemas.check('bench.add3', '1', inputSchema, args);
    const checkMs = (performance.now() - start) / n;
    const noop = spread(result.p50s.without!).median;
    return {
      name: 'schema',
      title: `Input schema cost: a 3-field schema checked before dispatch; ${threads} threads`,
      rows: [
        { measure: 'call p50, with schema', value: fmt(spread(result.p50s['with schema']!).median) },
        { measure: 'call p50, without', value: fmt(noop) },
        { measure: 'the check alone (compiled ajv validator)', value: `${(checkMs * 1e6).toFixed(0)} ns` },
      ],
      checks: [
        {
          criterion: 'call with a 3-field schema / without (p50s, call by call in turn)',
          measured: fmtRatio(ratio),
          target: '<= 1.05x',
          pass: ratio.median <= 1.05,
        },
        {
          criterion: 'the check alone / a no-op call p50',
          measured: `${((100 * checkMs) / noop).toFixed(2)}%`,
          target: '< 5%',
          pass: checkMs / noop < 0.05,
        },
      ],
    };
  } finally {
    await bridge.close();
  }
};

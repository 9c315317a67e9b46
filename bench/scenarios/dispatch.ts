/**
 * Dispatch: a no-op `bridge.call` against a no-op raw Piscina `run()` on the same thread count, in
 * alternating rounds. Target (issue 2): toolbridge p50 <= 1.25 x Piscina p50.
 */
import { Piscina } from 'piscina';
import { createBridge } from '../../src/index.js';
import { fmtRatio, latencyRows, ratios, rounds, spread } from '../harness.js';
import { rawWorker, toolsModule, type Scenario } from '../scenario.js';

export const dispatch: Scenario = async ({ tiny, threads }) => {
  const bridge = await createBridge({ minThreads: threads, maxThreads: threads, tools: [toolsModule] });
  const piscina = new Piscina({ filename: rawWorker, minThreads: threads, maxThreads: threads });
  try {
    const result = await rounds(
      [
        { name: 'toolbridge', run: () => bridge.call('bench.noop') },
        { name: 'piscina', run: () => piscina.run({ kind: 'noop' }) },
      ],
      tiny ? { rounds: 2, perRound: 20, warmup: 20 } : { rounds: 30, perRound: 400, warmup: 5_000 },
    );
    const ratio = spread(ratios(result.p50s.toolbridge!, result.p50s.piscina!));
    return {
      name: 'dispatch',
      title: `No-op call latency, ${threads} threads, sequential calls`,
      rows: latencyRows(result.all, true),
      checks: [
        {
          criterion: 'no-op bridge.call p50 / raw Piscina run() p50 (per round)',
          measured: fmtRatio(ratio),
          target: '<= 1.25x',
          pass: ratio.median <= 1.25,
        },
      ],
    };
  } finally {
    await bridge.close();
    await piscina.destroy();
  }
};

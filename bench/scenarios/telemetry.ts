/**
 * Telemetry cost (issue 5): no-op call throughput with telemetry on (the default) against the same bridge
 * with `telemetry: { enabled: false }`. Target: on >= 0.95 x off.
 *
 * Throughput of sequential calls is the inverse of their latency, so the check compares the p50 latencies
 * of no-op calls made call by call in turn (on, off; then on with a diagnostics_channel subscriber, off), per round:
 * on this noisy machine, interleaving call by call is what keeps the noise out of the ratio. Throughput with
 * 8 calls in flight, in alternating rounds, is reported beside it.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createBridge, type Bridge } from '../../src/index.js';
import { fmt, fmtRatio, ratios, rounds, spread } from '../harness.js';
import { toolsModule, type Scenario } from '../scenario.js';
import { closedLoop } from './dispatch.js';

const ON = 'telemetry on';
const OFF = 'telemetry off';
const TRACED = 'on, with a diagnostics_channel subscriber';

export const telemetry: Scenario = async ({ tiny, full, threads }) => {
  const make = (enabled: boolean) =>
    createBridge({ minThreads: threads, maxThreads: threads, tools: [toolsModule], telemetry: { enabled } });
  const on = await make(true);
  const off = await make(false);
  const listener = () => undefined;
  try {
    const options = { rounds: tiny ? 1 : full ? 15 : 9, perRound: tiny ? 100 : 1_000, warmup: tiny ? 50 : 500 };
    const latency = await rounds(
      [
        { name: ON, run: () => on.call('bench.noop') },
        { name: OFF, run: () => off.call('bench.noop') },
      ],
      options,
    );
    // Then with an APM listening (a subscriber makes every call of a bridge with telemetry on publish).
    subscribe('toolbridge:call:end', listener);
    let withSubscriber;
    try {
      withSubscriber = await rounds(
        [
          { name: TRACED, run: () => on.call('bench.noop') },
          { name: OFF, run: () => off.call('bench.noop') },
        ],
        options,
      );
    } finally {
      unsubscribe('toolbridge:call:end', listener);
    }
    latency.p50s[TRACED] = withSubscriber.p50s[TRACED]!;
    // Throughput on/off = latency off/on, per round.
    const ratio = spread(ratios(latency.p50s[OFF]!, latency.p50s[ON]!));
    const tracedRatio = spread(ratios(withSubscriber.p50s[OFF]!, withSubscriber.p50s[TRACED]!));

    const inFlight = 8;
    const perRun = tiny ? 500 : 2_000;
    const bridges: Array<[string, Bridge]> = [
      [ON, on],
      [OFF, off],
    ];
    const throughput: Record<string, number[]> = { [ON]: [], [OFF]: [] };
    const throughputRounds = tiny ? 1 : full ? 9 : 5;
    for (let r = 0; r < throughputRounds; r++) {
      for (let k = 0; k < bridges.length; k++) {
        const [name, bridge] = bridges[(r + k) % bridges.length]!;
        throughput[name]!.push(await closedLoop(() => bridge.call('bench.noop'), inFlight, perRun));
      }
    }
    const rows = [ON, OFF, TRACED].map((name) => {
      const calls = throughput[name] ? spread(throughput[name]) : undefined;
      return {
        bridge: name,
        'p50 (sequential)': fmt(spread(latency.p50s[name]!).median),
        'calls/s, sequential': Math.round(1000 / spread(latency.p50s[name]!).median),
        [`calls/s, ${inFlight} in flight (median, min-max)`]: calls
          ? `${Math.round(calls.median)} (${Math.round(calls.min)}-${Math.round(calls.max)})`
          : '',
      };
    });
    return {
      name: 'telemetry',
      title: `Telemetry cost: no-op calls with telemetry on vs off; ${threads} threads`,
      rows,
      checks: [
        {
          criterion: 'no-op throughput, telemetry on / off (p50 latency off / on, per round)',
          measured: fmtRatio(ratio),
          target: '>= 0.95x',
          pass: ratio.median >= 0.95,
        },
      ],
      notes: [
        `Sequential calls, call by call in turn, ${latency.p50s[ON]!.length} rounds. With a diagnostics_channel subscriber on toolbridge:call:end (measured in rounds of its own against off): ${fmtRatio(tracedRatio)} of off.`,
        `With ${inFlight} in flight: medians over ${throughputRounds} alternating rounds of ${perRun} calls (their spread is the machine's noise).`,
      ],
    };
  } finally {
    await Promise.all([on.close(), off.close()]);
  }
};

/**
 * Shared-memory allocation (issue 4): what a result buffer costs, fresh or reused. For each size, mitata
 * measures in this thread:
 * - `new SharedArrayBuffer(n)` alone, and through toolbridge's ledger (`shared()`: the quota check and the
 *   FinalizationRegistry entry that lets the memory be counted until collected);
 * - a fresh buffer written in full (what a tool returning a new result pays: the kernel maps and zeroes each
 *   page on first touch), against a reused buffer written in full (what an arena or slab allocator would
 *   pay at best).
 * The reuse figure is the ceiling of what an arena could save; BENCHMARKS.md says why toolbridge has none.
 */
import { measure } from 'mitata';
import { shared } from '../../src/index.js';
import { fmt, fmtRatio, ratios, spread } from '../harness.js';
import type { Scenario } from '../scenario.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

export const alloc: Scenario = async ({ tiny, full }) => {
  const sizes = tiny ? [64 * KiB] : [64 * KiB, MiB, 16 * MiB];
  const roundsCount = tiny ? 1 : full ? 5 : 2;
  const rows: Array<Record<string, string | number>> = [];
  let sink = 0;
  for (const bytes of sizes) {
    // mitata runs a function that fast 4,096 times a sample, and `new SharedArrayBuffer` commits its memory:
    // 4,096 buffers of 16 MiB took this 24 GiB machine out of memory. At most 64 MiB of buffers a sample, and
    // 1 GiB a case, which the garbage collector can keep up with.
    const budget = {
      min_cpu_time: (tiny ? 10 : 60) * 1e6,
      batch_samples: Math.max(1, Math.min(4_096, Math.floor((64 * MiB) / bytes))),
      max_samples: Math.min(1_000, Math.floor(GiB / bytes)),
    };
    const length = bytes / 8;
    const kept = new Float64Array(new SharedArrayBuffer(bytes));
    const cases: Record<string, () => void> = {
      'new SharedArrayBuffer': () => void (sink += new SharedArrayBuffer(bytes).byteLength),
      'shared() (ledger)': () => void (sink += shared(Float64Array, length).length),
      'fresh + write all': () => void (sink += new Float64Array(new SharedArrayBuffer(bytes)).fill(1.5)[0]!),
      'reused + write all': () => void (sink += kept.fill(1.5)[0]!),
    };
    // Rounds in turn, so that a noisy moment (or a garbage collection of the fresh buffers) hits all alike.
    const p50s: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
    for (let r = 0; r < roundsCount; r++) {
      for (const [name, fn] of Object.entries(cases)) p50s[name]!.push((await measure(fn, budget)).p50 / 1e6);
    }
    const row: Record<string, string | number> = { size: bytes >= MiB ? `${bytes / MiB} MiB` : `${bytes / KiB} KiB` };
    for (const [name, values] of Object.entries(p50s)) row[name] = fmt(spread(values).median);
    row['fresh / reused'] = fmtRatio(spread(ratios(p50s['fresh + write all']!, p50s['reused + write all']!)));
    rows.push(row);
  }
  if (sink < 0) throw new Error('unreachable');
  return {
    name: 'alloc',
    title: 'Shared-memory allocation: a fresh SharedArrayBuffer against a reused one (mitata p50s)',
    rows,
    checks: [],
    notes: [
      `Medians of the p50s of ${roundsCount} rounds; the ratio is per round (median, min, max).`,
      'Allocating is cheap at every size; writing fresh memory is not (first-touch page faults). A reused buffer is only safe to hand out again once no thread holds a handle of it, which the garbage collector decides: see BENCHMARKS.md.',
    ],
  };
};

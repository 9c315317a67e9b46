/**
 * The plain end-to-end harness: time an async operation many times, after a warm-up, and summarise.
 * Compared systems run in one process, call by call in turn, so that a noisy machine slows them alike;
 * ratios are computed per round and reported as median, min and max over the rounds.
 */
import { cpus, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

export interface Summary {
  p50: number;
  p99: number;
  min: number;
  max: number;
  mean: number;
  n: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    min: sorted[0] ?? NaN,
    max: sorted[sorted.length - 1] ?? NaN,
    mean: sorted.reduce((s, v) => s + v, 0) / sorted.length,
    n: sorted.length,
  };
}

/** Milliseconds each of `n` sequential runs of `fn` took. */
export async function time(fn: () => PromiseLike<unknown>, n: number): Promise<number[]> {
  const out: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out[i] = performance.now() - t;
  }
  return out;
}

export interface Contender {
  name: string;
  run: () => PromiseLike<unknown>;
}

export interface RoundsResult {
  /** Per contender: the p50 of each round, in ms. */
  p50s: Record<string, number[]>;
  /** Per contender: every sample of every round. */
  all: Record<string, Summary>;
}

/**
 * Runs the contenders call by call in turn (A B C, B C A, ...): every round makes `perRound` calls of each,
 * interleaved, so that a noisy neighbour slows all contenders alike. After `warmup` calls of each. With
 * `blocks`, each round runs each contender's calls back to back instead.
 */
export async function rounds(
  contenders: Contender[],
  opts: { rounds: number; perRound: number; warmup: number; blocks?: boolean },
) {
  for (const c of contenders) await time(c.run, opts.warmup);
  const p50s: Record<string, number[]> = {};
  const samples: Record<string, number[]> = {};
  for (const c of contenders) {
    p50s[c.name] = [];
    samples[c.name] = [];
  }
  for (let r = 0; r < opts.rounds; r++) {
    const round: number[][] = contenders.map(() => []);
    const timeOne = async (index: number) => {
      const t = performance.now();
      await contenders[index]!.run();
      round[index]!.push(performance.now() - t);
    };
    if (opts.blocks) {
      // Each contender's calls back to back, the order rotating per round: for contenders so unlike that
      // one disturbs the next call of the other (a long busy call before a microsecond one).
      for (let k = 0; k < contenders.length; k++) {
        const index = (r + k) % contenders.length;
        for (let i = 0; i < opts.perRound; i++) await timeOne(index);
      }
    } else {
      for (let i = 0; i < opts.perRound; i++) {
        for (let k = 0; k < contenders.length; k++) await timeOne((i + k) % contenders.length);
      }
    }
    contenders.forEach((c, index) => {
      p50s[c.name]!.push(summarize(round[index]!).p50);
      samples[c.name]!.push(...round[index]!);
    });
  }
  const all: Record<string, Summary> = {};
  for (const c of contenders) all[c.name] = summarize(samples[c.name]!);
  return { p50s, all } satisfies RoundsResult;
}

/**
 * Calls per second of each mode (a run that makes `calls` calls), after one warm-up run of each, over
 * `roundsCount` rounds with the order rotating per round (A B C, then B C A, ...).
 */
export async function throughputRounds(
  modes: Record<string, () => Promise<unknown>>,
  calls: number,
  roundsCount: number,
  warmups = 1,
): Promise<Record<string, number[]>> {
  for (let w = 0; w < warmups; w++) for (const run of Object.values(modes)) await run();
  const names = Object.keys(modes);
  const out: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]));
  for (let r = 0; r < roundsCount; r++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(r + k) % names.length]!;
      const t = performance.now();
      await modes[name]!();
      out[name]!.push(calls / ((performance.now() - t) / 1000));
    }
  }
  return out;
}

/** One table row per contender: p50, p99, min and max of all its samples (and the count, if asked). */
export function latencyRows(all: Record<string, Summary>, withCount = false): Array<Record<string, string | number>> {
  return Object.entries(all).map(([system, s]) => ({
    system,
    p50: fmt(s.p50),
    p99: fmt(s.p99),
    min: fmt(s.min),
    max: fmt(s.max),
    ...(withCount ? { calls: s.n } : {}),
  }));
}

/** Median, min and max of per-round values. */
export function spread(values: readonly number[]): { median: number; min: number; max: number } {
  const s = summarize(values);
  return { median: s.p50, min: s.min, max: s.max };
}

export function ratios(a: readonly number[], b: readonly number[]): number[] {
  return a.map((v, i) => v / b[i]!);
}

const pkg = (name: string): string => {
  try {
    const url = new URL(`../../node_modules/${name}/package.json`, import.meta.url);
    return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    return 'n/a';
  }
};

export function machine() {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    packages: Object.fromEntries(
      ['piscina', 'apache-arrow', 'msgpackr', '@msgpack/msgpack', 'flatbuffers'].map((n) => [n, pkg(n)]),
    ),
  };
}

export const fmt = (ms: number): string => (ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`);
const ratio = (value: number): string => value.toFixed(value < 10 ? 3 : 2);
export const fmtRatio = (r: { median: number; min: number; max: number }): string =>
  `${ratio(r.median)}x (min ${ratio(r.min)}, max ${ratio(r.max)})`;

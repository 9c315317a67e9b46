import type { BridgeStats } from './stats.js';

/** What health is judged against; see `createBridge({ telemetry: { budgets } })`. */
export interface HealthBudgets {
  /** Latency p99 over the last one to two minutes, per tool, in ms. @default 1000 */
  p99Ms: number;
  /** Share of a tool's calls over the last minute that failed (judged from 10 calls). @default 0.05 */
  errorRate: number;
  /** Calls waiting in a pool's queue. @default half the pool's maxQueue (512 per thread when unbounded) */
  queueDepth: number | undefined;
  /** A worker's heap against what it may reach (`maxHeapMb`, else `hardHeapMb`, else V8's limit). @default 0.9 */
  heapRatio: number;
}

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

export interface HealthReason {
  status: Exclude<HealthStatus, 'healthy'>;
  check: 'latency' | 'errors' | 'queue' | 'heap' | 'workers' | 'closed';
  /** The tool, pool or worker (`pool/threadId`) it is about. */
  subject: string;
  value: number;
  budget: number;
  message: string;
}

export interface HealthReport {
  status: HealthStatus;
  reasons: HealthReason[];
}

/** What the bridge knows besides its stats. */
export interface HealthInputs {
  stats: BridgeStats;
  recent: Array<{ tool: string; calls: number; errors: number; p99: number | undefined }>;
  /** Pools where no worker serves and none can start (a tool module that kills workers at start-up). */
  failing: string[];
  closed: boolean;
}

/** Below this many calls in the last minute, a tool's error rate is not judged. */
const MIN_CALLS = 10;
/** Past this many times a budget, a breach is `unhealthy` rather than `degraded`. */
const SEVERE = 2;

const round = (value: number, digits = 3) => Number(value.toFixed(digits));

/**
 * Judges a bridge against its budgets: each breach is a reason, `degraded` when over budget and
 * `unhealthy` when over twice the budget, when a pool refuses calls (its queue is full), when no worker
 * can serve, or when the bridge is closed.
 */
export function judgeHealth(inputs: HealthInputs, budgets: HealthBudgets): HealthReport {
  const reasons: HealthReason[] = [];
  const breach = (
    check: HealthReason['check'],
    subject: string,
    value: number,
    budget: number,
    what: string,
    severe = value > budget * SEVERE,
  ) => {
    reasons.push({
      status: severe ? 'unhealthy' : 'degraded',
      check,
      subject,
      value: round(value),
      budget,
      message: `${subject}: ${what} ${round(value)} over the budget of ${budget}`,
    });
  };
  if (inputs.closed) {
    reasons.push({
      status: 'unhealthy',
      check: 'closed',
      subject: 'bridge',
      value: 1,
      budget: 0,
      message: 'the bridge is closed',
    });
  }
  for (const { tool, calls, errors, p99 } of inputs.recent) {
    if (p99 !== undefined && p99 > budgets.p99Ms) breach('latency', tool, p99, budgets.p99Ms, 'p99 latency (ms)');
    if (calls >= MIN_CALLS && errors / calls > budgets.errorRate) {
      breach('errors', tool, errors / calls, budgets.errorRate, 'error rate over the last minute');
    }
  }
  for (const [pool, p] of Object.entries(inputs.stats.pools)) {
    const budget = budgets.queueDepth ?? (p.maxQueue === Infinity ? 512 * p.maxThreads : p.maxQueue / 2);
    if (p.queued > budget) breach('queue', pool, p.queued, budget, 'calls queued', p.queued >= p.maxQueue);
  }
  for (const worker of inputs.stats.memory.workers) {
    if (worker.heapLimitMb <= 0) continue;
    const ratio = worker.heapMb / worker.heapLimitMb;
    if (ratio > budgets.heapRatio) {
      breach('heap', `${worker.pool}/${worker.id}`, ratio, budgets.heapRatio, 'heap against its limit', false);
    }
  }
  for (const pool of inputs.failing) {
    reasons.push({
      status: 'unhealthy',
      check: 'workers',
      subject: pool,
      value: 0,
      budget: 1,
      message: `${pool}: no worker can serve (its workers fail at start-up)`,
    });
  }
  const status: HealthStatus = reasons.some((r) => r.status === 'unhealthy')
    ? 'unhealthy'
    : reasons.length > 0
      ? 'degraded'
      : 'healthy';
  return { status, reasons };
}

/** What a remote bridge knows of each tool host: its answers to this caller, and the load it reported. */
import { performance } from 'node:perf_hooks';
import type { MsgHdrs } from '@nats-io/transport-node';
import type { HostStats } from '../telemetry/stats.js';
import { HOST, LOAD } from './subjects.js';

const WINDOW = 256;

interface Figures {
  calls: number;
  errors: number;
  latencies: Float64Array;
  inFlight: number;
  queued: number;
  served: number;
  lastSeen: number;
}

export class HostFigures {
  readonly #hosts = new Map<string, Figures>();

  /** An answer from the host named in `headers`, `ms` after the call was sent. */
  record(headers: MsgHdrs | undefined, ms: number, failed: boolean): void {
    const host = headers?.get(HOST);
    if (!host) return;
    let figures = this.#hosts.get(host);
    if (figures === undefined) {
      figures = {
        calls: 0,
        errors: 0,
        latencies: new Float64Array(WINDOW),
        inFlight: 0,
        queued: 0,
        served: 0,
        lastSeen: 0,
      };
      this.#hosts.set(host, figures);
    }
    figures.latencies[figures.calls % WINDOW] = ms;
    figures.calls++;
    if (failed) figures.errors++;
    figures.lastSeen = performance.now();
    const [inFlight, queued, served] = (headers?.get(LOAD) ?? '').split(' ').map(Number);
    if (Number.isFinite(inFlight)) figures.inFlight = inFlight!;
    if (Number.isFinite(queued)) figures.queued = queued!;
    if (Number.isFinite(served)) figures.served = served!;
  }

  snapshot(): Record<string, HostStats> {
    const now = performance.now();
    const out: Record<string, HostStats> = {};
    for (const [host, f] of this.#hosts) {
      const recent = f.latencies.slice(0, Math.min(f.calls, WINDOW)).sort();
      const at = (q: number) =>
        recent.length === 0 ? 0 : recent[Math.min(recent.length - 1, Math.floor(q * recent.length))]!;
      out[host] = {
        calls: f.calls,
        errors: f.errors,
        latency: { p50: at(0.5), p95: at(0.95), max: recent.length === 0 ? 0 : recent[recent.length - 1]! },
        inFlight: f.inFlight,
        queued: f.queued,
        served: f.served,
        lastSeenMs: Math.round(now - f.lastSeen),
      };
    }
    return out;
  }
}

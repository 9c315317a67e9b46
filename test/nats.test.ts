/**
 * toolbridge/nats against a real nats-server on loopback, with tool hosts as processes of their own.
 */
import { tableFromArrays, type Table } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createBridge, isShared, shared, type Bridge } from 'toolbridge';
import { connect as natsConnect } from '@nats-io/transport-node';
import { connect, serve } from 'toolbridge/nats';
import { fixture, rejection } from './helpers.js';
import {
  natsServerBinary,
  startHost,
  startNatsServer,
  stopProcess,
  type HostProcess,
  type NatsServer,
} from './support/nats.js';

const binary = natsServerBinary();
if (!binary) {
  console.warn('test/nats.test.ts skipped: no nats-server on this machine (Debian: apt-get install nats-server)');
}

describe.skipIf(!binary)('toolbridge/nats', () => {
  let server: NatsServer;
  let hosts: HostProcess[] = [];
  let remote: Bridge;
  const namespace = 'test';

  beforeAll(async () => {
    server = await startNatsServer(binary!);
    hosts = await Promise.all([startHost(server.url, namespace, 'a'), startHost(server.url, namespace, 'b')]);
    remote = await connect({ servers: server.url, namespace });
  });

  afterAll(async () => {
    await remote?.close();
    await Promise.all(hosts.map((host) => stopProcess(host.child, 'SIGKILL')));
    await server?.stop();
  });

  test('tools() lists what the hosts serve, with their metadata', () => {
    const names = remote.tools().map((t) => t.name);
    expect(names).toContain('remote.double');
    expect(names).toContain('vector.topk');
    expect(remote.tools().find((t) => t.name === 'frame.groupby')).toMatchObject({ idempotent: true, pool: 'default' });
  });

  test('calls spread over the hosts of a pool', async () => {
    const pids = await Promise.all(Array.from({ length: 40 }, () => remote.call<number>('remote.whoami')));
    expect(new Set(pids)).toEqual(new Set(hosts.map((h) => h.pid)));
  });

  test('typed arrays, shared arrays and a 6 MiB array cross as bytes, with the right values', async () => {
    for (const x of [Float64Array.from([1, 2.5, -3]), Int32Array.from([7, -8]), shared(Float32Array, 4).fill(1.5)]) {
      const { y, sum } = await remote.call<{ y: typeof x; sum: number }>('remote.double', { x });
      expect(y.constructor).toBe(x.constructor);
      expect(Array.from(y)).toEqual(Array.from(x, (v) => v * 2));
      expect(sum).toBe(Array.from(x).reduce((s, v) => s + 2 * v, 0));
      // Arrived in shared memory: handing it to a local worker copies nothing.
      expect(isShared(y)).toBe(true);
    }
    const big = new Float64Array((6 * 2 ** 20) / 8).map((_, i) => i % 1000);
    const { y } = await remote.call<{ y: Float64Array }>('remote.double', { x: big });
    expect(y.length).toBe(big.length);
    expect(y[999]).toBe(1998);
    expect(y[big.length - 1]).toBe(2 * ((big.length - 1) % 1000));
  });

  test('an Arrow table goes and comes back with its values', async () => {
    const table = tableFromArrays({ a: Float64Array.from([1, 2, 3]), b: Int32Array.from([4, 5, 6]) });
    const out = await remote.call<{ sum: number; rows: number; table: Table }>('remote.column', { table, name: 'b' });
    expect(out).toMatchObject({ sum: 15, rows: 3 });
    expect(out.table.getChild('a')!.toArray()).toEqual(Float64Array.from([1, 2, 3]));
    // A built-in tool on a table, end to end.
    const summary = await remote.call<Record<string, { mean: number }>>('frame.describe', { table });
    expect(summary.a!.mean).toBe(2);
  });

  test('errors keep their codes, messages, paths and properties', async () => {
    const failed = await rejection(remote.call('remote.fail', { kind: 'throw' }));
    expect(failed.code).toBe('TOOL_FAILED');
    expect(failed.message).toContain('out of range');
    const cause = failed.cause as Error & { status?: number; details?: unknown };
    expect(cause.name).toBe('RangeError');
    expect(cause.status).toBe(418);
    expect(cause.details).toEqual({ limit: 3 });

    const invalid = (await rejection(remote.call('remote.fail', { kind: 'args' }))) as Error & {
      code?: string;
      path?: string;
    };
    expect(invalid.code).toBe('INVALID_ARGS');
    expect(invalid.path).toBe('args.x');

    const timeout = await rejection(remote.call('remote.wait', { ms: 5_000 }, { timeoutMs: 100 }));
    expect(timeout.code).toBe('TIMEOUT');
  });

  test('an unknown tool fails at once with TOOL_NOT_FOUND', async () => {
    expect((await rejection(remote.call('remote.nope'))).code).toBe('TOOL_NOT_FOUND');
  });

  test('aborting a call cancels it on the host', async () => {
    const before = await Promise.all(Array.from({ length: 8 }, () => remote.call<number>('remote.aborted')));
    const controller = new AbortController();
    const call = remote.call('remote.wait', { ms: 20_000 }, { signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 200));
    controller.abort();
    expect((await rejection(call)).code).toBe('ABORTED');
    // The host saw the abort: its tool stopped waiting (either host may have run it).
    await expect
      .poll(
        async () => {
          const now = await Promise.all(Array.from({ length: 8 }, () => remote.call<number>('remote.aborted')));
          return Math.max(...now) + Math.min(...now) > Math.max(...before) + Math.min(...before);
        },
        { timeout: 5_000 },
      )
      .toBe(true);
  });

  test('a batch runs on the hosts, one entry per call in order', async () => {
    const entries = await remote.batch(
      Array.from({ length: 50 }, (_, i) => ({ tool: 'remote.double', args: { x: Float64Array.from([i]) } })),
    );
    expect(entries.map((e) => e.ok && (e.value as { sum: number }).sum)).toEqual(
      Array.from({ length: 50 }, (_, i) => 2 * i),
    );
  });

  test('a host in the caller’s process: close() finishes the calls it holds, then a tool it alone served is UNAVAILABLE', async () => {
    const local = await createBridge({ maxThreads: 1, tools: [fixture('remote-tools.js')] });
    const host = await serve(local, { servers: server.url, namespace: 'solo' });
    const caller = await connect({ servers: server.url, namespace: 'solo' });
    try {
      const running = caller.call<string>('remote.wait', { ms: 400 });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(host.inFlight).toBe(1);
      await host.close();
      // The call it held ran to its end and was answered.
      expect(await running).toBe('done');
      const unavailable = await rejection(caller.call('remote.wait', { ms: 1 }));
      expect(unavailable.code).toBe('UNAVAILABLE');
      expect(unavailable.message).toContain('remote.wait');
    } finally {
      await caller.close();
      await local.close();
    }
  });
});

describe.skipIf(!binary)('toolbridge/nats durable calls', () => {
  let server: NatsServer;
  let hosts: HostProcess[] = [];
  const namespace = 'durable';

  beforeAll(async () => {
    server = await startNatsServer(binary!);
    hosts = await Promise.all([
      startHost(server.url, namespace, 'a', 1_000),
      startHost(server.url, namespace, 'b', 1_000),
    ]);
  });

  afterAll(async () => {
    await Promise.all(hosts.map((host) => stopProcess(host.child, 'SIGKILL')));
    await server?.stop();
  });

  test('a durable call runs on a host and answers like a sync one', async () => {
    const remote = await connect({ servers: server.url, namespace });
    try {
      const { y } = await remote.call<{ y: Float64Array }>(
        'remote.double',
        { x: Float64Array.from([2, 3]) },
        { durable: true },
      );
      expect(Array.from(y)).toEqual([4, 6]);
      const failed = await rejection(remote.call('remote.fail', { kind: 'throw' }, { durable: true }));
      expect(failed.code).toBe('TOOL_FAILED');
      expect((failed.cause as { status?: number }).status).toBe(418);
    } finally {
      await remote.close();
    }
  });

  test('SIGKILL of a host during 1,000 durable calls, 16 in flight: none lost, each answered once', async () => {
    const remote = await connect({ servers: server.url, namespace, durable: true });
    try {
      const total = 1_000;
      const answers = new Array<number>(total).fill(0);
      const pids = new Set<number>();
      let next = 0;
      let killed = false;
      const worker = async () => {
        while (next < total) {
          const i = next++;
          if (i === 300 && !killed) {
            killed = true;
            void stopProcess(hosts[0]!.child, 'SIGKILL');
          }
          const out = await remote.call<{ i: number; pid: number }>(
            'remote.slowEcho',
            { i, ms: 2 },
            { timeoutMs: 60_000 },
          );
          expect(out.i).toBe(i);
          answers[i]!++;
          pids.add(out.pid);
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
      expect(answers.every((n) => n === 1)).toBe(true);
      // Both hosts answered; the survivor took over the calls the killed one held.
      expect(pids).toEqual(new Set(hosts.map((h) => h.pid)));
    } finally {
      await remote.close();
    }
  });
});

describe.skipIf(!binary)('toolbridge/nats poison calls', () => {
  test('a durable call delivered maxDeliveries times without an answer fails with a clear error, not run again', async () => {
    const server = await startNatsServer(binary!);
    const namespace = 'poison';
    const durable = { ackWaitMs: 500, maxDeliveries: 2 };
    const [first, second] = await Promise.all([
      createBridge({ maxThreads: 1, tools: [fixture('remote-tools.js')] }),
      createBridge({ maxThreads: 1, tools: [fixture('remote-tools.js')] }),
    ]);
    const firstLink = await natsConnect({ servers: server.url });
    const secondLink = await natsConnect({ servers: server.url });
    const dying = await serve(first, { connection: firstLink, namespace, durable });
    const caller = await connect({ servers: server.url, namespace, durable: true });
    try {
      const call = rejection(caller.call('remote.wait', { ms: 60_000 }));
      await expect.poll(() => dying.inFlight, { timeout: 10_000 }).toBe(1);
      // The host "dies": its connection goes, its call is neither acked nor answered.
      await firstLink.close();
      await serve(second, { connection: secondLink, namespace, durable });
      const error = await call;
      expect(error.code).toBe('TOOL_FAILED');
      expect(error.message).toContain('delivered 2 times');
      // The second host refused it without running it.
      expect(await second.call('remote.aborted')).toBe(0);
      expect(second.stats().tools['remote.wait']?.calls ?? 0).toBe(0);
    } finally {
      await caller.close();
      await secondLink.close();
      await Promise.all([first.destroy(), second.close()]);
      await server.stop();
    }
  });
});

describe.skipIf(!binary)('toolbridge/nats payloads past max_payload', () => {
  test('a 32 MiB array goes and comes back through the Object Store (sync and durable), then the objects are gone', async () => {
    const server = await startNatsServer(binary!, '1MB');
    const host = await startHost(server.url, 'big', 'a');
    const remote = await connect({ servers: server.url, namespace: 'big' });
    const link = await natsConnect({ servers: server.url });
    try {
      const x = new Float64Array((32 * 2 ** 20) / 8).map((_, i) => i % 4099);
      for (const durable of [false, true]) {
        const { y, sum } = await remote.call<{ y: Float64Array; sum: number }>('remote.double', { x }, { durable });
        expect(y.length).toBe(x.length);
        expect(y[4098]).toBe(8196);
        expect(y[x.length - 1]).toBe(2 * ((x.length - 1) % 4099));
        expect(sum).toBe(2 * x.reduce((s, v) => s + v, 0));
      }
      // The sync call's objects were deleted once read; the durable answer stays for a retried call.
      const { Objm } = await import('@nats-io/obj');
      const store = await new Objm(link).open('big_payloads');
      const names: string[] = [];
      for (const info of await store.list()) names.push(info.name);
      expect(names.filter((name) => !name.endsWith('-answer'))).toEqual([]);
      expect(names.length).toBe(1);
    } finally {
      await remote.close();
      await link.close();
      await stopProcess(host.child, 'SIGKILL');
      await server.stop();
    }
  });
});

describe.skipIf(!binary)('toolbridge/nats sync calls whose host dies', () => {
  test('the call fails as a crashed worker at once, not at its time limit; an idempotent one runs again on another host', async () => {
    const server = await startNatsServer(binary!);
    const namespace = 'failover';
    const hosts = [await startHost(server.url, namespace, 'x')];
    const remote = await connect({ servers: server.url, namespace, heartbeatMs: 200 });
    try {
      const plain = rejection(remote.call('remote.wait', { ms: 20_000 }, { timeoutMs: 30_000 }));
      const idempotent = remote.call<number>('remote.slowWhoami', { ms: 1_500 }, { timeoutMs: 30_000, cache: false });
      await new Promise((resolve) => setTimeout(resolve, 300));
      hosts.push(await startHost(server.url, namespace, 'y'));
      await stopProcess(hosts[0]!.child, 'SIGKILL');
      const error = await plain;
      expect(error.code).toBe('WORKER_CRASHED');
      expect(error.message).toContain('x');
      // Not TIMEOUT: the call failed when its host went, long before its 30 s limit.
      expect(await idempotent).toBe(hosts[1]!.pid);
    } finally {
      await remote.close();
      await Promise.all(hosts.map((host) => stopProcess(host.child, 'SIGKILL')));
      await server.stop();
    }
  });
});

describe.skipIf(!binary)('toolbridge/nats telemetry', () => {
  test("the caller's stats() and metrics() show each host: its answers, latency and last load", async () => {
    const server = await startNatsServer(binary!);
    const hosts = await Promise.all([startHost(server.url, 'figures', 'p'), startHost(server.url, 'figures', 'q')]);
    const remote = await connect({ servers: server.url, namespace: 'figures' });
    try {
      await Promise.all(Array.from({ length: 30 }, () => remote.call('remote.whoami')));
      await rejection(remote.call('remote.fail', { kind: 'throw' }));
      const figures = remote.stats().hosts;
      expect(Object.keys(figures).sort()).toEqual(['p', 'q']);
      const total = Object.values(figures).reduce((n, h) => n + h.calls, 0);
      expect(total).toBe(31);
      expect(Object.values(figures).reduce((n, h) => n + h.errors, 0)).toBe(1);
      for (const h of Object.values(figures)) {
        expect(h.latency.p50).toBeGreaterThan(0);
        expect(h.latency.max).toBeGreaterThanOrEqual(h.latency.p50);
        expect(h.served).toBeGreaterThanOrEqual(1);
      }
      expect(remote.metrics()).toMatch(/toolbridge_host_calls_total\{host="p"\} \d+/);
      // A local bridge has none.
      const local = await createBridge({ maxThreads: 1 });
      expect(local.stats().hosts).toEqual({});
      await local.close();
    } finally {
      await remote.close();
      await Promise.all(hosts.map((host) => stopProcess(host.child, 'SIGKILL')));
      await server.stop();
    }
  });
});

describe.skipIf(!binary)('toolbridge/nats durable back-pressure', () => {
  test('a durable call past the queue bound is refused with QUEUE_FULL; the calls queued still run', async () => {
    const server = await startNatsServer(binary!);
    const local = await createBridge({ maxThreads: 1, tools: [fixture('remote-tools.js')] });
    const host = await serve(local, { servers: server.url, namespace: 'bounded', durable: { maxQueued: 2 } });
    const caller = await connect({ servers: server.url, namespace: 'bounded', durable: true });
    try {
      const first = caller.call('remote.wait', { ms: 1_500 });
      const second = caller.call('remote.wait', { ms: 1_500 });
      // Both stored in the queue (one held by the host, one waiting) before the third is sent.
      const link = await natsConnect({ servers: server.url });
      const { jetstreamManager } = await import('@nats-io/jetstream');
      const jsm = await jetstreamManager(link);
      await expect.poll(async () => (await jsm.streams.info('bounded_calls')).state.messages).toBe(2);
      await link.close();
      const refused = await rejection(caller.call('remote.wait', { ms: 300 }));
      expect(refused.code).toBe('QUEUE_FULL');
      expect(await Promise.all([first, second])).toEqual(['done', 'done']);
    } finally {
      await caller.close();
      await host.close();
      await local.close();
      await server.stop();
    }
  });
});

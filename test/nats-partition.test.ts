/**
 * toolbridge/nats across a network partition: the server, two tool hosts and a caller each in a Linux
 * network namespace of their own, joined by a bridge in a namespace of its own. Under load, one host's link
 * goes down; the test reports what the caller saw. Every 10.77.0.x address is used only from inside those
 * namespaces; everything is torn down in `finally`. Skipped, saying why, where `ip netns` is not permitted.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { expect, test } from 'vitest';
import { natsServerBinary, stopProcess } from './support/nats.js';

const tag = `tb${process.pid % 10_000}`;
const spaces = { net: `${tag}-net`, srv: `${tag}-srv`, h1: `${tag}-h1`, h2: `${tag}-h2`, cl: `${tag}-cl` };
const address = { srv: '10.77.0.1', h1: '10.77.0.2', h2: '10.77.0.3', cl: '10.77.0.4' };

function ip(...args: string[]): void {
  const done = spawnSync('ip', args, { encoding: 'utf8' });
  if (done.status !== 0) throw new Error(`ip ${args.join(' ')}: ${done.stderr.trim()}`);
}

function whyNot(): string | undefined {
  const binary = natsServerBinary();
  if (!binary) return 'no nats-server on this machine';
  const probe = spawnSync('ip', ['netns', 'add', `${tag}-probe`], { encoding: 'utf8' });
  if (probe.status !== 0) return `ip netns is not permitted here (${probe.stderr.trim() || probe.error?.message})`;
  spawnSync('ip', ['netns', 'del', `${tag}-probe`]);
  return undefined;
}

const skip = whyNot();
if (skip) console.warn(`test/nats-partition.test.ts skipped: ${skip}`);

function teardown(): void {
  for (const space of Object.values(spaces)) spawnSync('ip', ['netns', 'del', space]);
}

/** Namespaces, a bridge in its own, a veth from each to it, addresses, links up. */
function build(): void {
  teardown();
  for (const space of Object.values(spaces)) ip('netns', 'add', space);
  ip('-n', spaces.net, 'link', 'add', 'br0', 'type', 'bridge');
  ip('-n', spaces.net, 'link', 'set', 'br0', 'up');
  for (const name of ['srv', 'h1', 'h2', 'cl'] as const) {
    const inner = `v${name}`;
    const outer = `b${name}`;
    ip('-n', spaces.net, 'link', 'add', outer, 'type', 'veth', 'peer', 'name', inner, 'netns', spaces[name]);
    ip('-n', spaces.net, 'link', 'set', outer, 'master', 'br0');
    ip('-n', spaces.net, 'link', 'set', outer, 'up');
    ip('-n', spaces[name], 'addr', 'add', `${address[name]}/24`, 'dev', inner);
    ip('-n', spaces[name], 'link', 'set', inner, 'up');
    ip('-n', spaces[name], 'link', 'set', 'lo', 'up');
  }
}

/** A process inside `space`; resolves once a line of its output matches `ready`. */
async function inSpace(space: string, command: string[], ready: RegExp, stream: 'stdout' | 'stderr' = 'stdout') {
  const child = spawn('ip', ['netns', 'exec', space, ...command], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command.join(' ')}: not ready in 20 s`)), 20_000);
    createInterface({ input: child[stream]! }).on('line', (line) => {
      lines.push(line);
      if (ready.test(line)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`${command.join(' ')} exited with ${code}: ${lines.join('\n')}`)));
  });
  return { child, lines };
}

test.skipIf(skip !== undefined)(
  'a host cut off under load: durable calls all answered once, sync calls answered or failed with a code',
  async () => {
    const processes: ChildProcess[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'toolbridge-netns-'));
    try {
      build();
      const config = join(dir, 'server.conf');
      // Pings every second, two missed: the server drops a cut-off host in about 3 s.
      writeFileSync(
        config,
        `listen: "${address.srv}:4222"\nping_interval: "1s"\nping_max: 2\njetstream { store_dir: "${join(dir, 'js')}" }\n`,
      );
      const server = await inSpace(spaces.srv, [natsServerBinary()!, '-c', config], /Server is ready/, 'stderr');
      processes.push(server.child);
      const url = `nats://${address.srv}:4222`;
      const hostScript = new URL('./fixtures/nats-host.mjs', import.meta.url).pathname;
      for (const name of ['h1', 'h2'] as const) {
        const host = await inSpace(
          spaces[name],
          ['env', 'TB_ACK_WAIT_MS=1000', process.execPath, hostScript, url, 'part', name],
          /^ready/,
        );
        processes.push(host.child);
      }
      const callerScript = new URL('./fixtures/nats-partition-caller.mjs', import.meta.url).pathname;
      const caller = await inSpace(spaces.cl, [process.execPath, callerScript, url, 'part', '300'], /^half$/);
      processes.push(caller.child);
      // Link down: h1 is cut off from the server and everyone else, its process still running.
      ip('-n', spaces.net, 'link', 'set', 'bh1', 'down');
      const summary = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the caller did not finish in 60 s')), 60_000);
        const check = () => {
          const last = caller.lines.at(-1) ?? '';
          if (last.startsWith('{')) {
            clearTimeout(timer);
            resolve(last);
          } else setTimeout(check, 100);
        };
        check();
      });
      const seen = JSON.parse(summary) as {
        durable: { answered: number; errors: Record<string, number> };
        sync: { answered: number; errors: Record<string, number> };
        worstMs: number;
      };
      console.log(`partition of one host under load, what the caller saw: ${summary}`);
      // No durable call lost: each answered once, by one host or the other.
      expect(seen.durable.answered).toBe(300);
      expect(seen.durable.errors).toEqual({});
      // Every sync call settled: answered, or failed with a code (never left hanging).
      const failed = Object.values(seen.sync.errors).reduce((n, c) => n + c, 0);
      expect(seen.sync.answered + failed).toBe(300);
      for (const code of Object.keys(seen.sync.errors)) expect(['WORKER_CRASHED', 'TIMEOUT']).toContain(code);
    } finally {
      await Promise.all(processes.map((child) => stopProcess(child, 'SIGKILL')));
      teardown();
      rmSync(dir, { recursive: true, force: true });
    }
  },
  90_000,
);

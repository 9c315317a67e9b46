/**
 * A real nats-server for the tests: started on a free loopback port with JetStream in a temporary store,
 * stopped (and its store removed) by `stop()`. Tool hosts run as processes of their own.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** The nats-server binary, or undefined when this machine has none (the tests then say why they skip). */
export function natsServerBinary(): string | undefined {
  for (const candidate of ['nats-server', '/usr/sbin/nats-server', '/usr/bin/nats-server']) {
    const probe = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (probe.status === 0) return candidate;
  }
  return undefined;
}

export interface NatsServer {
  url: string;
  stop(): Promise<void>;
}

/** Starts nats-server on 127.0.0.1 at a random port; resolves once it listens. */
export async function startNatsServer(binary: string, maxPayload = '8MB'): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'toolbridge-nats-'));
  const config = join(dir, 'server.conf');
  writeFileSync(
    config,
    `listen: "127.0.0.1:-1"\nmax_payload: ${maxPayload}\njetstream { store_dir: "${join(dir, 'js')}" }\n`,
  );
  const child = spawn(binary, ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('nats-server did not start within 10 s')), 10_000);
    const lines = createInterface({ input: child.stderr! });
    lines.on('line', (line) => {
      const match = /Listening for client connections on (\S+):(\d+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(`nats://127.0.0.1:${match[2]}`);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited with ${code}`));
    });
  });
  return {
    url,
    async stop() {
      await stopProcess(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A process stopped with `signal`, resolved once it has exited. */
export function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

export interface HostProcess {
  child: ChildProcess;
  pid: number;
}

/** Starts a tool host process (test/fixtures/nats-host.mjs); resolves once it serves. */
export async function startHost(
  url: string,
  namespace: string,
  name: string,
  ackWaitMs = 30_000,
): Promise<HostProcess> {
  const script = new URL('../fixtures/nats-host.mjs', import.meta.url).pathname;
  const child = spawn(process.execPath, [script, url, namespace, name], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, TB_ACK_WAIT_MS: String(ackWaitMs) },
  });
  const pid = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`host ${name} did not start within 20 s`)), 20_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /^ready (\d+)$/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`host ${name} exited with ${code}`));
    });
  });
  return { child, pid };
}

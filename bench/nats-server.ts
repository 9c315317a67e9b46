/**
 * A real nats-server on a free loopback port (JetStream in a temporary store), and tool host processes:
 * for the nats scenario and the toolbridge/nats tests. Traffic stays on 127.0.0.1.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** The nats-server binary, or undefined when this machine has none (Debian: apt-get install nats-server). */
export function natsServerBinary(): string | undefined {
  for (const candidate of ['nats-server', '/usr/sbin/nats-server', '/usr/bin/nats-server']) {
    if (spawnSync(candidate, ['--version'], { encoding: 'utf8' }).status === 0) return candidate;
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
  const child = spawn(binary, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    const port = await lineFrom(child, 'stderr', /Listening for client connections on \S+:(\d+)/, 10_000);
    return {
      url: `nats://127.0.0.1:${port}`,
      async stop() {
        await stopProcess(child);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await stopProcess(child, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
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

/**
 * Starts a tool host process: `script` is run with `args` and the environment `env`, and must print
 * `ready <pid>` once it serves.
 */
export async function startHostProcess(
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<HostProcess> {
  const child = spawn(process.execPath, [script, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  try {
    const pid = Number(await lineFrom(child, 'stdout', /^ready (\d+)$/, 20_000));
    return { child, pid };
  } catch (error) {
    await stopProcess(child, 'SIGKILL');
    throw error;
  }
}

/** The first capture of `pattern` in a line of the child's output. */
function lineFrom(
  child: ChildProcess,
  stream: 'stdout' | 'stderr',
  pattern: RegExp,
  timeoutMs: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${pattern.source}" within ${timeoutMs} ms`)), timeoutMs);
    createInterface({ input: child[stream]! }).on('line', (line) => {
      const match = pattern.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${child.spawnfile} exited with ${code}`));
    });
  });
}

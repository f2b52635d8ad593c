import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A running nats-server started for one test file. */
export interface NatsServerHandle {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** The JetStream store directory, removed on stop. */
  readonly storeDir: string;
  readonly pid: number;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and removes its store. */
  stop(): Promise<void>;
  /** Kills the server hard (SIGKILL) without removing the store, for restart tests. */
  kill(): Promise<void>;
}

export interface StartNatsOptions {
  /** Enable JetStream (default true). */
  readonly jetstream?: boolean;
  /** Reuse a store directory (for restart tests). */
  readonly storeDir?: string;
  /** Listen on this port instead of a random free one. */
  readonly port?: number;
  /** Extra command-line arguments. */
  readonly args?: readonly string[];
}

const STARTUP_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;

/** The nats-server binary: `NATS_SERVER_BIN`, else the first of PATH and Debian's location. */
export function natsServerBinary(): string {
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv) return fromEnv;
  for (const dir of (process.env.PATH ?? '').split(':').concat('/usr/sbin', '/usr/local/bin')) {
    const candidate = join(dir, 'nats-server');
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new Error('nats-server not found: install it (apt-get install nats-server) or set NATS_SERVER_BIN');
}

/**
 * Starts a real nats-server on a free loopback port (`-p -1` lets the server pick one,
 * so there is no race with other tests) with its own temporary JetStream directory.
 */
export async function startNatsServer(options: StartNatsOptions = {}): Promise<NatsServerHandle> {
  const storeDir = options.storeDir ?? (await mkdtemp(join(tmpdir(), 'protomesh-nats-')));
  const args = ['-a', '127.0.0.1', '-p', String(options.port ?? -1), '--http_port', '0'];
  if (options.jetstream !== false) args.push('-js', '-sd', storeDir);
  args.push(...(options.args ?? []));
  const child = spawn(natsServerBinary(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const port = await waitForPort(child);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const killWith = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    pid: child.pid ?? -1,
    async stop() {
      await killWith('SIGTERM');
      if (!options.storeDir) await rm(storeDir, { recursive: true, force: true });
    },
    async kill() {
      await killWith('SIGKILL');
    },
  };
}

function waitForPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(
      () => fail(new Error(`nats-server did not start in ${STARTUP_TIMEOUT_MS} ms:\n${log}`)),
      STARTUP_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      const match = /Listening for client connections on [^\s]*:(\d+)/.exec(log);
      if (match && /Server is ready/.test(log)) {
        done();
        resolve(Number(match[1]));
      }
    };
    const onExit = (code: number | null) =>
      fail(new Error(`nats-server exited (${code}) before it was ready:\n${log}`));
    const done = () => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', fail);
      child.stderr?.resume();
    };
    function fail(error: Error) {
      done();
      child.kill('SIGKILL');
      reject(error);
    }
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', fail);
  });
}

import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@protomesh/test-support';

const root = fileURLToPath(new URL('../../../../', import.meta.url));

/** mqtt-edge and the bridge in a child process (the launcher, built dist), on the same NATS and prefix. */
export interface Siblings {
  /** `mqtt://127.0.0.1:<port>` of the mqtt-edge. */
  readonly mqttUrl: string;
  /** Everything the process printed (for failure messages). */
  output(): string;
  /** SIGTERM, then SIGKILL after 5 s. */
  stop(): Promise<void>;
}

/** A ws-edge replica in its own process (so a test can kill it). */
export interface EdgeProcess {
  readonly url: string;
  /** SIGKILL: no graceful shutdown, clients see the connection drop. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts `node bin/protomesh.mjs ws-edge` on NATS (anonymous clients allowed). */
export async function startEdgeProcess(
  natsUrl: string,
  prefix: string,
  env: Record<string, string> = {},
): Promise<EdgeProcess> {
  const child: ChildProcess = spawn(process.execPath, ['bin/protomesh.mjs', 'ws-edge'], {
    cwd: root,
    env: {
      ...process.env,
      NATS_URL: natsUrl,
      MESH_PREFIX: prefix,
      LOG_LEVEL: 'warn',
      WS_HOST: '127.0.0.1',
      ADMIN_HOST: '127.0.0.1',
      WS_PORT: '0',
      WS_ADMIN_PORT: '0',
      WS_ALLOW_ANONYMOUS: 'true',
      WS_PUBLISH_RATE: '0',
      SHUTDOWN_GRACE: '1s',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`ws-edge exited ${child.exitCode}: ${output}`);
        return /ws-edge\s+ws\s+ws:\/\/\S+/.test(output);
      },
      'ws-edge to start',
      30_000,
    );
  } catch (error) {
    await end('SIGKILL');
    throw error;
  }
  const url = /ws-edge\s+ws\s+(ws:\/\/\S+)/.exec(output)![1]!;
  return { url, kill: () => end('SIGKILL'), stop: () => end('SIGTERM') };
}

/**
 * Starts `node bin/protomesh.mjs bridge mqtt-edge` (a service's tests may not import another
 * service, so the other tiers run as they do in production: their own process) and resolves
 * once both run on NATS. ws-edge itself runs in the test process.
 */
export async function startSiblings(
  natsUrl: string,
  prefix: string,
  env: Record<string, string> = {},
): Promise<Siblings> {
  const child: ChildProcess = spawn(process.execPath, ['bin/protomesh.mjs', 'bridge', 'mqtt-edge'], {
    cwd: root,
    env: {
      ...process.env,
      NATS_URL: natsUrl,
      MESH_PREFIX: prefix,
      LOG_LEVEL: 'warn',
      MQTT_HOST: '127.0.0.1',
      ADMIN_HOST: '127.0.0.1',
      MQTT_PORT: '0',
      MQTT_ADMIN_PORT: '0',
      BRIDGE_ADMIN_PORT: '0',
      MQTT_ALLOW_ANONYMOUS: 'true',
      SHUTDOWN_GRACE: '1s',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`siblings exited ${child.exitCode}: ${output}`);
        return /mqtt-edge\s+mqtt\s+mqtt:\/\/\S+/.test(output) && output.includes(`running on NATS`);
      },
      'bridge and mqtt-edge to start',
      30_000,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  const mqttUrl = /mqtt-edge\s+mqtt\s+(mqtt:\/\/\S+)/.exec(output)![1]!;
  return { mqttUrl, output: () => output, stop };
}

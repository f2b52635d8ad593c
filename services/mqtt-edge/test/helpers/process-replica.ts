import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@protomesh/test-support';

const root = fileURLToPath(new URL('../../../../', import.meta.url));

/** An mqtt-edge replica in its own process (`node bin/protomesh.mjs mqtt-edge`, the built dist). */
export interface ProcessReplica {
  readonly child: ChildProcess;
  readonly port: number;
  readonly url: string;
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a replica process on `natsUrl` with mesh `prefix` and waits until it listens.
 * The caller kills it (`child.kill('SIGKILL')` for a crash) and must kill it after the test.
 */
export async function spawnReplica(
  natsUrl: string,
  prefix: string,
  env: Record<string, string> = {},
): Promise<ProcessReplica> {
  const port = await freePort();
  const child = spawn(process.execPath, ['bin/protomesh.mjs', 'mqtt-edge'], {
    cwd: root,
    env: {
      ...process.env,
      NATS_URL: natsUrl,
      MESH_PREFIX: prefix,
      MQTT_HOST: '127.0.0.1',
      MQTT_PORT: String(port),
      MQTT_ADMIN_PORT: '0',
      ADMIN_HOST: '127.0.0.1',
      MQTT_ALLOW_ANONYMOUS: 'true',
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  await waitFor(() => /mqtt-edge\s+mqtt\s/.test(out), 'the replica to start', 30_000);
  return { child, port, url: `mqtt://127.0.0.1:${port}` };
}

import type { RunningMesh, ServiceEntry } from '@protomesh/runtime';
import { startInProcess } from '@protomesh/test-support';
import { SUBPROTOCOL, startWsEdge } from '@protomesh/ws-edge';
import WebSocket from 'ws';
import { TestClient } from './client.js';

/** ws-edge as a service entry for `startInProcess`. */
export const WS_EDGE: ServiceEntry = { name: 'ws-edge', start: startWsEdge };

/**
 * ws-edge replicas on one real NATS server (each its own connection, like separate pods)
 * and the raw protocol clients connected to them; `close()` ends them all.
 */
export class Replicas {
  readonly #natsUrl: string;
  readonly #meshes: RunningMesh[] = [];
  readonly #clients: TestClient[] = [];

  constructor(natsUrl: string) {
    this.#natsUrl = natsUrl;
  }

  /**
   * Starts one more ws-edge replica of mesh `prefix`. Anonymous clients are allowed unless
   * `env` says otherwise (on NATS the default is to require a token).
   */
  async start(prefix: string, env?: Record<string, string>, entries: ServiceEntry[] = [WS_EDGE]): Promise<RunningMesh> {
    const mesh = await startInProcess(entries, {
      prefix,
      natsUrl: this.#natsUrl,
      env: { WS_ALLOW_ANONYMOUS: 'true', ...env },
    });
    this.#meshes.push(mesh);
    return mesh;
  }

  /** The WebSocket URL of a replica. */
  url(mesh: RunningMesh): string {
    return mesh.services.find((service) => service.name === 'ws-edge')!.endpoints.ws!;
  }

  /** A raw protocol client on `mesh`, open. */
  async client(
    mesh: RunningMesh | string,
    protocols: string | string[] = SUBPROTOCOL,
    headers?: Record<string, string>,
  ) {
    const url = typeof mesh === 'string' ? mesh : this.url(mesh);
    const ws = new WebSocket(url, protocols, { headers });
    const client = new TestClient(ws);
    this.#clients.push(client);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return client;
  }

  /** Stops one replica now (graceful: 1012 to its clients). */
  async stop(mesh: RunningMesh): Promise<void> {
    const index = this.#meshes.indexOf(mesh);
    if (index >= 0) this.#meshes.splice(index, 1);
    await mesh.stop();
  }

  async close(): Promise<void> {
    await Promise.all(this.#clients.splice(0).map((client) => client.close()));
    await Promise.all(this.#meshes.splice(0).map((mesh) => mesh.stop()));
  }
}

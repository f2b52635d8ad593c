import type {} from '@fastify/websocket'; // injectWS and websocketServer on FastifyInstance
import { type Backbone, createEmbeddedBackbone, type MeshLayout, meshLayout, provisionMesh } from '@protomesh/backbone';
import { loadConfig, type MeshConfig } from '@protomesh/config';
import { ServiceMetrics, silentLogger } from '@protomesh/telemetry';
import { uniqueName } from '@protomesh/test-support';
import { createWsEdge, type WsEdgeOptions } from '@protomesh/ws-edge';
import type { FastifyInstance } from 'fastify';
import { TestClient } from './client.js';

/** An in-memory ws-edge on an embedded backbone, for unit tests. */
export interface EdgeFixture {
  readonly app: FastifyInstance;
  readonly backbone: Backbone;
  readonly layout: MeshLayout;
  readonly config: MeshConfig;
  readonly metrics: ServiceMetrics;
  /** A new client connected through `injectWS`. */
  connect(path?: string): Promise<TestClient>;
  /** Closes every client, the app and the backbone. */
  close(): Promise<void>;
}

export interface FixtureOptions extends WsEdgeOptions {
  /** Extra environment settings. */
  readonly env?: Record<string, string>;
  /** Wraps the embedded backbone (e.g. to delay `append`). */
  readonly wrap?: (backbone: Backbone) => Backbone;
}

/** Builds ws-edge over a fresh embedded backbone with a unique prefix. */
export async function edgeFixture(options: FixtureOptions = {}): Promise<EdgeFixture> {
  const config = loadConfig({ env: { MESH_PREFIX: uniqueName(), SHUTDOWN_GRACE: '2s', ...options.env }, file: '' });
  const embedded = createEmbeddedBackbone();
  const layout = meshLayout(config.prefix);
  await provisionMesh(embedded, layout);
  const backbone = options.wrap ? options.wrap(embedded) : embedded;
  const metrics = new ServiceMetrics('ws-edge');
  const app = createWsEdge({ config, backbone, layout, logger: silentLogger(), metrics }, options);
  await app.ready();
  const clients: TestClient[] = [];
  return {
    app,
    backbone: embedded,
    layout,
    config,
    metrics,
    async connect(path = config.ws.path) {
      const before = new Set(app.websocketServer.clients);
      const ws = await app.injectWS(path);
      const server = [...app.websocketServer.clients].find((socket) => !before.has(socket));
      // injectWS joins the two ends with in-memory streams that never emit 'close': end the
      // server side once the client is closed, as TCP would after the closing handshake.
      ws.once('close', () => setImmediate(() => server?.terminate()));
      const client = new TestClient(ws);
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all(clients.map((client) => client.close()));
      await app.close();
      await embedded.close();
      await metrics.shutdown();
    },
  };
}

/** A backbone whose `append` waits for `release()` (to observe when `ok` frames are sent). */
export function gatedAppend(backbone: Backbone): { backbone: Backbone; release(): void; readonly waiting: number } {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  let waiting = 0;
  const wrapped = wrapBackbone(backbone, {
    append: async (...args) => {
      waiting += 1;
      await gate;
      waiting -= 1;
      return backbone.append(...args);
    },
  });
  return {
    backbone: wrapped,
    release: open,
    get waiting() {
      return waiting;
    },
  };
}

/** `backbone` with some methods replaced; the rest bound to the original. */
export function wrapBackbone(backbone: Backbone, overrides: Partial<Backbone>): Backbone {
  return new Proxy(backbone, {
    get(target, property, receiver) {
      if (Object.hasOwn(overrides, property)) return overrides[property as keyof Backbone];
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

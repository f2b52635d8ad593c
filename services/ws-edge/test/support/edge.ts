import { randomBytes } from 'node:crypto';
import { Duplex, PassThrough } from 'node:stream';
import { type Backbone, createEmbeddedBackbone, type MeshLayout, meshLayout, provisionMesh } from '@protomesh/backbone';
import { loadConfig, type MeshConfig } from '@protomesh/config';
import { ServiceMetrics, silentLogger, type Tracing } from '@protomesh/telemetry';
import { uniqueName } from '@protomesh/test-support';
import { createWsEdge, type WsEdgeOptions } from '@protomesh/ws-edge';
import type { FastifyInstance } from 'fastify';
import WebSocket from 'ws';
import { TestClient } from './client.js';

/** An in-memory ws-edge on an embedded backbone, for unit tests. */
export interface EdgeFixture {
  readonly app: FastifyInstance;
  readonly backbone: Backbone;
  readonly layout: MeshLayout;
  readonly config: MeshConfig;
  readonly metrics: ServiceMetrics;
  /** A new client connected in memory (no socket), like `injectWS`. */
  connect(path?: string, headers?: Record<string, string>): Promise<TestClient>;
  /** Closes every client, the app and the backbone. */
  close(): Promise<void>;
}

export interface FixtureOptions extends WsEdgeOptions {
  /** Extra environment settings. */
  readonly env?: Record<string, string>;
  /** Wraps the embedded backbone (e.g. to delay `append`). */
  readonly wrap?: (backbone: Backbone) => Backbone;
  /** The instance's tracing (`deps.tracing`); default: none (off). The caller shuts it down. */
  readonly tracing?: Tracing;
}

/** Builds ws-edge over a fresh embedded backbone with a unique prefix. */
export async function edgeFixture(options: FixtureOptions = {}): Promise<EdgeFixture> {
  const config = loadConfig({ env: { MESH_PREFIX: uniqueName(), SHUTDOWN_GRACE: '2s', ...options.env }, file: '' });
  const embedded = createEmbeddedBackbone();
  const layout = meshLayout(config.prefix);
  await provisionMesh(embedded, layout);
  const backbone = options.wrap ? options.wrap(embedded) : embedded;
  const metrics = new ServiceMetrics('ws-edge');
  const app = createWsEdge(
    { config, backbone, layout, logger: silentLogger(), metrics, tracing: options.tracing },
    options,
  );
  await app.ready();
  const clients: TestClient[] = [];
  return {
    app,
    backbone: embedded,
    layout,
    config,
    metrics,
    async connect(path = config.ws.path, headers = {}) {
      const client = new TestClient(await injectWebSocket(app, path, headers));
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

/**
 * Opens a WebSocket to `app` over an in-memory stream pair: the request is handed to the
 * server's `upgrade` listener as Node's HTTP server would, and the client side reads the
 * 101 answer, then speaks WebSocket over the other end. Rejects with the HTTP status when
 * the upgrade is refused.
 */
export function injectWebSocket(
  app: FastifyInstance,
  path: string,
  headers: Record<string, string> = {},
  protocol = 'protomesh.v1',
): Promise<WebSocket> {
  const toServer = new PassThrough();
  const toClient = new PassThrough();
  const serverSide = Duplex.from({ readable: toServer, writable: toClient });
  const clientSide = Duplex.from({ readable: toClient, writable: toServer });
  // `ws` builds a client without a URL when given null; the socket is attached below.
  const ws = new WebSocket(null as unknown as string, undefined, { isServer: false } as never);
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      clientSide.off('data', onData);
      const head = chunk.toString('latin1');
      if (!head.startsWith('HTTP/1.1 101')) {
        reject(new Error(`Unexpected server response: ${head.split(' ')[1]}`));
        return;
      }
      const end = chunk.indexOf('\r\n\r\n') + 4;
      const accepted = /sec-websocket-protocol: *([^\r\n]*)/i.exec(head)?.[1];
      (ws as unknown as { _isServer: boolean })._isServer = false;
      if (accepted) (ws as unknown as { _protocol: string })._protocol = accepted;
      (ws as unknown as { setSocket(s: Duplex, h: Buffer, o: object): void }).setSocket(
        clientSide,
        chunk.subarray(end),
        { maxPayload: 0 },
      );
      resolve(ws);
    };
    clientSide.on('data', onData);
    // In-memory streams never close on their own: end the server side once the client is
    // closed, as TCP would after the closing handshake.
    ws.once('close', () => setImmediate(() => serverSide.destroy()));
    const request = {
      method: 'GET',
      url: path,
      httpVersion: '1.1',
      headers: {
        host: 'localhost',
        connection: 'upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        ...(protocol ? { 'sec-websocket-protocol': protocol } : {}),
        ...headers,
      },
      socket: { remoteAddress: '127.0.0.1' },
    };
    app.server.emit('upgrade', request, serverSide, Buffer.alloc(0));
  });
}

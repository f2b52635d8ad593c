import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ServiceDeps } from '@protomesh/runtime';
import { disabledTracing, ServiceMetrics } from '@protomesh/telemetry';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginCallback } from 'fastify';
import { WebSocketServer } from 'ws';
import type { Access, Authenticator } from './access.js';
import { wsAuthSetup } from './auth.js';
import { registerDemoPage } from './demo-page.js';
import { WsEdgeCore } from './edge.js';
import { ForbiddenError } from './errors.js';
import { loadApiKeys, registerPublishApi } from './http-api.js';
import { httpTracingPlugin } from './http-tracing.js';
import { SUBPROTOCOL } from './protocol.js';
import { WsTelemetry } from './telemetry.js';

/** Bytes queued for one client before it is closed as a slow consumer (4008): 4 MiB. */
export const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** Distinct filters one connection may hold. */
export const DEFAULT_MAX_SUBSCRIPTIONS = 1_000;
/** QoS 1 publishes awaiting the backbone per connection before it stops reading frames. */
export const DEFAULT_MAX_IN_FLIGHT_PUBLISHES = 1_000;
/** Malformed requests per connection: the first gets an error frame, this many close it with 4400. */
export const MAX_MALFORMED_FRAMES = 2;
/** Refused requests (invalid or forbidden topics and filters) per connection that close it with 4400. */
export const MAX_REJECTED_REQUESTS = 10;
/** permessage-deflate (RFC 7692) compresses only messages at least this large, in bytes. */
export const COMPRESSION_THRESHOLD_BYTES = 1_024;

/** Tuning knobs with defaults, beyond the environment settings. */
export interface WsEdgeOptions {
  /** See {@link DEFAULT_MAX_BUFFERED_BYTES}; default `config.ws.maxBuffered`. */
  readonly maxBufferedBytes?: number;
  /** See {@link DEFAULT_MAX_SUBSCRIPTIONS}; default `config.ws.maxSubscriptions`. */
  readonly maxSubscriptions?: number;
  /** See {@link DEFAULT_MAX_IN_FLIGHT_PUBLISHES}. */
  readonly maxInFlightPublishes?: number;
  /** Verifies tokens; default: a JWT verifier from the WS_JWT_* settings (none when unset). */
  readonly authenticator?: Authenticator;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The ws-edge core behind this server (connections, delivery hub, shutdown). */
    wsEdge: WsEdgeCore;
  }
}

/**
 * Builds ws-edge from its dependencies and returns it un-listened: a Fastify instance that
 * serves the demo page, the SDK modules and `POST /api/v1/publish`, and upgrades requests
 * on `config.ws.path` to protocol v1 WebSockets. `close()` is graceful: in-flight QoS 1
 * publishes are acknowledged, then every client gets 1012 (service restart). With
 * `deps.tracing` enabled, HTTP requests, publishes and deliveries are traced
 * (docs/telemetry.md "ws-edge"); routes exist once the app is ready.
 */
export function createWsEdge(deps: ServiceDeps, options: WsEdgeOptions = {}): FastifyInstance {
  const { config, backbone, layout } = deps;
  const logger = deps.logger;
  const metrics = deps.metrics ?? new ServiceMetrics('ws-edge');
  const tracing = deps.tracing ?? disabledTracing('ws-edge');
  const ws = config.ws;
  const telemetry = new WsTelemetry(metrics);
  const auth = wsAuthSetup(config);
  const authenticator = options.authenticator ?? auth.authenticator;
  const core = new WsEdgeCore({
    space: { prefix: config.prefix, tier: 'ws' },
    backbone,
    streamName: layout.streams.ws.name,
    retainedStream: layout.streams.retained.name,
    retainedPrefix: layout.retainedPrefix,
    telemetry,
    tracing,
    logger,
    authenticator,
    heartbeat: { pingIntervalMs: ws.pingInterval, idleTimeoutMs: ws.idleTimeout },
    limits: {
      maxBufferedBytes: options.maxBufferedBytes ?? ws.maxBuffered,
      maxSubscriptions: options.maxSubscriptions ?? ws.maxSubscriptions,
      maxInFlightPublishes: options.maxInFlightPublishes ?? DEFAULT_MAX_IN_FLIGHT_PUBLISHES,
      maxMalformed: MAX_MALFORMED_FRAMES,
      maxRejected: MAX_REJECTED_REQUESTS,
      maxFrameSize: ws.maxFrameSize,
      publishRate: ws.publishRate,
      publishBurst: ws.publishBurst,
      ackWaitMs: ws.ackWait,
      ackMaxInFlight: ws.ackMaxInFlight,
      authTimeoutMs: ws.authTimeout,
    },
  });
  const origins = auth.allowedOrigins;
  const anonymous: Access = auth.anonymousAccess;

  // Fastify logs only problems (no per-request lines at warn); connection lines come from
  // the core, never one per message.
  const httpLogger: FastifyBaseLogger = logger.child({ component: 'http' }, { level: 'warn' });
  const app = Fastify({ loggerInstance: httpLogger });
  app.decorate('wsEdge', core);
  if (tracing.enabled) void app.register(httpTracingPlugin(tracing));

  // `ws` directly on the HTTP server's upgrade event (not through the router): nothing of
  // the HTTP request is kept per connection, which keeps an idle connection small.
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    // RFC 6455 §5.4: a message over the limit closes with 1009; with permessage-deflate the
    // limit applies to the decompressed size (RFC 7692 §8.1 "decompression bomb").
    maxPayload: ws.maxFrameSize,
    perMessageDeflate: ws.compression ? { threshold: COMPRESSION_THRESHOLD_BYTES } : false,
    // RFC 6455 §4.2.2: select our subprotocol when offered. A client offering only others
    // gets none, and RFC 6455 §4.1 makes it fail the handshake; offering none is fine.
    handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', destroyOnError);
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (url.pathname !== ws.path) {
      refuse(socket, 404, 'Not Found');
      return;
    }
    if (core.closing) {
      refuse(socket, 503, 'Service Unavailable');
      return;
    }
    const origin = request.headers.origin;
    // Browsers always send Origin; other clients need not, and cannot be held to it.
    if (origins !== undefined && origin !== undefined && !origins.includes(origin)) {
      telemetry.requestRejected(ForbiddenError.code);
      refuse(socket, 403, 'Forbidden');
      return;
    }
    const token = bearerToken(request.headers.authorization) ?? url.searchParams.get('token') ?? undefined;
    wss.handleUpgrade(request, socket, head, (client) => {
      // `ws` owns the socket's errors from here.
      socket.off('error', destroyOnError);
      const initial =
        token !== undefined && authenticator !== undefined
          ? { token }
          : auth.allowAnonymous
            ? { access: anonymous }
            : ({ awaitConnect: true } as const);
      core.accept(client, request.socket?.remoteAddress, initial);
    });
  };
  app.server.on('upgrade', onUpgrade);

  app.addHook('preClose', async () => {
    await core.shutdown(config.shutdownGrace);
    app.server.off('upgrade', onUpgrade);
    wss.close();
  });

  const keys = loadApiKeys(ws.apiKeys, ws.apiKeysFile);
  // Declared in a plugin so they come after the tracing plugin (plugins load in order, and it
  // instruments routes as they are declared); skip-override keeps them on the root instance.
  const routes: FastifyPluginCallback = (instance, _options, done) => {
    registerPublishApi(instance, {
      publisher: core.publisher,
      telemetry,
      tracing,
      keys,
      bodyLimit: Math.max(1024 * 1024, ws.maxFrameSize * 4),
      isClosing: () => core.closing,
    });
    if (ws.demoPage) registerDemoPage(instance, { wsPath: ws.path, logger });
    done();
  };
  void app.register(Object.assign(routes, { [Symbol.for('skip-override')]: true }));
  return app;
}

/** Until `ws` takes the socket over, a socket error (a peer reset mid-handshake) just ends it. */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

/** Answers an upgrade request with an HTTP error and closes the socket. */
function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** The token of `Authorization: Bearer <token>` (RFC 6750 §2.1). */
function bearerToken(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

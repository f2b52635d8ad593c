import websocket from '@fastify/websocket';
import type { ServiceDeps } from '@protomesh/runtime';
import { ServiceMetrics } from '@protomesh/telemetry';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { CLOSE } from './close-codes.js';
import { WsEdgeCore } from './edge.js';
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

/** Tuning knobs with defaults (not environment settings yet). */
export interface WsEdgeOptions {
  /** See {@link DEFAULT_MAX_BUFFERED_BYTES}. */
  readonly maxBufferedBytes?: number;
  /** See {@link DEFAULT_MAX_SUBSCRIPTIONS}. */
  readonly maxSubscriptions?: number;
  /** See {@link DEFAULT_MAX_IN_FLIGHT_PUBLISHES}. */
  readonly maxInFlightPublishes?: number;
}

/**
 * Builds ws-edge from its dependencies and returns it un-listened: a Fastify instance with
 * the protocol v1 WebSocket route at `config.ws.path`. `close()` is graceful: in-flight
 * QoS 1 publishes are acknowledged, then every client gets 1012 (service restart).
 */
export function createWsEdge(deps: ServiceDeps, options: WsEdgeOptions = {}): FastifyInstance {
  const { config, backbone, layout } = deps;
  const logger = deps.logger;
  const metrics = deps.metrics ?? new ServiceMetrics('ws-edge');
  const core = new WsEdgeCore({
    space: { prefix: config.prefix, tier: 'ws' },
    backbone,
    streamName: layout.streams.ws.name,
    telemetry: new WsTelemetry(metrics),
    logger,
    limits: {
      maxBufferedBytes: options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES,
      maxSubscriptions: options.maxSubscriptions ?? DEFAULT_MAX_SUBSCRIPTIONS,
      maxInFlightPublishes: options.maxInFlightPublishes ?? DEFAULT_MAX_IN_FLIGHT_PUBLISHES,
      maxMalformed: MAX_MALFORMED_FRAMES,
      maxFrameSize: config.ws.maxFrameSize,
    },
  });

  // Fastify logs only problems (no per-request lines at warn); connection lines come from
  // the core, never one per message.
  const httpLogger: FastifyBaseLogger = logger.child({ component: 'http' }, { level: 'warn' });
  const app = Fastify({
    loggerInstance: httpLogger,
  });

  void app.register(websocket, {
    options: {
      maxPayload: config.ws.maxFrameSize,
      // RFC 6455 §4.2.2: select our subprotocol when offered. A client offering only others
      // gets none, and RFC 6455 §4.1 makes it fail the handshake; offering none is fine.
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    },
    // Replaces the plugin's default (close every client with no code): the graceful shutdown.
    preClose: async () => {
      await core.shutdown(config.shutdownGrace);
      app.websocketServer.close();
    },
    errorHandler: (error, socket) => {
      // Frame errors were already answered by `ws` with a close code; anything else is ours.
      logger.debug({ err: error }, 'ws socket error');
      if (socket.readyState === socket.OPEN) socket.close(CLOSE.internalError.code, CLOSE.internalError.name);
    },
  });

  void app.register(async (scope) => {
    scope.get(config.ws.path, { websocket: true }, (socket, request) => {
      core.accept(socket, request.socket?.remoteAddress);
    });
  });

  return app;
}

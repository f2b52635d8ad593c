import { createServer, type Server } from 'node:net';
import type { ServiceDeps } from '@protomesh/runtime';
import type { ServiceMetrics } from '@protomesh/telemetry';
import { createMqttBroker, type MqttBroker, type MqttBrokerOptions } from './broker.js';

/** An mqtt-edge instance, built but not listening. */
export interface MqttEdge {
  readonly broker: MqttBroker;
  /** The TCP listener: a thin adapter that hands every socket to the broker. */
  readonly server: Server;
}

/** Broker limits beyond the configuration (tests use small ones). */
export type MqttEdgeOverrides = Partial<
  Pick<MqttBrokerOptions, 'maxBufferedBytes' | 'maxQueuedDeliveries' | 'maxPendingStores'>
>;

/** Builds mqtt-edge from its dependencies; the caller listens (see `startMqttEdge`). */
export function createMqttEdge(
  deps: ServiceDeps & { readonly metrics: ServiceMetrics },
  overrides: MqttEdgeOverrides = {},
): MqttEdge {
  const { config } = deps;
  const broker = createMqttBroker({
    backbone: deps.backbone,
    logger: deps.logger,
    metrics: deps.metrics,
    prefix: config.prefix,
    maxPacketSize: config.mqtt.maxPacketSize,
    connectTimeoutMs: config.mqtt.connectTimeout,
    maxKeepalive: config.mqtt.maxKeepalive,
    allowAnonymous: config.mqtt.allowAnonymous,
    ...overrides,
  });
  const server = createServer((socket) => {
    // MQTT packets are small and latency matters more than coalescing.
    socket.setNoDelay(true);
    broker.handle(socket);
  });
  return { broker, server };
}

import { readFileSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import type { Server } from 'node:net';
import type { MqttConfig } from '@protomesh/config';
import type { ServiceDeps } from '@protomesh/runtime';
import type { ServiceMetrics } from '@protomesh/telemetry';
import type { MqttAuth } from './auth.js';
import { createMqttBroker, type MqttBroker, type MqttBrokerOptions } from './broker.js';
import { TlsConfigError } from './errors.js';
import { createTcpListener, createTlsListener, createWsListener, type TlsMaterial } from './transports/listeners.js';

/** Bytes a WebSocket message may carry beyond the largest MQTT packet (several small packets may share one). */
const WS_PAYLOAD_SLACK_BYTES = 64 * 1024;

/** An mqtt-edge instance, built but not listening. */
export interface MqttEdge {
  readonly broker: MqttBroker;
  /** MQTT over TCP: a thin adapter that hands every socket to the broker. */
  readonly server: Server;
  /** MQTT over TLS, when a certificate is configured. */
  readonly tlsServer: Server | undefined;
  /** MQTT over WebSocket, when enabled (`close()` ends its WebSocket connections). */
  readonly wsServer: { readonly server: HttpServer; close(): void } | undefined;
}

/** Broker limits beyond the configuration (tests use small ones). */
export type MqttEdgeOverrides = Partial<
  Pick<
    MqttBrokerOptions,
    | 'maxBufferedBytes'
    | 'maxQueuedDeliveries'
    | 'maxPendingStores'
    | 'consumerAckWaitMs'
    | 'takeoverWaitMs'
    | 'sweepIntervalMs'
  >
>;

/**
 * Builds mqtt-edge from its dependencies; the caller listens (see `startMqttEdge`). `auth`
 * is the access policy (`loadMqttAuth(config)`); without it, anonymous access as
 * MQTT_ALLOW_ANONYMOUS says (default on) and no ACL.
 */
export function createMqttEdge(
  deps: ServiceDeps & { readonly metrics: ServiceMetrics },
  overrides: MqttEdgeOverrides = {},
  auth?: MqttAuth,
): MqttEdge {
  const { config, logger } = deps;
  const mqtt = config.mqtt;
  const tls = readTls(mqtt);
  const broker = createMqttBroker({
    backbone: deps.backbone,
    logger,
    metrics: deps.metrics,
    ...(deps.tracing && { tracing: deps.tracing }),
    prefix: config.prefix,
    layout: deps.layout,
    maxPacketSize: mqtt.maxPacketSize,
    connectTimeoutMs: mqtt.connectTimeout,
    maxKeepalive: mqtt.maxKeepalive,
    allowAnonymous: mqtt.allowAnonymous ?? true,
    ...(auth && { auth }),
    denySubscribeCode: mqtt.denySubscribeCode === '0x80' ? 0x80 : 0x87,
    maxSessionExpiry: Math.floor(mqtt.maxSessionExpiry / 1000),
    receiveMaximum: mqtt.receiveMaximum,
    topicAliasMaximum: mqtt.topicAliasMaximum,
    consumerAckWaitMs: mqtt.redeliveryDelay,
    ...overrides,
  });
  const socketOptions = { proxyProtocol: mqtt.proxyProtocol, logger };
  return {
    broker,
    server: createTcpListener(broker, socketOptions),
    tlsServer: tls && createTlsListener(broker, tls, socketOptions),
    wsServer: mqtt.ws.enabled
      ? createWsListener(broker, {
          path: mqtt.ws.path,
          trustForwardedFor: mqtt.ws.trustForwardedFor,
          maxPayload: mqtt.maxPacketSize + WS_PAYLOAD_SLACK_BYTES,
          logger,
        })
      : undefined,
  };
}

/** Reads the TLS files named by the configuration; undefined when no certificate is configured. */
function readTls(mqtt: MqttConfig): TlsMaterial | undefined {
  const { certFile, keyFile, caFile } = mqtt.tls;
  if (certFile === undefined) return undefined;
  if (keyFile === undefined) throw new TlsConfigError('MQTT_TLS_KEY_FILE', 'required when MQTT_TLS_CERT_FILE is set');
  const read = (setting: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new TlsConfigError(setting, (error as Error).message, { cause: error });
    }
  };
  return {
    cert: read('MQTT_TLS_CERT_FILE', certFile),
    key: read('MQTT_TLS_KEY_FILE', keyFile),
    ...(caFile !== undefined && { ca: read('MQTT_TLS_CA_FILE', caFile) }),
  };
}

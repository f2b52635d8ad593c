import type { Server } from 'node:net';
import type { ServiceHandle, ServiceStarter } from '@protomesh/runtime';
import { displayAddress, listen, ServiceMetrics, serveAdmin } from '@protomesh/telemetry';
import { createMqttEdge, type MqttEdgeOverrides } from './app.js';
import { loadMqttAuth } from './auth.js';

/**
 * Starts mqtt-edge: builds it, listens for MQTT on `config.mqtt.host:port` (setting
 * `MQTT_PORT`), for MQTT over TLS on `MQTT_TLS_PORT` when a certificate is configured, for
 * MQTT over WebSocket on `MQTT_WS_PORT` when enabled, and serves `/healthz`, `/readyz`,
 * `/metrics` on `config.mqtt.adminPort` (`MQTT_ADMIN_PORT`). Ready while the backbone is
 * connected and the listeners are open. `close()` is the graceful shutdown of DESIGN.md:
 * stop accepting, MQTT 5 DISCONNECT 0x8B, sessions kept for another replica.
 */
export const startMqttEdge: ServiceStarter = (deps) => mqttEdgeStarter()(deps);

/** A starter with broker limits beyond the configuration (tests use short timers). */
export function mqttEdgeStarter(overrides: MqttEdgeOverrides = {}): ServiceStarter {
  return (deps) => start(deps, overrides);
}

async function start(deps: Parameters<ServiceStarter>[0], overrides: MqttEdgeOverrides): Promise<ServiceHandle> {
  const { config, backbone, logger } = deps;
  const ownMetrics = deps.metrics === undefined;
  const metrics = deps.metrics ?? new ServiceMetrics('mqtt-edge');
  const edge = createMqttEdge({ ...deps, metrics }, overrides, await loadMqttAuth(config));
  const { broker, server } = edge;
  metrics.instruments.backboneConnected.addCallback((result) => result.observe(backbone.isReady() ? 1 : 0));

  const host = config.mqtt.host;
  const listeners: Server[] = [];
  const endpoints: Record<string, string> = {};
  const ports: Record<string, number> = {};
  let closing = false;
  let admin: Awaited<ReturnType<typeof serveAdmin>> | undefined;
  const closeListeners = () =>
    Promise.all(
      listeners.map(
        (listener) =>
          new Promise<void>((resolve) => (listener.listening ? listener.close(() => resolve()) : resolve())),
      ),
    );
  try {
    const open = async (name: string, listener: Server, port: number, setting: string, scheme: string) => {
      listeners.push(listener);
      const bound = await listen(listener, { host, port, setting });
      // After listening, accept errors (e.g. EMFILE) must not crash the process.
      listener.on('error', (error) => logger.error({ err: error, listener: name }, 'mqtt listener error'));
      ports[name] = bound;
      endpoints[name] = `${scheme}://${displayAddress(host, bound)}${name === 'ws' ? config.mqtt.ws.path : ''}`;
    };
    await open('mqtt', server, config.mqtt.port, 'MQTT_PORT', 'mqtt');
    if (edge.tlsServer) await open('mqtts', edge.tlsServer, config.mqtt.tls.port, 'MQTT_TLS_PORT', 'mqtts');
    if (edge.wsServer) await open('ws', edge.wsServer.server, config.mqtt.ws.port, 'MQTT_WS_PORT', 'ws');
    admin = await serveAdmin({
      metrics,
      isReady: () => !closing && listeners.every((l) => l.listening) && backbone.isReady(),
      host: config.adminHost,
      port: config.mqtt.adminPort,
      setting: 'MQTT_ADMIN_PORT',
    });
  } catch (error) {
    edge.wsServer?.close();
    await closeListeners();
    await broker.close(0);
    throw error;
  }
  endpoints.admin = admin.url;
  ports.admin = admin.port;

  let closed: Promise<void> | undefined;
  return {
    name: 'mqtt-edge',
    endpoints,
    ports,
    close: () => {
      closed ??= (async () => {
        closing = true;
        const listenersClosed = closeListeners();
        await broker.close(config.shutdownGrace);
        edge.wsServer?.close();
        await listenersClosed;
        await admin.close();
        if (ownMetrics) await metrics.shutdown();
      })();
      return closed;
    },
  };
}

import type { ServiceHandle, ServiceStarter } from '@protomesh/runtime';
import { displayAddress, listen, ServiceMetrics, serveAdmin } from '@protomesh/telemetry';
import { createMqttEdge } from './app.js';

/**
 * Starts mqtt-edge: builds it, listens for MQTT on `config.mqtt.host:port` (setting
 * `MQTT_PORT`) and serves `/healthz`, `/readyz`, `/metrics` on `config.mqtt.adminPort`
 * (`MQTT_ADMIN_PORT`). Ready while the backbone is connected and the listener is open.
 */
export const startMqttEdge: ServiceStarter = async (deps): Promise<ServiceHandle> => {
  const { config, backbone, logger } = deps;
  const ownMetrics = deps.metrics === undefined;
  const metrics = deps.metrics ?? new ServiceMetrics('mqtt-edge');
  const { broker, server } = createMqttEdge({ ...deps, metrics });
  metrics.instruments.backboneConnected.addCallback((result) => result.observe(backbone.isReady() ? 1 : 0));

  const port = await listen(server, { host: config.mqtt.host, port: config.mqtt.port, setting: 'MQTT_PORT' });
  // After listening, accept errors (e.g. EMFILE) must not crash the process.
  server.on('error', (error) => logger.error({ err: error }, 'mqtt listener error'));
  let closing = false;
  let admin: Awaited<ReturnType<typeof serveAdmin>>;
  try {
    admin = await serveAdmin({
      metrics,
      isReady: () => !closing && server.listening && backbone.isReady(),
      host: config.adminHost,
      port: config.mqtt.adminPort,
      setting: 'MQTT_ADMIN_PORT',
    });
  } catch (error) {
    server.close();
    await broker.close(0);
    throw error;
  }

  let closed: Promise<void> | undefined;
  return {
    name: 'mqtt-edge',
    endpoints: { mqtt: `mqtt://${displayAddress(config.mqtt.host, port)}`, admin: admin.url },
    ports: { mqtt: port, admin: admin.port },
    close: () => {
      closed ??= (async () => {
        closing = true;
        const listenerClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        await broker.close(config.shutdownGrace);
        await listenerClosed;
        await admin.close();
        if (ownMetrics) await metrics.shutdown();
      })();
      return closed;
    },
  };
};

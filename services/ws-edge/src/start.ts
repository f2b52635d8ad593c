import type { ServiceHandle, ServiceStarter } from '@protomesh/runtime';
import { displayAddress, listen, ServiceMetrics, serveAdmin } from '@protomesh/telemetry';
import { createWsEdge } from './app.js';

/**
 * Starts ws-edge: builds it, listens on `WS_HOST`:`WS_PORT` and serves the admin endpoints
 * on `WS_ADMIN_PORT`. `close()` is graceful (1012 to every client after in-flight QoS 1
 * publishes are acknowledged) and leaves the injected backbone open.
 */
export const startWsEdge: ServiceStarter = async (deps): Promise<ServiceHandle> => {
  const { config, backbone } = deps;
  const metrics = deps.metrics ?? new ServiceMetrics('ws-edge');
  const ownMetrics = deps.metrics === undefined;
  metrics.instruments.backboneConnected.addCallback((result) => result.observe(backbone.isReady() ? 1 : 0));
  const app = createWsEdge({ ...deps, metrics });
  let closing = false;
  let admin: Awaited<ReturnType<typeof serveAdmin>> | undefined;
  let port: number;
  try {
    await app.ready();
    port = await listen(app.server, { host: config.ws.host, port: config.ws.port, setting: 'WS_PORT' });
    admin = await serveAdmin({
      metrics,
      isReady: () => !closing && backbone.isReady(),
      host: config.adminHost,
      port: config.ws.adminPort,
      setting: 'WS_ADMIN_PORT',
    });
  } catch (error) {
    await app.close();
    if (ownMetrics) await metrics.shutdown();
    throw error;
  }
  const adminHandle = admin;
  let closed: Promise<void> | undefined;
  return {
    name: 'ws-edge',
    endpoints: { ws: `ws://${displayAddress(config.ws.host, port)}${config.ws.path}`, admin: adminHandle.url },
    ports: { ws: port, admin: adminHandle.port },
    close: () => {
      closed ??= (async () => {
        closing = true;
        await app.close();
        await adminHandle.close();
        if (ownMetrics) await metrics.shutdown();
      })();
      return closed;
    },
  };
};

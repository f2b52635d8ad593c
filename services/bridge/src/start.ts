import type { ServiceHandle, ServiceStarter } from '@protomesh/runtime';
import { type AdminHandle, ServiceMetrics, serveAdmin } from '@protomesh/telemetry';
import { bridgeAdminRoutes } from './admin.js';
import { createBridge } from './app.js';

/**
 * Starts a bridge replica: the admin server on `config.bridge.adminPort`
 * (`BRIDGE_ADMIN_PORT`, with `GET /routes` and `POST /routes/test`), then the routes
 * (`BRIDGE_ROUTES`), the QoS 0 subscriptions and this replica's share of the QoS 1 partitions.
 */
export const startBridge: ServiceStarter = async (deps): Promise<ServiceHandle> => {
  const { config } = deps;
  const metrics = deps.metrics ?? new ServiceMetrics('bridge');
  const bridge = createBridge({ ...deps, metrics });
  const admin: AdminHandle = await serveAdmin({
    metrics,
    isReady: () => bridge.isReady(),
    host: config.adminHost,
    port: config.bridge.adminPort,
    setting: 'BRIDGE_ADMIN_PORT',
    extraRoutes: bridgeAdminRoutes(bridge, { partitions: config.bridge.partitions, maxHops: config.bridge.maxHops }),
  });
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      try {
        await bridge.close();
      } finally {
        await admin.close();
        if (!deps.metrics) await metrics.shutdown();
      }
    })();
    return closing;
  };
  try {
    await bridge.start();
  } catch (error) {
    await close();
    throw error;
  }
  return { name: 'bridge', endpoints: { admin: admin.url }, ports: { admin: admin.port }, close };
};

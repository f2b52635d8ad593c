import { type AdminRoutes, createAdminServer } from './admin-server.js';
import { displayAddress, listen } from './listen.js';
import type { ServiceMetrics } from './metrics.js';

export interface ServeAdminOptions {
  readonly metrics: ServiceMetrics;
  readonly isReady: () => boolean;
  readonly host: string;
  readonly port: number;
  /** Setting named when the port is taken, e.g. `MQTT_ADMIN_PORT`. */
  readonly setting: string;
  /** Extra routes of the service, asked before the standard ones. */
  readonly extraRoutes?: AdminRoutes;
}

/** A listening admin server. */
export interface AdminHandle {
  readonly port: number;
  /** `http://host:port` */
  readonly url: string;
  close(): Promise<void>;
}

/** Creates and listens the admin server of one service (see {@link createAdminServer}). */
export async function serveAdmin(options: ServeAdminOptions): Promise<AdminHandle> {
  const server = createAdminServer({
    metrics: options.metrics,
    isReady: options.isReady,
    ...(options.extraRoutes ? { extraRoutes: options.extraRoutes } : {}),
  });
  const port = await listen(server, { host: options.host, port: options.port, setting: options.setting });
  return {
    port,
    url: `http://${displayAddress(options.host, port)}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

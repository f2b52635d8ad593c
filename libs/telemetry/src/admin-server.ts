import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ServiceMetrics } from './metrics.js';

/**
 * A service's own admin routes, asked first for every request: return true when it
 * answered (or will answer) the request, false to fall through to the standard routes.
 */
export type AdminRoutes = (request: IncomingMessage, response: ServerResponse) => boolean;

export interface AdminServerOptions {
  readonly metrics: ServiceMetrics;
  /** Backbone connected and accepting traffic. */
  readonly isReady: () => boolean;
  /** Extra routes of the service (e.g. the bridge's `/routes`); any method. */
  readonly extraRoutes?: AdminRoutes;
}

const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * The admin HTTP surface of a service, returned un-listened: `/healthz` (the process is
 * alive), `/readyz` (503 until the backbone is connected and the service accepts traffic)
 * and `/metrics` (Prometheus text), after the service's own `extraRoutes` when given.
 */
export function createAdminServer(options: AdminServerOptions): Server {
  return createServer((request, response) => {
    if (options.extraRoutes?.(request, response)) return;
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      json(response, 200, { status: 'ok' });
    } else if (path === '/readyz') {
      const ready = options.isReady();
      json(response, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready' });
    } else if (path === '/metrics') {
      options.metrics.render().then(
        (text) => response.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(text),
        (error: unknown) => json(response, 500, { error: String(error) }),
      );
    } else {
      json(response, 404, { error: 'not found' });
    }
  });
}

function json(response: import('node:http').ServerResponse, status: number, body: object): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

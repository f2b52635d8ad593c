/**
 * HTTP tracing of ws-edge's Fastify routes (the publish API, the demo page) with
 * `@fastify/otel`, the successor of the retired `@opentelemetry/instrumentation-fastify`
 * (docs/telemetry.md "ws-edge" step 1). WebSocket upgrades do not go through the router, so
 * they get no request span; each WebSocket message has its own trace.
 */
import { FastifyOtelInstrumentation } from '@fastify/otel';
import type { Tracing } from '@protomesh/telemetry';
import type { FastifyPluginCallback } from 'fastify';

/** Paths never traced: health checks and scrapes would drown the requests worth seeing. */
export const UNTRACED_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * The `@fastify/otel` plugin on this instance's tracer provider (never the global one: several
 * services share a process in tests and in `npm start`). Each request gets a SERVER span
 * `request` that continues an incoming `traceparent` header, plus handler spans. Register it
 * before any route: it instruments routes as they are declared (its `onRoute` hook).
 */
export function httpTracingPlugin(tracing: Tracing): FastifyPluginCallback {
  const otel = new FastifyOtelInstrumentation({
    // `url` is the route pattern when a route is declared and the request URL (query included) per request.
    ignorePaths: ({ url }) => UNTRACED_PATHS.has(pathOf(url)),
  });
  otel.setTracerProvider(tracing.provider);
  return otel.plugin();
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

import type { Backbone, MeshLayout } from '@protomesh/backbone';
import type { MeshConfig } from '@protomesh/config';
import type { Logger, ServiceMetrics, Tracing } from '@protomesh/telemetry';

/** What every service is built from; the backbone is injected, never created inside a service. */
export interface ServiceDeps {
  readonly config: MeshConfig;
  readonly backbone: Backbone;
  /** Stream, bucket and subject names of this mesh, already provisioned. */
  readonly layout: MeshLayout;
  readonly logger: Logger;
  /** This instance's metrics (a service creates its own when absent). */
  readonly metrics?: ServiceMetrics;
  /** This instance's tracing; `tracing.enabled` is false when nothing is exported (absent = off). */
  readonly tracing?: Tracing;
}

/** A started service instance. */
export interface ServiceHandle {
  readonly name: string;
  /** Where to reach it, e.g. `{ mqtt: 'mqtt://localhost:1883', admin: 'http://localhost:9101' }`. */
  readonly endpoints: Readonly<Record<string, string>>;
  /** Bound ports by endpoint name (useful when configured with port 0). */
  readonly ports: Readonly<Record<string, number>>;
  /**
   * Graceful stop: stop accepting, tell clients to go elsewhere, drain in-flight work,
   * close listeners. Does not close the injected backbone.
   */
  close(): Promise<void>;
}

/** Starts one service: builds it from its dependencies and listens on the configured ports. */
export type ServiceStarter = (deps: ServiceDeps) => Promise<ServiceHandle>;

import type { Backbone, MeshLayout } from '@protomesh/backbone';
import type { Logger, Tracing } from '@protomesh/telemetry';
import type { RetainedWriter } from './carry.js';
import type { BridgeMetrics } from './metrics.js';

/** What both relays (QoS 0 and QoS 1) work with. */
export interface RelayContext {
  readonly backbone: Backbone;
  readonly layout: MeshLayout;
  readonly metrics: BridgeMetrics;
  readonly logger: Logger;
  /** This instance's tracing; all span work sits behind `tracing.enabled`. */
  readonly tracing: Tracing;
  /** This replica's id (`messaging.client.id` of the bridge's spans). */
  readonly replicaId: string;
  readonly retained: RetainedWriter;
  /** Most bridge crossings per message (`BRIDGE_MAX_HOPS`). */
  readonly maxHops: number;
  /** Epoch milliseconds (message expiry). */
  readonly now: () => number;
}

import type { Backbone, MeshLayout } from '@protomesh/backbone';
import type { Logger } from '@protomesh/telemetry';
import type { BridgeMetrics } from './metrics.js';

/** What both relays (QoS 0 and QoS 1) work with. */
export interface RelayContext {
  readonly backbone: Backbone;
  readonly layout: MeshLayout;
  readonly metrics: BridgeMetrics;
  readonly logger: Logger;
  /** Epoch milliseconds (message expiry). */
  readonly now: () => number;
}

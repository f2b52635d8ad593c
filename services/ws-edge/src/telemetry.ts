import type { ServiceMetrics } from '@protomesh/telemetry';
import type { WsQos } from './protocol.js';

type Counter = ReturnType<ServiceMetrics['meter']['createCounter']>;

const TIER = { tier: 'ws' } as const;
const CONNECTION = { tier: 'ws', protocol: 'ws' } as const;
const BY_QOS = [
  { tier: 'ws', qos: 0 },
  { tier: 'ws', qos: 1 },
] as const;

/**
 * The named telemetry points of ws-edge, on the shared mesh instruments (so names and
 * attributes match the other tiers) plus one counter of its own. Attribute objects are
 * built once: these run per message.
 */
export class WsTelemetry {
  readonly #metrics: ServiceMetrics;
  readonly #requestErrors: Counter;
  readonly #slowConsumers: Counter;

  constructor(metrics: ServiceMetrics) {
    this.#metrics = metrics;
    this.#requestErrors = metrics.meter.createCounter('protomesh_ws_request_errors', {
      description: 'Error frames sent to WebSocket clients, by code',
    });
    this.#slowConsumers = metrics.meter.createCounter('protomesh_ws_slow_consumers', {
      description: 'WebSocket clients closed with 4008 because they read too slowly',
    });
  }

  connectionOpened(): void {
    this.#metrics.instruments.connections.add(1, CONNECTION);
  }

  connectionClosed(): void {
    this.#metrics.instruments.connections.add(-1, CONNECTION);
  }

  /** A client message accepted for the backbone. */
  published(qos: WsQos, bytes: number): void {
    this.#metrics.instruments.messagesIn.add(1, BY_QOS[qos]);
    this.#metrics.instruments.bytesIn.add(bytes, TIER);
  }

  /** One backbone message written to `count` clients. */
  delivered(qos: WsQos, count: number, bytes: number): void {
    this.#metrics.instruments.messagesOut.add(count, BY_QOS[qos]);
    this.#metrics.instruments.bytesOut.add(count * bytes, TIER);
  }

  /** An error frame was sent. */
  requestRejected(code: string): void {
    this.#requestErrors.add(1, { tier: 'ws', code });
  }

  /** A connection was closed for bad input (4400, 1009, 1002, 1007) or as a slow consumer (4008). */
  closedForBadInput(code: string): void {
    this.#metrics.instruments.protocolErrors.add(1, { tier: 'ws', code });
  }

  slowConsumer(): void {
    this.#slowConsumers.add(1, TIER);
  }
}

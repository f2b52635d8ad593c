import type { ServiceMetrics } from '@protomesh/telemetry';
import type { WsQos } from './protocol.js';

type Counter = ReturnType<ServiceMetrics['meter']['createCounter']>;

const TIER = { tier: 'ws' } as const;
const RECOVERED = { tier: 'ws', recovered: 'true' } as const;
const NOT_RECOVERED = { tier: 'ws', recovered: 'false' } as const;
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
  readonly #rateLimited: Counter;
  readonly #recoveries: Counter;
  readonly #apiPublishes: Counter;

  constructor(metrics: ServiceMetrics) {
    this.#metrics = metrics;
    this.#requestErrors = metrics.meter.createCounter('protomesh_ws_request_errors', {
      description: 'Error frames sent to WebSocket clients, by code',
    });
    this.#slowConsumers = metrics.meter.createCounter('protomesh_ws_slow_consumers', {
      description: 'WebSocket clients closed with 4008 because they read too slowly',
    });
    this.#rateLimited = metrics.meter.createCounter('protomesh_ws_rate_limited', {
      description: 'WebSocket publishes refused by the per-connection rate limit',
    });
    this.#recoveries = metrics.meter.createCounter('protomesh_ws_recoveries', {
      description: 'Subscriptions with a recovery position, by result (recovered true or false)',
    });
    this.#apiPublishes = metrics.meter.createCounter('protomesh_ws_api_publishes', {
      description: 'Messages published through POST /api/v1/publish, by result',
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

  rateLimited(): void {
    this.#rateLimited.add(1, TIER);
  }

  /** A subscription asked to recover from a position; `recovered` false: it was no longer retained. */
  recovery(recovered: boolean): void {
    this.#recoveries.add(1, recovered ? RECOVERED : NOT_RECOVERED);
  }

  /** One message of an HTTP API request, `ok` or an error code. */
  apiPublished(result: string): void {
    this.#apiPublishes.add(1, { tier: 'ws', result });
  }
}

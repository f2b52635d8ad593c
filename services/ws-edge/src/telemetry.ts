import { deliveryLatencySeconds, type ServiceMetrics } from '@protomesh/telemetry';
import type { WsQos } from './protocol.js';

type Counter = ReturnType<ServiceMetrics['meter']['createCounter']>;

const TIER = { tier: 'ws' } as const;
const RECOVERED = { tier: 'ws', recovered: 'true' } as const;
const NOT_RECOVERED = { tier: 'ws', recovered: 'false' } as const;
// `version`: the Protomesh WebSocket protocol version (`protomesh.v1`), as MQTT connections carry theirs.
const CONNECTION = { tier: 'ws', protocol: 'ws', version: 'v1' } as const;
const BY_QOS = [
  { tier: 'ws', qos: 0 },
  { tier: 'ws', qos: 1 },
] as const;
/** `protomesh_delivery_latency_seconds` attributes by publishing tier, then QoS as delivered. */
const LATENCY = {
  ws: [
    { tier: 'ws', origin: 'ws', qos: 0 },
    { tier: 'ws', origin: 'ws', qos: 1 },
  ],
  mqtt: [
    { tier: 'ws', origin: 'mqtt', qos: 0 },
    { tier: 'ws', origin: 'mqtt', qos: 1 },
  ],
} as const;
/** Acknowledged subscriptions resume from a position: the `recovery` consumer kind of docs/telemetry.md. */
const REDELIVERY = { tier: 'ws', consumer: 'recovery' } as const;

/** Why credentials or an action were refused (`reason` of `protomesh_auth_failures_total`). */
export type AuthFailureReason = 'bad_credentials' | 'expired' | 'missing_credentials' | 'acl_denied';

const AUTH_FAILURE: Readonly<Record<AuthFailureReason, { readonly tier: 'ws'; readonly reason: AuthFailureReason }>> = {
  bad_credentials: { tier: 'ws', reason: 'bad_credentials' },
  expired: { tier: 'ws', reason: 'expired' },
  missing_credentials: { tier: 'ws', reason: 'missing_credentials' },
  acl_denied: { tier: 'ws', reason: 'acl_denied' },
};

/**
 * The named telemetry points of ws-edge, on the shared mesh instruments (so names and
 * attributes match the other tiers) plus counters of its own. Attribute objects are
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

  /**
   * Publish-to-delivery latency of one backbone message delivered now (once per message and
   * fan-out, not per client); nothing when it carries no `Mesh-Published-At`.
   */
  deliveryLatency(publishedAt: number | undefined, origin: 'mqtt' | 'ws' | undefined, qos: WsQos): void {
    const seconds = deliveryLatencySeconds(publishedAt);
    if (seconds !== undefined) this.#metrics.instruments.deliveryLatency.record(seconds, LATENCY[origin ?? 'ws'][qos]);
  }

  /** A JetStream message an acknowledged subscription gets again (delivery count > 1). */
  redelivered(): void {
    this.#metrics.instruments.redeliveries.add(1, REDELIVERY);
  }

  /** Refused credentials (token, API key) or an action the credentials do not allow. */
  authFailure(reason: AuthFailureReason): void {
    this.#metrics.instruments.authFailures.add(1, AUTH_FAILURE[reason]);
  }

  /** An error frame was sent. */
  requestRejected(code: string): void {
    this.#requestErrors.add(1, { tier: 'ws', code });
  }

  /** A connection was closed for bad input (4400, 1009, 1002, 1007) or as a slow consumer (4008). */
  closedForBadInput(code: string): void {
    this.#metrics.instruments.protocolErrors.add(1, { tier: 'ws', code });
  }

  /** A client closed with 4008: the ws counter and the cross-tier `protomesh_slow_consumers_dropped`. */
  slowConsumer(): void {
    this.#slowConsumers.add(1, TIER);
    this.#metrics.instruments.slowConsumersDropped.add(1, TIER);
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

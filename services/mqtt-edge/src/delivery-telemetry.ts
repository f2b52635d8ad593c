/**
 * Telemetry of deliveries (docs/telemetry.md, mqtt-edge): the publish-to-delivery latency
 * once per backbone message and local fan-out, and — with tracing on — one CONSUMER
 * `deliver` span per backbone message (never one per recipient) whose trace context MQTT 5
 * recipients get in their user properties (W3C Trace Context §3.2: each hop replaces the
 * parent; every other property keeps its order [MQTT-3.3.2-18]).
 */
import type { MessageMeta } from '@protomesh/envelope';
import {
  deliveryLatencySeconds,
  injectTraceHeaders,
  startDeliverSpan,
  type Tracing,
  withTraceUserProperties,
} from '@protomesh/telemetry';
import type { MqttInstruments } from './metrics.js';

/** A started span (the telemetry library's type, without a direct OpenTelemetry dependency). */
export type Span = ReturnType<typeof startDeliverSpan>;

/** Latency attributes by origin tier and QoS, one frozen object each (no allocation per message). */
const LATENCY_ATTRIBUTES = {
  mqtt: [0, 1, 2].map((qos) => Object.freeze({ tier: 'mqtt', origin: 'mqtt', qos })),
  ws: [0, 1, 2].map((qos) => Object.freeze({ tier: 'mqtt', origin: 'ws', qos })),
} as const;

/** Records the publish-to-delivery latency of one backbone message (when it carries `publishedAt`). */
export function recordDeliveryLatency(instruments: MqttInstruments, meta: MessageMeta, qos: 0 | 1 | 2): void {
  const latency = deliveryLatencySeconds(meta.publishedAt);
  if (latency !== undefined)
    instruments.deliveryLatency.record(latency, LATENCY_ATTRIBUTES[meta.originTier ?? 'mqtt'][qos]);
}

/** What a deliver span describes. */
export interface DeliveryDescription {
  readonly topic: string;
  readonly qos: 0 | 1 | 2;
  readonly recipients: number;
  readonly clientId?: string | undefined;
  readonly messageId?: number | undefined;
  readonly bodySize: number;
}

/**
 * Starts the deliver span of one backbone message (call only when `tracing.enabled`), child
 * of the trace the message carries; returns it with the metadata to deliver, whose user
 * properties carry the span's context. End the span after the recipients' enqueue calls.
 */
export function startDelivery(
  tracing: Tracing,
  meta: MessageMeta,
  delivery: DeliveryDescription,
): { readonly span: Span; readonly meta: MessageMeta } {
  const span = startDeliverSpan(tracing, {
    system: 'mqtt',
    destination: delivery.topic,
    qos: delivery.qos,
    tier: 'mqtt',
    recipients: delivery.recipients,
    clientId: delivery.clientId,
    messageId: delivery.messageId,
    bodySize: delivery.bodySize,
    parent: meta,
  });
  return {
    span,
    meta: { ...meta, userProperties: withTraceUserProperties(meta.userProperties, injectTraceHeaders(span)) },
  };
}

import type { Attributes, Counter, Histogram, Meter, ObservableGauge, UpDownCounter } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { batchedCounter, flushHotInstruments, sampledHistogram } from './hot-instruments.js';
import { otlpSignalUrl, serviceResource, type TelemetrySettings } from './otel-settings.js';

/** OTLP metrics push period when none is configured, in milliseconds (OpenTelemetry default). */
export const DEFAULT_METRIC_EXPORT_INTERVAL_MS = 60_000;

/**
 * Bucket bounds of the publish-to-delivery latency histogram, in seconds: 0.5 ms to 10 s,
 * roughly ×2.5 per step, so both in-process hops (sub-millisecond) and JetStream redelivery
 * or offline catch-up (seconds) resolve.
 */
export const DELIVERY_LATENCY_BUCKETS_S = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;

/** Metric export options of one service instance (the OTLP part of {@link TelemetrySettings}). */
export interface MetricsOptions extends TelemetrySettings {
  /**
   * Where the periodic reader pushes instead of OTLP/HTTP (tests). Anything with
   * `export`/`forceFlush`/`shutdown`, as the SDK's `PushMetricExporter`.
   */
  readonly exporter?: ConstructorParameters<typeof PeriodicExportingMetricReader>[0]['exporter'];
}

/**
 * The metrics of one service instance, through the OpenTelemetry SDK and rendered in the
 * Prometheus text format on `/metrics`, and pushed over OTLP/HTTP when an endpoint is set
 * (`OTEL_EXPORTER_OTLP_ENDPOINT` or `..._METRICS_ENDPOINT`: a PeriodicExportingMetricReader
 * on the same MeterProvider). Each instance has its own MeterProvider (not the global
 * one), so several services in one process keep separate counters.
 */
export class ServiceMetrics {
  readonly meter: Meter;
  readonly instruments: MeshInstruments;
  readonly #provider: MeterProvider;
  readonly #reader: PrometheusExporter;
  readonly #serializer = new PrometheusSerializer(undefined, false, undefined, true, true);

  /** True when metrics are also pushed over OTLP. */
  readonly pushing: boolean;

  constructor(service: string, options: MetricsOptions = {}) {
    this.#reader = new PrometheusExporter({ preventServerStart: true });
    const url = options.metricsExporter === 'none' ? undefined : otlpSignalUrl(options, 'metrics');
    const exporter = options.exporter ?? (url ? new OTLPMetricExporter({ url }) : undefined);
    let push: PeriodicExportingMetricReader | undefined;
    if (exporter) {
      const interval = options.metricExportInterval ?? DEFAULT_METRIC_EXPORT_INTERVAL_MS;
      push = new PeriodicExportingMetricReader({
        exporter,
        exportIntervalMillis: interval,
        // The SDK requires timeout <= interval; 30 s is its default timeout.
        exportTimeoutMillis: Math.min(interval, 30_000),
      });
    }
    this.pushing = push !== undefined;
    this.#provider = new MeterProvider({
      resource: serviceResource(service, options),
      readers: push ? [this.#reader, push] : [this.#reader],
    });
    this.meter = this.#provider.getMeter('protomesh');
    this.instruments = createMeshInstruments(this.meter);
  }

  /** The current values in the Prometheus text exposition format. */
  async render(): Promise<string> {
    flushHotInstruments();
    const { resourceMetrics } = await this.#reader.collect();
    return this.#serializer.serialize(resourceMetrics);
  }

  /** Pushes the current values over OTLP now (no-op without an OTLP reader). */
  async forceFlush(): Promise<void> {
    flushHotInstruments();
    await this.#provider.forceFlush();
  }

  /** Pushes a last time and stops. */
  async shutdown(): Promise<void> {
    flushHotInstruments();
    await this.#provider.shutdown();
  }
}

/**
 * Seconds from `publishedAt` (epoch ms, `MessageMeta.publishedAt`, set by the edge that
 * accepted the publish) to `now`, for {@link MeshInstruments.deliveryLatency}; undefined
 * when the message carries no timestamp (plain NATS publishers). Clock skew between hosts
 * can make it negative: clamped to 0.
 */
export function deliveryLatencySeconds(publishedAt: number | undefined, now = Date.now()): number | undefined {
  if (publishedAt === undefined) return undefined;
  return Math.max(0, now - publishedAt) / 1000;
}

/** The instruments every tier shares, so names and attributes agree across services. */
export interface MeshInstruments {
  /** Open client connections; attributes `tier`, `protocol` (e.g. `mqtt`, `ws`) and `version`. */
  readonly connections: UpDownCounter<Attributes>;
  /** Messages received from clients or the backbone; attributes `tier`, `qos`. */
  readonly messagesIn: Counter<Attributes>;
  /** Messages delivered to clients or the backbone; attributes `tier`, `qos`. */
  readonly messagesOut: Counter<Attributes>;
  /** Payload bytes in; attribute `tier`. */
  readonly bytesIn: Counter<Attributes>;
  /** Payload bytes out; attribute `tier`. */
  readonly bytesOut: Counter<Attributes>;
  /** Connections closed for bad input; attributes `tier`, `code`. */
  readonly protocolErrors: Counter<Attributes>;
  /** 1 while the backbone is connected. */
  readonly backboneConnected: ObservableGauge<Attributes>;
  /**
   * Seconds from the publish accepted by an edge to the delivery to one client; attributes
   * `tier` (delivering), `origin` (publishing tier), `qos` (as delivered). Record with
   * {@link deliveryLatencySeconds}.
   */
  readonly deliveryLatency: Histogram<Attributes>;
  /** JetStream messages delivered again (delivery count > 1); attributes `tier`, `consumer` (`session`, `route`, `recovery`, …). */
  readonly redeliveries: Counter<Attributes>;
  /** Rejected credentials or denied actions; attributes `tier`, `reason` (e.g. `bad_credentials`, `expired`, `acl_denied`). */
  readonly authFailures: Counter<Attributes>;
  /** Clients disconnected because they did not read fast enough; attribute `tier`. */
  readonly slowConsumersDropped: Counter<Attributes>;
}

function createMeshInstruments(meter: Meter): MeshInstruments {
  return {
    connections: meter.createUpDownCounter('protomesh_connections', { description: 'Open client connections' }),
    // The per-message instruments are batched per event-loop turn (hot-instruments.ts).
    messagesIn: batchedCounter(meter.createCounter('protomesh_messages_in', { description: 'Messages received' })),
    messagesOut: batchedCounter(meter.createCounter('protomesh_messages_out', { description: 'Messages delivered' })),
    bytesIn: batchedCounter(
      meter.createCounter('protomesh_bytes_in', { description: 'Payload bytes received', unit: 'By' }),
    ),
    bytesOut: batchedCounter(
      meter.createCounter('protomesh_bytes_out', { description: 'Payload bytes delivered', unit: 'By' }),
    ),
    protocolErrors: meter.createCounter('protomesh_protocol_errors', {
      description: 'Connections closed for bad input',
    }),
    backboneConnected: meter.createObservableGauge('protomesh_backbone_connected', {
      description: '1 while the backbone is connected',
    }),
    deliveryLatency: sampledHistogram(
      meter.createHistogram('protomesh_delivery_latency_seconds', {
        description: 'Publish-to-delivery latency (sampled: the first message per event-loop turn)',
        unit: 's',
        advice: { explicitBucketBoundaries: [...DELIVERY_LATENCY_BUCKETS_S] },
      }),
    ),
    redeliveries: meter.createCounter('protomesh_jetstream_redeliveries', {
      description: 'JetStream messages delivered again',
    }),
    authFailures: meter.createCounter('protomesh_auth_failures', {
      description: 'Rejected credentials or denied actions',
    }),
    slowConsumersDropped: meter.createCounter('protomesh_slow_consumers_dropped', {
      description: 'Clients disconnected because they read too slowly',
    }),
  };
}

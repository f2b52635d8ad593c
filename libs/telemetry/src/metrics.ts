import type { Attributes, Counter, Meter, ObservableGauge, UpDownCounter } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';

/**
 * The metrics of one service instance, through the OpenTelemetry SDK and rendered in the
 * Prometheus text format on `/metrics`. Each instance has its own MeterProvider (not the
 * global one), so several services in one process keep separate counters.
 */
export class ServiceMetrics {
  readonly meter: Meter;
  readonly instruments: MeshInstruments;
  readonly #provider: MeterProvider;
  readonly #reader: PrometheusExporter;
  readonly #serializer = new PrometheusSerializer(undefined, false, undefined, true, true);

  constructor(service: string) {
    this.#reader = new PrometheusExporter({ preventServerStart: true });
    this.#provider = new MeterProvider({
      resource: resourceFromAttributes({ 'service.name': `protomesh-${service}` }),
      readers: [this.#reader],
    });
    this.meter = this.#provider.getMeter('protomesh');
    this.instruments = createMeshInstruments(this.meter);
  }

  /** The current values in the Prometheus text exposition format. */
  async render(): Promise<string> {
    const { resourceMetrics } = await this.#reader.collect();
    return this.#serializer.serialize(resourceMetrics);
  }

  async shutdown(): Promise<void> {
    await this.#provider.shutdown();
  }
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
}

function createMeshInstruments(meter: Meter): MeshInstruments {
  return {
    connections: meter.createUpDownCounter('protomesh_connections', { description: 'Open client connections' }),
    messagesIn: meter.createCounter('protomesh_messages_in', { description: 'Messages received' }),
    messagesOut: meter.createCounter('protomesh_messages_out', { description: 'Messages delivered' }),
    bytesIn: meter.createCounter('protomesh_bytes_in', { description: 'Payload bytes received', unit: 'By' }),
    bytesOut: meter.createCounter('protomesh_bytes_out', { description: 'Payload bytes delivered', unit: 'By' }),
    protocolErrors: meter.createCounter('protomesh_protocol_errors', {
      description: 'Connections closed for bad input',
    }),
    backboneConnected: meter.createObservableGauge('protomesh_backbone_connected', {
      description: '1 while the backbone is connected',
    }),
  };
}

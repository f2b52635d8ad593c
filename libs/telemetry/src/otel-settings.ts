import { randomUUID } from 'node:crypto';
import type { Attributes } from '@opentelemetry/api';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';

/** `OTEL_TRACES_SAMPLER` values (OpenTelemetry SDK environment specification). */
export type SamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';

/**
 * OpenTelemetry export and sampling settings of one service instance. Structurally equal to
 * `config.telemetry` of `@protomesh/config` (the `OTEL_*` variables), so services pass
 * `{ service: 'mqtt-edge', ...config.telemetry }`. Every field is optional: nothing set
 * means no OTLP export and tracing off.
 */
export interface TelemetrySettings {
  /** OTLP/HTTP base URL; `/v1/traces` and `/v1/metrics` are appended (`OTEL_EXPORTER_OTLP_ENDPOINT`). */
  readonly otlpEndpoint?: string | undefined;
  /** Full traces URL, used as is (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`). */
  readonly tracesEndpoint?: string | undefined;
  /** Full metrics URL, used as is (`OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`). */
  readonly metricsEndpoint?: string | undefined;
  /** `none` disables tracing even with an endpoint (`OTEL_TRACES_EXPORTER`). */
  readonly tracesExporter?: 'otlp' | 'none' | undefined;
  /** `none` disables the OTLP metrics push (`OTEL_METRICS_EXPORTER`); `/metrics` stays. */
  readonly metricsExporter?: 'otlp' | 'none' | undefined;
  /** Default `parentbased_always_on`, as in the OpenTelemetry SDKs (`OTEL_TRACES_SAMPLER`). */
  readonly sampler?: SamplerName | undefined;
  /** Ratio 0..1 of the `traceidratio` samplers, default 1 (`OTEL_TRACES_SAMPLER_ARG`). */
  readonly samplerArg?: number | undefined;
  /** `service.name` override (`OTEL_SERVICE_NAME`); pass it only when the process runs one service. */
  readonly serviceName?: string | undefined;
  /** `key=value,…`, values percent-encoded (`OTEL_RESOURCE_ATTRIBUTES`). */
  readonly resourceAttributes?: string | undefined;
  /** OTLP metrics push period in milliseconds, default 60,000 (`OTEL_METRIC_EXPORT_INTERVAL`). */
  readonly metricExportInterval?: number | undefined;
}

/** Resource attribute `service.namespace` when none is configured. */
export const DEFAULT_SERVICE_NAMESPACE = 'protomesh';

/**
 * `OTEL_RESOURCE_ATTRIBUTES` → attributes. Malformed pairs are skipped (the configuration
 * already validated the shape); values are percent-decoded as the specification says.
 */
export function parseResourceAttributes(text: string | undefined): Attributes {
  const attributes: Attributes = {};
  if (!text) return attributes;
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const key = pair.slice(0, eq).trim();
    const raw = pair.slice(eq + 1).trim();
    if (!key) continue;
    try {
      attributes[key] = decodeURIComponent(raw);
    } catch {
      attributes[key] = raw;
    }
  }
  return attributes;
}

/**
 * The resource of one service instance: `service.name` is `serviceName`, else the
 * `service.name` of `resourceAttributes`, else `service` (e.g. `mqtt-edge`);
 * `service.namespace` defaults to `protomesh`; `service.instance.id` is unique per instance
 * so replicas (and several services in one process) stay apart.
 */
export function serviceResource(service: string, settings: TelemetrySettings = {}): Resource {
  const extra = parseResourceAttributes(settings.resourceAttributes);
  return resourceFromAttributes({
    'service.namespace': DEFAULT_SERVICE_NAMESPACE,
    'service.instance.id': randomUUID(),
    ...extra,
    'service.name': settings.serviceName ?? (extra['service.name'] as string | undefined) ?? service,
  });
}

/**
 * The OTLP/HTTP URL of one signal: the signal's own endpoint as is, else the base endpoint
 * with `/v1/<signal>` appended (OTLP exporter specification), else undefined.
 */
export function otlpSignalUrl(settings: TelemetrySettings, signal: 'traces' | 'metrics'): string | undefined {
  const own = signal === 'traces' ? settings.tracesEndpoint : settings.metricsEndpoint;
  if (own) return own;
  if (!settings.otlpEndpoint) return undefined;
  return `${settings.otlpEndpoint.replace(/\/+$/, '')}/v1/${signal}`;
}

import { bytes, duration, expected, integer, natsUrls, oneOf, type Parser, text } from './parse.js';
import { host, setting } from './setting.js';

/** How long class-1 messages stay in the tier streams, in milliseconds (24 h). */
export const DEFAULT_STREAM_MAX_AGE_MS = 24 * 3_600_000;
/** How long a graceful shutdown may take before connections are cut, in milliseconds. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** How often metrics are pushed over OTLP, in milliseconds (the OpenTelemetry default, 60 s). */
export const DEFAULT_METRIC_EXPORT_INTERVAL_MS = 60_000;

/** `OTEL_TRACES_SAMPLER` values Protomesh supports (OpenTelemetry SDK environment specification). */
const TRACE_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

/** An http(s) URL, as the OTLP/HTTP exporters take it. */
const httpUrl: Parser<string> = (raw) => {
  if (typeof raw === 'string' && /^https?:\/\/[^\s/]+(\/\S*)?$/.test(raw.trim())) return raw.trim();
  return expected('an http:// or https:// URL such as http://otel-collector:4318');
};

/** A ratio from 0 to 1 (sampling probability). */
const ratio: Parser<number> = (raw) => {
  const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw.trim()) : raw;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= 1) return value;
  return expected('a number from 0 to 1, such as 0.1');
};

/** `key=value` pairs separated by commas (W3C Baggage syntax, values percent-encoded). */
const keyValues = text(
  /^\s*[^\s=,]+\s*=[^,]*(,\s*[^\s=,]+\s*=[^,]*)*$/,
  'key=value pairs separated by commas, such as service.namespace=prod,k8s.pod.name=mesh-0',
);

/** Settings every service shares: backbone, naming, logs, shutdown, admin address. */
export const CORE_SETTINGS = [
  setting(
    'nats.url',
    'NATS_URL',
    natsUrls,
    undefined,
    'NATS server URL(s), comma-separated. Unset: the embedded in-process backbone.',
  ),
  setting(
    'nats.name',
    'NATS_CLIENT_NAME',
    text(),
    undefined,
    'Connection name shown by the NATS server (default: the service name).',
  ),
  setting('nats.user', 'NATS_USER', text(), undefined, 'NATS user name.'),
  setting('nats.pass', 'NATS_PASS', text(), undefined, 'NATS password.'),
  setting('nats.token', 'NATS_TOKEN', text(), undefined, 'NATS authentication token.'),
  setting(
    'prefix',
    'MESH_PREFIX',
    text(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'NATS tokens of letters, digits, _ or - joined by dots'),
    'mesh',
    'First subject token(s) of every mesh subject; several meshes can share one NATS account.',
  ),
  setting(
    'jetstream.replicas',
    'JETSTREAM_REPLICAS',
    integer(1, 5),
    1,
    'Replicas of each stream and bucket (3 in production clusters).',
  ),
  setting(
    'jetstream.maxAge',
    'STREAM_MAX_AGE',
    duration(0),
    DEFAULT_STREAM_MAX_AGE_MS,
    'How long QoS 1/2 messages are kept in the tier streams (0 = unlimited).',
  ),
  setting(
    'jetstream.maxBytes',
    'STREAM_MAX_BYTES',
    bytes(0),
    0,
    'Size limit of each tier stream (0 = unlimited on NATS; 256 MiB on the embedded backbone, which keeps streams in memory).',
  ),
  setting('logLevel', 'LOG_LEVEL', oneOf(LOG_LEVELS), 'info', 'Log level.'),
  setting(
    'shutdownGrace',
    'SHUTDOWN_GRACE',
    duration(0, 600_000),
    DEFAULT_SHUTDOWN_GRACE_MS,
    'Time allowed to drain on SIGTERM before connections are cut.',
  ),
  setting('adminHost', 'ADMIN_HOST', host, '0.0.0.0', 'Address the admin endpoints listen on.'),
  setting(
    'telemetry.otlpEndpoint',
    'OTEL_EXPORTER_OTLP_ENDPOINT',
    httpUrl,
    undefined,
    'OTLP/HTTP base URL (traces to `/v1/traces`, metrics to `/v1/metrics`). Unset: no OTLP export; `/metrics` is always served.',
  ),
  setting(
    'telemetry.tracesEndpoint',
    'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    httpUrl,
    undefined,
    'Full OTLP/HTTP URL for traces, used as is (overrides the base URL).',
  ),
  setting(
    'telemetry.metricsEndpoint',
    'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT',
    httpUrl,
    undefined,
    'Full OTLP/HTTP URL for metrics, used as is (overrides the base URL).',
  ),
  setting(
    'telemetry.tracesExporter',
    'OTEL_TRACES_EXPORTER',
    oneOf(['otlp', 'none'] as const),
    'otlp',
    '`none` turns tracing off even when an OTLP endpoint is set.',
  ),
  setting(
    'telemetry.metricsExporter',
    'OTEL_METRICS_EXPORTER',
    oneOf(['otlp', 'none'] as const),
    'otlp',
    '`none` stops the OTLP metrics push (Prometheus `/metrics` stays).',
  ),
  setting(
    'telemetry.sampler',
    'OTEL_TRACES_SAMPLER',
    oneOf(TRACE_SAMPLERS),
    'parentbased_always_on',
    "Trace sampler; `parentbased_*` follow the sampled flag of the client's or upstream `traceparent`.",
  ),
  setting(
    'telemetry.samplerArg',
    'OTEL_TRACES_SAMPLER_ARG',
    ratio,
    1,
    'Sampling ratio (0 to 1) of the `traceidratio` samplers.',
  ),
  setting(
    'telemetry.serviceName',
    'OTEL_SERVICE_NAME',
    text(),
    undefined,
    '`service.name` of traces and metrics when the process runs one service (default: the service, e.g. `mqtt-edge`).',
  ),
  setting(
    'telemetry.resourceAttributes',
    'OTEL_RESOURCE_ATTRIBUTES',
    keyValues,
    undefined,
    'Extra resource attributes, `key=value,…` (e.g. `service.namespace=prod,k8s.pod.name=mesh-0`).',
  ),
  setting(
    'telemetry.metricExportInterval',
    'OTEL_METRIC_EXPORT_INTERVAL',
    duration(100, 3_600_000),
    DEFAULT_METRIC_EXPORT_INTERVAL_MS,
    'How often metrics are pushed over OTLP.',
  ),
] as const;

/** The shared part of {@link MeshConfig}. */
export interface CoreConfig {
  readonly nats: {
    readonly url: string | undefined;
    readonly name: string | undefined;
    readonly user: string | undefined;
    readonly pass: string | undefined;
    readonly token: string | undefined;
  };
  readonly prefix: string;
  readonly jetstream: { readonly replicas: number; readonly maxAge: number; readonly maxBytes: number };
  readonly logLevel: (typeof LOG_LEVELS)[number];
  /** Milliseconds. */
  readonly shutdownGrace: number;
  readonly adminHost: string;
  /** OpenTelemetry export and sampling (the standard `OTEL_*` variables). */
  readonly telemetry: TelemetryConfig;
}

/** OpenTelemetry settings; structurally the `TelemetrySettings` of `@protomesh/telemetry`. */
export interface TelemetryConfig {
  readonly otlpEndpoint: string | undefined;
  readonly tracesEndpoint: string | undefined;
  readonly metricsEndpoint: string | undefined;
  readonly tracesExporter: 'otlp' | 'none';
  readonly metricsExporter: 'otlp' | 'none';
  readonly sampler: (typeof TRACE_SAMPLERS)[number];
  /** 0 to 1. */
  readonly samplerArg: number;
  readonly serviceName: string | undefined;
  readonly resourceAttributes: string | undefined;
  /** Milliseconds. */
  readonly metricExportInterval: number;
}

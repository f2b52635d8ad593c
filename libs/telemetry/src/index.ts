export type { AdminRoutes, AdminServerOptions } from './admin-server.js';
export { createAdminServer } from './admin-server.js';
export { PortInUseError, TELEMETRY_ERRORS } from './errors.js';
export { batchedCounter, flushHotInstruments, sampledHistogram } from './hot-instruments.js';
export type { ListenOptions } from './listen.js';
export { displayAddress, listen } from './listen.js';
export type { Logger, LoggerOptions } from './logger.js';
export { createLogger, silentLogger, traceMixin } from './logger.js';
export type { MessageSpanOptions, MessagingOperationType, MessagingSystem } from './messaging-spans.js';
export {
  failSpan,
  MESSAGING_ATTRIBUTES,
  NOOP_SPAN,
  startDeliverSpan,
  startProcessSpan,
  startPublishSpan,
  traceLogFields,
} from './messaging-spans.js';
export type { MeshInstruments, MetricsOptions } from './metrics.js';
export {
  DEFAULT_METRIC_EXPORT_INTERVAL_MS,
  DELIVERY_LATENCY_BUCKETS_S,
  deliveryLatencySeconds,
  ServiceMetrics,
} from './metrics.js';
export type { SamplerName, TelemetrySettings } from './otel-settings.js';
export {
  DEFAULT_SERVICE_NAMESPACE,
  otlpSignalUrl,
  parseResourceAttributes,
  serviceResource,
} from './otel-settings.js';
export type { TraceCarrier, UserProperties } from './propagation.js';
export {
  extractContext,
  injectTraceHeaders,
  TRACE_FIELDS,
  traceFromUserProperties,
  withTraceUserProperties,
} from './propagation.js';
export type { AdminHandle, ServeAdminOptions } from './serve-admin.js';
export { serveAdmin } from './serve-admin.js';
export type { Tracing, TracingOptions } from './tracing.js';
export { createSampler, createTracing, disabledTracing, TRACER_NAME } from './tracing.js';

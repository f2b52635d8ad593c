import { context, ProxyTracerProvider, propagation, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  SimpleSpanProcessor,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { otlpSignalUrl, type SamplerName, serviceResource, type TelemetrySettings } from './otel-settings.js';

/** Instrumentation scope of every Protomesh span. */
export const TRACER_NAME = 'protomesh';

export interface TracingOptions extends TelemetrySettings {
  /** The service, e.g. `mqtt-edge`: the default `service.name`. */
  readonly service: string;
  /**
   * Where spans go instead of OTLP (tests: an `InMemorySpanExporter`). Given an exporter,
   * tracing is on whatever the endpoints say.
   */
  readonly exporter?: SpanExporter;
  /**
   * Batch spans before export (default: true for OTLP, false for an injected exporter, so a
   * test sees each span as soon as it ends).
   */
  readonly batch?: boolean;
}

/**
 * Tracing of one service instance. Several instances may share a process (tests, `npm
 * start`): each has its own provider, never the global one.
 */
export interface Tracing {
  readonly service: string;
  /**
   * False when nothing would be exported (no endpoint, `OTEL_TRACES_EXPORTER=none`, or the
   * `always_off` sampler): callers skip all span work, so the hot path pays one branch.
   */
  readonly enabled: boolean;
  readonly tracer: Tracer;
  /** For instrumentations that take a provider (e.g. `@fastify/otel`'s `setTracerProvider`). */
  readonly provider: TracerProvider;
  /** Exports every ended span now. */
  forceFlush(): Promise<void>;
  /** Flushes and stops exporting. Idempotent. */
  shutdown(): Promise<void>;
}

/**
 * Creates the tracing of one service instance: OTLP/HTTP export when an endpoint is set (or
 * the injected `exporter`), the sampler of `OTEL_TRACES_SAMPLER`/`OTEL_TRACES_SAMPLER_ARG`,
 * and the W3C trace-context propagator. With nothing to export it returns a disabled
 * instance whose tracer is a no-op.
 */
export function createTracing(options: TracingOptions): Tracing {
  const samplerName = options.sampler ?? 'parentbased_always_on';
  const url = options.tracesExporter === 'none' ? undefined : otlpSignalUrl(options, 'traces');
  const exporter = options.exporter ?? (url ? new OTLPTraceExporter({ url }) : undefined);
  if (!exporter || samplerName === 'always_off') return disabledTracing(options.service);
  installContext();
  const batch = options.batch ?? options.exporter === undefined;
  const provider = new BasicTracerProvider({
    resource: serviceResource(options.service, options),
    sampler: createSampler(samplerName, options.samplerArg ?? 1),
    spanProcessors: [batch ? new BatchSpanProcessor(exporter) : new SimpleSpanProcessor(exporter)],
  });
  let stopped: Promise<void> | undefined;
  return {
    service: options.service,
    enabled: true,
    tracer: provider.getTracer(TRACER_NAME),
    provider,
    forceFlush: () => provider.forceFlush(),
    shutdown: () => {
      stopped ??= provider.shutdown();
      return stopped;
    },
  };
}

/** A tracing instance that records nothing (the default when no endpoint is configured). */
export function disabledTracing(service: string): Tracing {
  // A ProxyTracerProvider with no delegate hands out the API's no-op tracer; unlike the
  // global provider it cannot start producing spans when someone registers a global SDK.
  const provider = new ProxyTracerProvider();
  return {
    service,
    enabled: false,
    tracer: provider.getTracer(TRACER_NAME),
    provider,
    forceFlush: async () => {},
    shutdown: async () => {},
  };
}

/** The sampler of an `OTEL_TRACES_SAMPLER` value; `ratio` is `OTEL_TRACES_SAMPLER_ARG` (0..1). */
export function createSampler(name: SamplerName, ratio = 1): Sampler {
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  }
}

let contextInstalled = false;

/**
 * Once per process, when the first tracing instance turns on: an AsyncLocalStorage context
 * manager (so `context.with` and the log mixin see the active span) and the W3C propagator
 * as the global propagator (read by `@fastify/otel` for HTTP requests). Both are
 * process-wide plumbing without per-service state; if another SDK registered its own
 * first, that one stays.
 */
function installContext(): void {
  if (contextInstalled) return;
  contextInstalled = true;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
}

import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { createTracing, type Tracing } from '@protomesh/telemetry';
import { waitFor } from '@protomesh/test-support';
import { expect } from 'vitest';

/** `SpanKind` values of `@opentelemetry/api` (numbers in the API's enum). */
export const SPAN_KIND = { SERVER: 1, PRODUCER: 3, CONSUMER: 4 } as const;

/** A client's W3C trace context (W3C Trace Context §3.2 example ids). */
export const CLIENT_TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
export const CLIENT_SPAN_ID = 'b7ad6b7169203331';
export const CLIENT_TRACEPARENT = `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01`;

/** A tracing instance exporting to memory (each span as it ends), and what it recorded. */
export interface RecordedTracing {
  readonly tracing: Tracing;
  readonly exporter: InMemorySpanExporter;
  /** Finished spans so far. */
  spans(): ReadableSpan[];
  /** Waits until a span named `name` has ended, and returns the only one. */
  span(name: string): Promise<ReadableSpan>;
}

/** Tracing on, into memory. */
export function recordedTracing(): RecordedTracing {
  const exporter = new InMemorySpanExporter();
  return recorded(createTracing({ service: 'ws-edge', exporter }), exporter);
}

/**
 * Tracing switched off (`enabled: false`) over a tracer that does record: any span work the
 * code did despite the flag would show up in `spans()`.
 */
export function offButRecording(): RecordedTracing {
  const exporter = new InMemorySpanExporter();
  const live = createTracing({ service: 'ws-edge', exporter });
  return recorded({ ...live, enabled: false }, exporter);
}

function recorded(tracing: Tracing, exporter: InMemorySpanExporter): RecordedTracing {
  const spans = () => exporter.getFinishedSpans();
  return {
    tracing,
    exporter,
    spans,
    async span(name) {
      await waitFor(() => spans().some((span) => span.name === name), `span ${name}`);
      const found = spans().filter((span) => span.name === name);
      expect(found, `spans named ${name}`).toHaveLength(1);
      return found[0]!;
    },
  };
}

/** The `traceparent` of a sampled span (W3C Trace Context §3.2, version 00). */
export function traceparentOf(span: ReadableSpan): string {
  const context = span.spanContext();
  return `00-${context.traceId}-${context.spanId}-01`;
}

/**
 * The value of the Prometheus series `name` whose labels include all of `labels` (any
 * order), or undefined when there is none.
 */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

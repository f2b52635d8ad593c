// OTLP/HTTP export of traces and metrics to an in-process receiver (a node:http server on
// 127.0.0.1:0 standing in for the OpenTelemetry collector): the real SDK exporters, no mocks.
import { createServer, type Server } from 'node:http';
import { createTracing, ServiceMetrics, startPublishSpan, type Tracing } from '@protomesh/telemetry';
import { afterEach, describe, expect, it } from 'vitest';

interface Received {
  readonly path: string;
  readonly contentType: string | undefined;
  readonly body: OtlpBody;
}
interface OtlpAttribute {
  readonly key: string;
  readonly value: { stringValue?: string; intValue?: string | number };
}
interface OtlpBody {
  readonly resourceSpans?: {
    resource: { attributes: OtlpAttribute[] };
    scopeSpans: { spans: { name: string; kind: number; traceId: string; attributes: OtlpAttribute[] }[] }[];
  }[];
  readonly resourceMetrics?: {
    resource: { attributes: OtlpAttribute[] };
    scopeMetrics: { metrics: { name: string }[] }[];
  }[];
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

/** A minimal OTLP/HTTP receiver: accepts POST /v1/traces and /v1/metrics (JSON), answers 200. */
async function startReceiver(): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '';
      if (request.method !== 'POST' || !/^\/(v1\/(traces|metrics)|custom\/spans)$/.test(path)) {
        response.writeHead(404).end();
        return;
      }
      received.push({
        path,
        contentType: request.headers['content-type'],
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpBody,
      });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, received };
}

const attr = (attributes: OtlpAttribute[], key: string) => attributes.find((a) => a.key === key)?.value;

describe('OTLP/HTTP export', () => {
  it('sends spans to <OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces with the service resource', async () => {
    const receiver = await startReceiver();
    const tracing: Tracing = createTracing({
      service: 'mqtt-edge',
      otlpEndpoint: receiver.url,
      resourceAttributes: 'k8s.pod.name=mqtt-edge-0',
    });
    closers.push(() => tracing.shutdown());
    expect(tracing.enabled).toBe(true);
    const span = startPublishSpan(tracing, {
      system: 'mqtt',
      destination: 'sensors/1/temp',
      clientId: 'dev-1',
      qos: 1,
    });
    span.end();
    await tracing.forceFlush();
    const traces = receiver.received.filter((r) => r.path === '/v1/traces');
    expect(traces).toHaveLength(1);
    expect(traces[0]!.contentType).toMatch(/^application\/json/);
    const [resourceSpans] = traces[0]!.body.resourceSpans!;
    expect(attr(resourceSpans!.resource.attributes, 'service.name')).toEqual({ stringValue: 'mqtt-edge' });
    expect(attr(resourceSpans!.resource.attributes, 'k8s.pod.name')).toEqual({ stringValue: 'mqtt-edge-0' });
    const spans = resourceSpans!.scopeSpans.flatMap((s) => s.spans);
    expect(spans.map((s) => s.name)).toEqual(['publish sensors/1/temp']);
    expect(spans[0]!.kind).toBe(4); // OTLP SPAN_KIND_PRODUCER
    expect(spans[0]!.traceId).toBe(span.spanContext().traceId);
    expect(attr(spans[0]!.attributes, 'messaging.client.id')).toEqual({ stringValue: 'dev-1' });
  });

  it('uses OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is', async () => {
    const receiver = await startReceiver();
    const tracing = createTracing({
      service: 'bridge',
      otlpEndpoint: 'http://127.0.0.1:9',
      tracesEndpoint: `${receiver.url}/custom/spans`,
    });
    closers.push(() => tracing.shutdown());
    startPublishSpan(tracing, { system: 'nats', destination: 's' }).end();
    await tracing.forceFlush();
    expect(receiver.received.map((r) => r.path)).toEqual(['/custom/spans']);
  });

  it('pushes metrics to /v1/metrics and still renders them on /metrics', async () => {
    const receiver = await startReceiver();
    const metrics = new ServiceMetrics('ws-edge', { otlpEndpoint: receiver.url, serviceName: 'ws-edge-eu' });
    closers.push(() => metrics.shutdown());
    expect(metrics.pushing).toBe(true);
    metrics.instruments.messagesOut.add(3, { tier: 'ws', qos: '1' });
    metrics.instruments.deliveryLatency.record(0.002, { tier: 'ws', origin: 'ws', qos: '1' });
    await metrics.forceFlush();
    const pushed = receiver.received.filter((r) => r.path === '/v1/metrics');
    expect(pushed.length).toBeGreaterThanOrEqual(1);
    const [resourceMetrics] = pushed.at(-1)!.body.resourceMetrics!;
    expect(attr(resourceMetrics!.resource.attributes, 'service.name')).toEqual({ stringValue: 'ws-edge-eu' });
    const names = resourceMetrics!.scopeMetrics.flatMap((s) => s.metrics.map((m) => m.name));
    expect(names).toEqual(expect.arrayContaining(['protomesh_messages_out', 'protomesh_delivery_latency_seconds']));
    expect(await metrics.render()).toMatch(/protomesh_messages_out_total\{tier="ws",qos="1"\} 3/);
  });

  it('pushes nothing with OTEL_METRICS_EXPORTER=none', async () => {
    const receiver = await startReceiver();
    const metrics = new ServiceMetrics('bridge', { otlpEndpoint: receiver.url, metricsExporter: 'none' });
    closers.push(() => metrics.shutdown());
    metrics.instruments.messagesIn.add(1, { tier: 'mqtt', qos: '0' });
    await metrics.forceFlush();
    expect(metrics.pushing).toBe(false);
    expect(receiver.received).toEqual([]);
  });
});

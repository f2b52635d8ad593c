import { Writable } from 'node:stream';
import { context, SpanKind, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { decodeMeta, encodeMeta } from '@protomesh/envelope';
import {
  MESSAGING_ATTRIBUTES as A,
  createLogger,
  createTracing,
  extractContext,
  failSpan,
  injectTraceHeaders,
  NOOP_SPAN,
  startDeliverSpan,
  startProcessSpan,
  startPublishSpan,
  type Tracing,
  traceFromUserProperties,
  traceLogFields,
  withTraceUserProperties,
} from '@protomesh/telemetry';
import { afterEach, describe, expect, it } from 'vitest';

const CLIENT_TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const CLIENT_SPAN_ID = 'b7ad6b7169203331';
const CLIENT_TRACEPARENT = `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01`;

const open: Tracing[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.shutdown();
});

function service(name: string, options: Partial<Parameters<typeof createTracing>[0]> = {}) {
  const exporter = new InMemorySpanExporter();
  const tracing = createTracing({ service: name, exporter, ...options });
  open.push(tracing);
  return { tracing, spans: () => exporter.getFinishedSpans() };
}

function only(spans: ReadableSpan[], name: string): ReadableSpan {
  const found = spans.filter((s) => s.name === name);
  expect(found, `spans named ${name}`).toHaveLength(1);
  return found[0]!;
}

describe('one trace across services (MQTT publish → NATS headers → bridge → WebSocket delivery)', () => {
  it('continues the trace the client started in its MQTT 5 user properties, in three tracers', () => {
    const mqtt = service('mqtt-edge');
    const bridge = service('bridge');
    const ws = service('ws-edge');

    // mqtt-edge: PUBLISH from client dev-1 carrying traceparent as a user property.
    const userProperties = { unit: 'C', traceparent: CLIENT_TRACEPARENT, tracestate: 'vendor=x' };
    const publish = startPublishSpan(mqtt.tracing, {
      system: 'mqtt',
      destination: 'sensors/1/temp',
      clientId: 'dev-1',
      qos: 1,
      tier: 'mqtt',
      bodySize: 4,
      parent: traceFromUserProperties(userProperties),
    });
    const onNats = encodeMeta({ originTier: 'mqtt', qos: 1, ...injectTraceHeaders(publish) });
    publish.end();

    // bridge: takes it from the mqtt tier, writes it into the ws tier.
    const inMeta = decodeMeta(onNats);
    const process = startProcessSpan(bridge.tracing, {
      system: 'nats',
      destination: 'mesh.mqtt.1.sensors.1.temp',
      parent: inMeta,
      attributes: { [A.route]: 'mqtt-to-ws' },
    });
    const forward = startPublishSpan(bridge.tracing, {
      system: 'nats',
      destination: 'mesh.ws.1.sensors.1.temp',
      parent: process,
    });
    const crossed = encodeMeta({ ...inMeta, ...injectTraceHeaders(forward) });
    forward.end();
    process.end();

    // ws-edge: delivers to app-1 subscribed to sensors/+/temp.
    const deliver = startDeliverSpan(ws.tracing, {
      system: 'websocket',
      destination: 'sensors/1/temp',
      template: 'sensors/+/temp',
      clientId: 'app-1',
      qos: 1,
      tier: 'ws',
      parent: decodeMeta(crossed),
    });
    deliver.end();

    const p = only(mqtt.spans(), 'publish sensors/1/temp');
    const pr = only(bridge.spans(), 'process mesh.mqtt.1.sensors.1.temp');
    const fw = only(bridge.spans(), 'publish mesh.ws.1.sensors.1.temp');
    const d = only(ws.spans(), 'deliver sensors/+/temp');
    for (const span of [p, pr, fw, d]) expect(span.spanContext().traceId).toBe(CLIENT_TRACE_ID);
    // Parent chain: client → publish → process → forward → deliver.
    expect(p.parentSpanContext?.spanId).toBe(CLIENT_SPAN_ID);
    expect(p.parentSpanContext?.isRemote).toBe(true);
    expect(pr.parentSpanContext?.spanId).toBe(p.spanContext().spanId);
    expect(fw.parentSpanContext?.spanId).toBe(pr.spanContext().spanId);
    expect(d.parentSpanContext?.spanId).toBe(fw.spanContext().spanId);
    // Consumers link to the producer's context, as the messaging conventions ask.
    expect(pr.links.map((l) => l.context.spanId)).toEqual([p.spanContext().spanId]);
    expect(d.links.map((l) => l.context.spanId)).toEqual([fw.spanContext().spanId]);
    // tracestate travels unchanged.
    expect(decodeMeta(crossed).tracestate).toBe('vendor=x');
    // Each service exports under its own service.name.
    expect(p.resource.attributes['service.name']).toBe('mqtt-edge');
    expect(pr.resource.attributes['service.name']).toBe('bridge');
    expect(d.resource.attributes['service.name']).toBe('ws-edge');
  });

  it('names, kinds and attributes follow the OpenTelemetry messaging conventions', () => {
    const mqtt = service('mqtt-edge');
    const publish = startPublishSpan(mqtt.tracing, {
      system: 'mqtt',
      destination: 'a/b',
      clientId: 'dev-1',
      qos: 2,
      messageId: 42,
      bodySize: 3,
      tier: 'mqtt',
    });
    const deliver = startDeliverSpan(mqtt.tracing, {
      system: 'mqtt',
      destination: 'a/b',
      template: 'a/#',
      clientId: 'dev-2',
      qos: '1',
      recipients: 1,
      parent: publish,
    });
    deliver.end();
    publish.end();
    const p = only(mqtt.spans(), 'publish a/b');
    expect(p.kind).toBe(SpanKind.PRODUCER);
    expect(p.attributes).toEqual({
      'messaging.system.name': 'mqtt',
      'messaging.system': 'mqtt',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'publish',
      'messaging.destination.name': 'a/b',
      'messaging.client.id': 'dev-1',
      'messaging.message.id': '42',
      'messaging.message.body.size': 3,
      'protomesh.qos': 2,
      'protomesh.tier': 'mqtt',
    });
    const d = only(mqtt.spans(), 'deliver a/#');
    expect(d.kind).toBe(SpanKind.CONSUMER);
    expect(d.attributes).toMatchObject({
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'deliver',
      'messaging.destination.name': 'a/b',
      'messaging.destination.template': 'a/#',
      'messaging.destination.subscription.name': 'a/#',
      'messaging.client.id': 'dev-2',
      'protomesh.qos': 1,
      'protomesh.recipients': 1,
    });
    const process = startProcessSpan(mqtt.tracing, { system: 'nats', destination: 'x' });
    process.end();
    expect(only(mqtt.spans(), 'process x').kind).toBe(SpanKind.CONSUMER);
  });

  it('starts a new root where the client sent no traceparent, and where it sent a malformed one', () => {
    const mqtt = service('mqtt-edge');
    const none = startPublishSpan(mqtt.tracing, {
      system: 'mqtt',
      destination: 't',
      parent: traceFromUserProperties({ unit: 'C' }),
    });
    const other = startPublishSpan(mqtt.tracing, { system: 'mqtt', destination: 't' });
    const bad = startPublishSpan(mqtt.tracing, {
      system: 'websocket',
      destination: 't',
      parent: { traceparent: '00-not-a-trace-01' },
    });
    for (const span of [none, other, bad]) span.end();
    const spans = mqtt.spans();
    expect(spans).toHaveLength(3);
    for (const span of spans) expect(span.parentSpanContext).toBeUndefined();
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(3);
  });

  it('ignores the ambient active span: a message only continues the trace it carries', () => {
    const mqtt = service('mqtt-edge');
    const ambient = mqtt.tracing.tracer.startSpan('http request');
    context.with(trace.setSpan(context.active(), ambient), () => {
      startPublishSpan(mqtt.tracing, { system: 'mqtt', destination: 't' }).end();
    });
    ambient.end();
    const publish = only(mqtt.spans(), 'publish t');
    expect(publish.parentSpanContext).toBeUndefined();
    expect(publish.spanContext().traceId).not.toBe(ambient.spanContext().traceId);
  });

  it('records a failed operation as an error with its code', () => {
    const mqtt = service('mqtt-edge');
    const span = startPublishSpan(mqtt.tracing, { system: 'mqtt', destination: 't' });
    failSpan(span, Object.assign(new Error('stream full'), { code: 'PM_APPEND_FAILED' }));
    const s = only(mqtt.spans(), 'publish t');
    expect(s.status).toEqual({ code: 2, message: 'stream full' });
    expect(s.attributes['error.type']).toBe('PM_APPEND_FAILED');
    expect(s.events.map((e) => e.name)).toEqual(['exception']);
  });
});

describe('sampling', () => {
  it('is off without an exporter or endpoint: no-op spans, nothing injected', () => {
    const tracing = createTracing({ service: 'mqtt-edge' });
    expect(tracing.enabled).toBe(false);
    const span = startPublishSpan(tracing, {
      system: 'mqtt',
      destination: 't',
      parent: { traceparent: CLIENT_TRACEPARENT },
    });
    expect(span).toBe(NOOP_SPAN);
    expect(span.isRecording()).toBe(false);
    expect(injectTraceHeaders(span)).toEqual({});
    expect(traceLogFields(span)).toEqual({});
  });

  it('OTEL_TRACES_SAMPLER=always_off (or OTEL_TRACES_EXPORTER=none) turns tracing off and exports nothing', () => {
    const off = service('mqtt-edge', { sampler: 'always_off' });
    const none = service('bridge', { tracesExporter: 'none', otlpEndpoint: 'http://127.0.0.1:9' });
    expect(off.tracing.enabled).toBe(false);
    // An injected exporter wins over OTEL_TRACES_EXPORTER; without one, `none` means off.
    expect(createTracing({ service: 'x', tracesExporter: 'none', otlpEndpoint: 'http://127.0.0.1:9' }).enabled).toBe(
      false,
    );
    startPublishSpan(off.tracing, { system: 'mqtt', destination: 't' }).end();
    expect(off.spans()).toEqual([]);
    expect(none.tracing.enabled).toBe(true);
  });

  it('ratio 0 records nothing but still propagates an unsampled traceparent downstream', () => {
    const edge = service('mqtt-edge', { sampler: 'traceidratio', samplerArg: 0 });
    const bridge = service('bridge', { sampler: 'parentbased_always_on' });
    expect(edge.tracing.enabled).toBe(true);
    const span = startPublishSpan(edge.tracing, { system: 'mqtt', destination: 't' });
    expect(span.isRecording()).toBe(false);
    const headers = injectTraceHeaders(span);
    expect(headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    span.end();
    // The downstream parent-based sampler follows the unsampled flag.
    startProcessSpan(bridge.tracing, { system: 'nats', destination: 's', parent: headers }).end();
    expect(edge.spans()).toEqual([]);
    expect(bridge.spans()).toEqual([]);
  });

  it('ratio 1 records every message; parent-based ratio 0 still follows a client that sampled', () => {
    const all = service('mqtt-edge', { sampler: 'traceidratio', samplerArg: 1 });
    for (let i = 0; i < 5; i++) startPublishSpan(all.tracing, { system: 'mqtt', destination: 't' }).end();
    expect(all.spans()).toHaveLength(5);
    const follower = service('ws-edge', { sampler: 'parentbased_traceidratio', samplerArg: 0 });
    startPublishSpan(follower.tracing, { system: 'websocket', destination: 't' }).end();
    startPublishSpan(follower.tracing, {
      system: 'websocket',
      destination: 'u',
      parent: { traceparent: CLIENT_TRACEPARENT },
    }).end();
    expect(follower.spans().map((s) => s.name)).toEqual(['publish u']);
  });
});

describe('W3C propagation helpers', () => {
  it('round-trips a context through traceparent/tracestate', () => {
    const ctx = extractContext({ traceparent: CLIENT_TRACEPARENT, tracestate: 'a=1,b=2' });
    const sc = trace.getSpanContext(ctx)!;
    expect(sc).toMatchObject({ traceId: CLIENT_TRACE_ID, spanId: CLIENT_SPAN_ID, traceFlags: 1, isRemote: true });
    expect(injectTraceHeaders(ctx)).toEqual({ traceparent: CLIENT_TRACEPARENT, tracestate: 'a=1,b=2' });
    expect(trace.getSpanContext(extractContext(undefined))).toBeUndefined();
    expect(trace.getSpanContext(extractContext({ traceparent: 'garbage' }))).toBeUndefined();
  });

  it('reads traceparent from MQTT 5 user properties in both shapes, case-insensitively', () => {
    expect(traceFromUserProperties(undefined)).toBeUndefined();
    expect(traceFromUserProperties([['unit', 'C']])).toBeUndefined();
    expect(
      traceFromUserProperties([
        ['TraceParent', CLIENT_TRACEPARENT],
        ['traceparent', 'ignored-second'],
        ['tracestate', 'k=v'],
      ]),
    ).toEqual({ traceparent: CLIENT_TRACEPARENT, tracestate: 'k=v' });
    expect(traceFromUserProperties({ traceparent: [CLIENT_TRACEPARENT, 'x'], other: 'y' })).toEqual({
      traceparent: CLIENT_TRACEPARENT,
    });
  });

  it('[MQTT-3.3.2-18] writes traceparent into user properties, keeping the order of the others', () => {
    const carrier = { traceparent: CLIENT_TRACEPARENT, tracestate: 'k=v' };
    expect(
      withTraceUserProperties(
        [
          ['a', '1'],
          ['traceparent', 'old'],
          ['b', '2'],
          ['traceparent', 'dup'],
        ],
        carrier,
      ),
    ).toEqual([
      ['a', '1'],
      ['traceparent', CLIENT_TRACEPARENT],
      ['b', '2'],
      ['tracestate', 'k=v'],
    ]);
    expect(withTraceUserProperties(undefined, { traceparent: CLIENT_TRACEPARENT })).toEqual([
      ['traceparent', CLIENT_TRACEPARENT],
    ]);
    expect(withTraceUserProperties([['tracestate', 'keep']], {})).toEqual([['tracestate', 'keep']]);
  });
});

describe('resource', () => {
  it('honours OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, with one instance id per instance', () => {
    const a = service('mqtt-edge', {
      serviceName: 'edge-eu',
      resourceAttributes: 'service.namespace=prod,k8s.pod.name=mesh%2D0',
    });
    const b = service('mqtt-edge', { resourceAttributes: 'service.name=from-attributes' });
    startPublishSpan(a.tracing, { system: 'mqtt', destination: 't' }).end();
    startPublishSpan(b.tracing, { system: 'mqtt', destination: 't' }).end();
    const ra = a.spans()[0]!.resource.attributes;
    const rb = b.spans()[0]!.resource.attributes;
    expect(ra).toMatchObject({ 'service.name': 'edge-eu', 'service.namespace': 'prod', 'k8s.pod.name': 'mesh-0' });
    expect(rb).toMatchObject({ 'service.name': 'from-attributes', 'service.namespace': 'protomesh' });
    expect(ra['service.instance.id']).not.toBe(rb['service.instance.id']);
  });
});

describe('logs carry trace ids', () => {
  it('adds trace_id and span_id to lines written inside a span, and nothing outside', () => {
    const mqtt = service('mqtt-edge');
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const logger = createLogger({ service: 'mqtt-edge', destination: sink }).child({ clientId: 'dev-1' });
    const span = mqtt.tracing.tracer.startSpan('connect');
    context.with(trace.setSpan(context.active(), span), () => logger.info('client connected'));
    logger.info('client disconnected');
    span.end();
    expect(lines[0]).toMatchObject({
      msg: 'client connected',
      clientId: 'dev-1',
      trace_id: span.spanContext().traceId,
      span_id: span.spanContext().spanId,
      trace_flags: '01',
    });
    expect(lines[1]).not.toHaveProperty('trace_id');
    expect(traceLogFields(span)).toEqual({ trace_id: span.spanContext().traceId, span_id: span.spanContext().spanId });
  });
});

describe('semantic convention names', () => {
  it('match the constants of @opentelemetry/semantic-conventions', async () => {
    const semconv = await import('@opentelemetry/semantic-conventions/incubating');
    expect(A).toMatchObject({
      systemName: semconv.ATTR_MESSAGING_SYSTEM_NAME,
      system: semconv.ATTR_MESSAGING_SYSTEM,
      operationType: semconv.ATTR_MESSAGING_OPERATION_TYPE,
      operationName: semconv.ATTR_MESSAGING_OPERATION_NAME,
      destinationName: semconv.ATTR_MESSAGING_DESTINATION_NAME,
      destinationTemplate: semconv.ATTR_MESSAGING_DESTINATION_TEMPLATE,
      subscriptionName: semconv.ATTR_MESSAGING_DESTINATION_SUBSCRIPTION_NAME,
      clientId: semconv.ATTR_MESSAGING_CLIENT_ID,
      messageId: semconv.ATTR_MESSAGING_MESSAGE_ID,
      bodySize: semconv.ATTR_MESSAGING_MESSAGE_BODY_SIZE,
    });
    expect([semconv.MESSAGING_OPERATION_TYPE_VALUE_SEND, semconv.MESSAGING_OPERATION_TYPE_VALUE_PROCESS]).toEqual([
      'send',
      'process',
    ]);
  });
});

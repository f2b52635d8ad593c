// One trace id across three service instances whose only link is a real nats-server: the
// W3C trace context travels in NATS headers written and read by @protomesh/envelope.

import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { type Backbone, type BackboneMessage, connectNats } from '@protomesh/backbone';
import { decodeMeta, encodeMeta } from '@protomesh/envelope';
import {
  createTracing,
  injectTraceHeaders,
  startDeliverSpan,
  startProcessSpan,
  startPublishSpan,
  type Tracing,
} from '@protomesh/telemetry';
import { type NatsServerHandle, startNatsServer, uniqueName, waitFor } from '@protomesh/test-support';
import { afterEach, describe, expect, it } from 'vitest';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

async function instance(server: NatsServerHandle, name: string) {
  const exporter = new InMemorySpanExporter();
  const tracing: Tracing = createTracing({ service: name, exporter });
  const backbone: Backbone = await connectNats({ servers: server.url, name });
  closers.push(async () => {
    await backbone.close();
    await tracing.shutdown();
  });
  return { tracing, backbone, spans: () => exporter.getFinishedSpans() };
}

function nextMessage(backbone: Backbone, subject: string): Promise<BackboneMessage> {
  return new Promise((resolve) => {
    const sub = backbone.subscribe(subject, (message) => {
      sub.unsubscribe();
      resolve(message);
    });
  });
}

describe('trace context over NATS', () => {
  it('publish (mqtt-edge) → process and forward (bridge) → deliver (ws-edge) share one trace, started at the edge', async () => {
    const server = await startNatsServer();
    closers.push(() => server.stop());
    const prefix = uniqueName();
    const mqtt = await instance(server, 'mqtt-edge');
    const bridge = await instance(server, 'bridge');
    const ws = await instance(server, 'ws-edge');
    const mqttSubject = `${prefix}.mqtt.0.sensors.1.temp`;
    const wsSubject = `${prefix}.ws.0.sensors.1.temp`;
    const atBridge = nextMessage(bridge.backbone, `${prefix}.mqtt.>`);
    const atWs = nextMessage(ws.backbone, `${prefix}.ws.>`);
    await Promise.all([bridge.backbone.flush(), ws.backbone.flush()]);

    // The MQTT client sent no traceparent: mqtt-edge starts the trace.
    const publish = startPublishSpan(mqtt.tracing, {
      system: 'mqtt',
      destination: 'sensors/1/temp',
      clientId: 'dev-1',
      qos: 0,
    });
    mqtt.backbone.publish(
      mqttSubject,
      new TextEncoder().encode('21.5'),
      encodeMeta({ originTier: 'mqtt', qos: 0, publishedAt: Date.now(), ...injectTraceHeaders(publish) }),
    );
    await mqtt.backbone.flush();
    publish.end();

    const taken = await atBridge;
    const meta = decodeMeta(taken.headers);
    const process = startProcessSpan(bridge.tracing, { system: 'nats', destination: taken.subject, parent: meta });
    const forward = startPublishSpan(bridge.tracing, { system: 'nats', destination: wsSubject, parent: process });
    bridge.backbone.publish(wsSubject, taken.payload, encodeMeta({ ...meta, ...injectTraceHeaders(forward) }));
    await bridge.backbone.flush();
    forward.end();
    process.end();

    const delivered = await atWs;
    const wsMeta = decodeMeta(delivered.headers);
    expect(wsMeta.publishedAt).toBe(meta.publishedAt);
    startDeliverSpan(ws.tracing, {
      system: 'websocket',
      destination: 'sensors/1/temp',
      template: 'sensors/#',
      clientId: 'app-1',
      parent: wsMeta,
    }).end();

    await waitFor(() => ws.spans().length === 1, 'the delivery span');
    const all = [...mqtt.spans(), ...bridge.spans(), ...ws.spans()];
    expect(all.map((s) => s.name)).toEqual([
      'publish sensors/1/temp',
      `publish ${wsSubject}`,
      `process ${mqttSubject}`,
      'deliver sensors/#',
    ]);
    expect(new Set(all.map((s) => s.spanContext().traceId))).toEqual(new Set([publish.spanContext().traceId]));
    expect(mqtt.spans()[0]!.parentSpanContext).toBeUndefined();
    expect(ws.spans()[0]!.parentSpanContext?.spanId).toBe(forward.spanContext().spanId);
  });
});

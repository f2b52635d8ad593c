import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { RunningMesh } from '@protomesh/runtime';
import { type NatsServerHandle, startInProcess, startNatsServer, uniqueName, waitFor } from '@protomesh/test-support';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startMqttEdge } from '../../src/index.js';

const ANONYMOUS = { MQTT_ALLOW_ANONYMOUS: 'true' };
/** A client's own trace context (W3C Trace Context §3.2). */
const CLIENT_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN_ID = '00f067aa0ba902b7';
const CLIENT_TRACEPARENT = `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01`;

let nats: NatsServerHandle;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

async function edge(spanExporter?: InMemorySpanExporter): Promise<RunningMesh> {
  const running = await startInProcess(
    { name: 'mqtt-edge', start: startMqttEdge },
    { prefix: uniqueName(), natsUrl: nats.url, env: ANONYMOUS, ...(spanExporter && { spanExporter }) },
  );
  cleanups.push(() => running.stop());
  return running;
}

async function client(running: RunningMesh, protocolVersion: 4 | 5): Promise<MqttClient> {
  const url = `mqtt://127.0.0.1:${running.services[0]!.ports.mqtt}`;
  const c = await mqtt.connectAsync(url, { protocolVersion, clientId: uniqueName(), reconnectPeriod: 0 });
  cleanups.push(() => c.endAsync(true));
  return c;
}

/** The traceparent user property of each message `c` receives. */
function traceparents(c: MqttClient): Array<string | undefined> {
  const seen: Array<string | undefined> = [];
  c.on('message', (_topic, _payload, packet) => {
    const value = packet.properties?.userProperties?.traceparent;
    seen.push(Array.isArray(value) ? value[0] : value);
  });
  return seen;
}

function spanNamed(spans: ReadableSpan[], name: string): ReadableSpan | undefined {
  return spans.find((s) => s.name === name);
}

describe('mqtt-edge tracing (docs/telemetry.md)', () => {
  it('a PRODUCER publish span continues the client traceparent; one CONSUMER deliver span per message feeds MQTT 5 recipients', async () => {
    const exporter = new InMemorySpanExporter();
    const running = await edge(exporter);
    const subA = await client(running, 5);
    const subB = await client(running, 5);
    const sub3 = await client(running, 4);
    const seenA = traceparents(subA);
    const seenB = traceparents(subB);
    const seen3 = traceparents(sub3);
    for (const sub of [subA, subB, sub3]) await sub.subscribeAsync('trace/+', { qos: 1 });
    const pub = await client(running, 5);
    await pub.publishAsync('trace/one', 'hello', {
      qos: 1,
      properties: { userProperties: { traceparent: CLIENT_TRACEPARENT, keep: 'me' } },
    });
    await waitFor(() => seenA.length === 1 && seenB.length === 1 && seen3.length === 1, 'three deliveries');
    await waitFor(() => spanNamed(exporter.getFinishedSpans(), 'deliver trace/one'), 'the deliver span');

    const spans = exporter.getFinishedSpans();
    const publish = spanNamed(spans, 'publish trace/one')!;
    expect(publish).toBeDefined();
    expect(publish.spanContext().traceId).toBe(CLIENT_TRACE_ID);
    expect(publish.parentSpanContext?.spanId).toBe(CLIENT_SPAN_ID);
    const delivers = spans.filter((s) => s.name === 'deliver trace/one');
    // Once per backbone message and local fan-out, not once per recipient.
    expect(delivers).toHaveLength(1);
    const deliver = delivers[0]!;
    expect(deliver.spanContext().traceId).toBe(CLIENT_TRACE_ID);
    expect(deliver.parentSpanContext?.spanId).toBe(publish.spanContext().spanId);
    expect(deliver.attributes['protomesh.recipients']).toBe(3);
    // MQTT 5 recipients continue the trace from the deliver span; 3.1.1 carries none.
    const expected = `00-${CLIENT_TRACE_ID}-${deliver.spanContext().spanId}-01`;
    expect(seenA).toEqual([expected]);
    expect(seenB).toEqual([expected]);
    expect(seen3).toEqual([undefined]);
  });

  it('a publish without traceparent starts a new trace', async () => {
    const exporter = new InMemorySpanExporter();
    const running = await edge(exporter);
    const sub = await client(running, 5);
    const seen = traceparents(sub);
    await sub.subscribeAsync('root/t', { qos: 0 });
    const pub = await client(running, 4);
    await pub.publishAsync('root/t', 'x', { qos: 0 });
    await waitFor(() => seen.length === 1, 'the delivery');
    await waitFor(() => spanNamed(exporter.getFinishedSpans(), 'deliver root/t'), 'the deliver span');
    const publish = spanNamed(exporter.getFinishedSpans(), 'publish root/t')!;
    expect(publish.parentSpanContext).toBeUndefined();
    expect(seen[0]).toMatch(new RegExp(`^00-${publish.spanContext().traceId}-[0-9a-f]{16}-01$`));
  });

  it('with tracing off, the client traceparent is forwarded unchanged and delivery latency is recorded', async () => {
    const running = await edge();
    const sub = await client(running, 5);
    const seen = traceparents(sub);
    await sub.subscribeAsync('off/t', { qos: 1 });
    const pub = await client(running, 5);
    await pub.publishAsync('off/t', 'x', {
      qos: 1,
      properties: { userProperties: { traceparent: CLIENT_TRACEPARENT } },
    });
    await waitFor(() => seen.length === 1, 'the delivery');
    expect(seen).toEqual([CLIENT_TRACEPARENT]);
    const admin = running.services[0]!.ports.admin;
    const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
    expect(text).toMatch(/protomesh_delivery_latency_seconds_count\{[^}]*origin="mqtt"[^}]*\} 1/);
  });
});

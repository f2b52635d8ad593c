// Acceptance test of issue 6 (traces and metrics end to end): the three services in one
// process on a real nats-server, one shared in-memory span exporter (each service keeps its
// own tracer and resource `service.name`), real MQTT.js v5 and WebSocket clients.
import { readFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { startBridge } from '@protomesh/bridge';
import { startMqttEdge } from '@protomesh/mqtt-edge';
import type { RunningMesh, ServiceHandle } from '@protomesh/runtime';
import { type NatsServerHandle, startInProcess, startNatsServer, uniqueName, waitFor } from '@protomesh/test-support';
import { startWsEdge } from '@protomesh/ws-edge';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Frame, TestWsClient } from '../helpers/ws-client.js';

/** `SpanKind` values of `@opentelemetry/api`. */
const PRODUCER = 3;
const CONSUMER = 4;
/** A client's own trace context (W3C Trace Context §3.2 example ids). */
const CLIENT_TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const CLIENT_SPAN_ID = 'b7ad6b7169203331';
const CLIENT_TRACEPARENT = `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01`;
const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

/** The metric names the dashboard may query (deploy/grafana/metrics.json). */
const DASHBOARD_METRICS = (
  JSON.parse(readFileSync(new URL('../../deploy/grafana/metrics.json', import.meta.url), 'utf8')) as {
    metrics: Array<{ name: string; type: string }>;
  }
).metrics;

let nats: NatsServerHandle;
let mesh: RunningMesh;
const exporter = new InMemorySpanExporter();
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  nats = await startNatsServer();
  mesh = await startInProcess(
    [
      { name: 'bridge', start: startBridge },
      { name: 'mqtt-edge', start: startMqttEdge },
      { name: 'ws-edge', start: startWsEdge },
    ],
    {
      prefix: uniqueName(),
      natsUrl: nats.url,
      spanExporter: exporter,
      env: { MQTT_ALLOW_ANONYMOUS: 'true', WS_ALLOW_ANONYMOUS: 'true', WS_MAX_BUFFERED: '64KiB' },
    },
  );
});
afterAll(async () => {
  await mesh?.stop();
  await nats?.stop();
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

function service(name: string): ServiceHandle {
  const found = mesh.services.find((s) => s.name === name);
  if (!found) throw new Error(`service ${name} not started`);
  return found;
}

async function mqttClient(clientId: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${service('mqtt-edge').ports.mqtt}`, {
    protocolVersion: 5,
    clientId,
    reconnectPeriod: 0,
  });
  cleanups.push(() => client.endAsync());
  return client;
}

async function wsClient(): Promise<TestWsClient> {
  const client = await TestWsClient.connect(`ws://127.0.0.1:${service('ws-edge').ports.ws}/ws`);
  cleanups.push(() => client.close());
  return client;
}

const serviceOf = (span: ReadableSpan) => span.resource.attributes['service.name'];
const idOf = (span: ReadableSpan) => span.spanContext().spanId;

/** The one finished span of `service` named `name` in `traceId` (waits for it). */
async function spanOf(traceId: string, svc: string, name: string): Promise<ReadableSpan> {
  const matching = () =>
    exporter
      .getFinishedSpans()
      .filter((s) => s.spanContext().traceId === traceId && serviceOf(s) === svc && s.name === name);
  await waitFor(() => matching().length > 0, `span "${name}" of ${svc} in trace ${traceId}`);
  const found = matching();
  expect(found, `spans "${name}" of ${svc}`).toHaveLength(1);
  return found[0]!;
}

/**
 * The bridge's spans of a message in `traceId` read from `tier`: its CONSUMER `process`
 * span and the PRODUCER `publish` span of the crossing, child of it (waits for both).
 */
async function bridgeSpans(
  traceId: string,
  tier: 'mqtt' | 'ws',
): Promise<{ process: ReadableSpan; forward: ReadableSpan }> {
  const inTrace = () =>
    exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId && serviceOf(s) === 'bridge');
  const find = () => {
    const process = inTrace().find((s) => s.name.startsWith('process ') && s.attributes['protomesh.tier'] === tier);
    const forward =
      process && inTrace().find((s) => s.name.startsWith('publish ') && s.parentSpanContext?.spanId === idOf(process));
    return process && forward ? { process, forward } : undefined;
  };
  return waitFor(find, `bridge process and publish spans of the ${tier} tier in trace ${traceId}`);
}

/** Asserts `child` continues `parent`: parent/child in one trace, and (consumer spans) a link to it. */
function expectChildOf(child: ReadableSpan, parent: ReadableSpan, linked: boolean): void {
  expect(child.spanContext().traceId).toBe(parent.spanContext().traceId);
  expect(child.parentSpanContext?.spanId, `${child.name} is a child of ${parent.name}`).toBe(idOf(parent));
  if (linked) expect(child.links.map((l) => l.context.spanId)).toContain(idOf(parent));
}

describe('one trace from MQTT through the bridge to WebSocket, and back (issue 6)', () => {
  for (const carried of [true, false]) {
    it(`MQTT v5 QoS 1 publish ${carried ? 'with' : 'without'} a traceparent → WebSocket subscriber: one trace over mqtt-edge, bridge and ws-edge`, async () => {
      const n = carried ? 1 : 2;
      const topic = `plant/${n}/temp`;
      const filter = `plant/+/temp`;
      const subscriber = await wsClient();
      await subscriber.request({ op: 'sub', filter, qos: 1 });
      const publisher = await mqttClient(`sensor-${n}`);
      await publisher.publishAsync(topic, `21.${n}`, {
        qos: 1,
        ...(carried ? { properties: { userProperties: { traceparent: CLIENT_TRACEPARENT } } } : {}),
      });
      await waitFor(() => subscriber.messages.find((m) => m.topic === topic), 'the WebSocket msg frame');
      const frame = subscriber.messages.find((m) => m.topic === topic) as Frame;
      expect(frame.text).toBe(`21.${n}`);

      // The msg frame names the ws-edge deliver span as its parent, in the publisher's trace.
      expect(frame.traceparent, 'msg frame traceparent').toMatch(TRACEPARENT_RE);
      const [, traceId] = TRACEPARENT_RE.exec(String(frame.traceparent))!;
      if (carried) expect(traceId).toBe(CLIENT_TRACE_ID);

      const publish = await spanOf(traceId!, 'mqtt-edge', `publish ${topic}`);
      const deliver = await spanOf(traceId!, 'ws-edge', `deliver ${filter}`);
      const { process, forward } = await bridgeSpans(traceId!, 'mqtt');
      // One trace id over the three services.
      const services = new Set(
        exporter
          .getFinishedSpans()
          .filter((s) => s.spanContext().traceId === traceId)
          .map(serviceOf),
      );
      expect([...services].sort()).toEqual(['bridge', 'mqtt-edge', 'ws-edge']);

      // The chain: client → mqtt-edge publish → bridge process → bridge publish → ws-edge deliver.
      if (carried) expect(publish.parentSpanContext?.spanId).toBe(CLIENT_SPAN_ID);
      else expect(publish.parentSpanContext, 'a new root at the edge').toBeUndefined();
      expectChildOf(process, publish, true);
      expectChildOf(forward, process, false);
      expectChildOf(deliver, forward, true);
      expect(frame.traceparent).toBe(`00-${traceId}-${idOf(deliver)}-01`);

      // Kinds and messaging attributes (OpenTelemetry messaging semantic conventions).
      expect([publish.kind, process.kind, forward.kind, deliver.kind]).toEqual([
        PRODUCER,
        CONSUMER,
        PRODUCER,
        CONSUMER,
      ]);
      expect(publish.attributes).toMatchObject({
        'messaging.system': 'mqtt',
        'messaging.operation.type': 'send',
        'messaging.destination.name': topic,
        'messaging.client.id': `sensor-${n}`,
        'protomesh.qos': 1,
      });
      expect(process.attributes).toMatchObject({
        'messaging.system': 'nats',
        'messaging.operation.type': 'process',
        'protomesh.tier': 'mqtt',
        'protomesh.qos': 1,
        'protomesh.route': 'mqtt->ws',
      });
      expect(String(process.attributes['messaging.destination.name'])).toContain('.mqtt.1.');
      expect(forward.attributes).toMatchObject({
        'messaging.system': 'nats',
        'protomesh.tier': 'ws',
        'protomesh.qos': 1,
      });
      expect(String(forward.attributes['messaging.destination.name'])).toContain('.ws.1.');
      expect(deliver.attributes).toMatchObject({
        'messaging.system': 'websocket',
        'messaging.operation.type': 'process',
        'messaging.destination.name': topic,
        'messaging.destination.subscription.name': filter,
        'protomesh.recipients': 1,
      });
      expect(deliver.attributes['protomesh.qos']).toBeTypeOf('number');
    });
  }

  it('WebSocket QoS 1 pub with a traceparent → MQTT v5 subscriber: one trace over ws-edge, bridge and mqtt-edge', async () => {
    const topic = 'plant/3/cmd';
    const filter = 'plant/+/cmd';
    const subscriber = await mqttClient('actuator-3');
    const received: IPublishPacket[] = [];
    subscriber.on('message', (_topic, _payload, packet) => received.push(packet));
    await subscriber.subscribeAsync(filter, { qos: 1 });
    const publisher = await wsClient();
    await publisher.request({ op: 'pub', topic, qos: 1, text: 'open', traceparent: CLIENT_TRACEPARENT });
    await waitFor(() => received.length > 0, 'the MQTT PUBLISH');
    const packet = received[0]!;
    expect(packet.payload.toString()).toBe('open');

    const userProperties = packet.properties?.userProperties as Record<string, string | string[]> | undefined;
    const traceparent = userProperties?.traceparent;
    expect(traceparent, 'traceparent user property').toMatch(TRACEPARENT_RE);
    const [, traceId] = TRACEPARENT_RE.exec(String(traceparent))!;
    expect(traceId).toBe(CLIENT_TRACE_ID);

    const publish = await spanOf(CLIENT_TRACE_ID, 'ws-edge', `publish ${topic}`);
    // mqtt-edge names its deliver span after the topic (one span per backbone message and
    // local fan-out, which may match several filters) or the matched filter.
    const deliver = await waitFor(
      () =>
        exporter
          .getFinishedSpans()
          .find(
            (s) =>
              s.spanContext().traceId === CLIENT_TRACE_ID &&
              serviceOf(s) === 'mqtt-edge' &&
              (s.name === `deliver ${topic}` || s.name === `deliver ${filter}`),
          ),
      `the mqtt-edge deliver span in trace ${CLIENT_TRACE_ID}`,
    );
    const { process, forward } = await bridgeSpans(CLIENT_TRACE_ID, 'ws');

    expect(publish.parentSpanContext?.spanId).toBe(CLIENT_SPAN_ID);
    expectChildOf(process, publish, true);
    expectChildOf(forward, process, false);
    expectChildOf(deliver, forward, true);
    expect(traceparent).toBe(`00-${CLIENT_TRACE_ID}-${idOf(deliver)}-01`);
    expect([publish.kind, process.kind, forward.kind, deliver.kind]).toEqual([PRODUCER, CONSUMER, PRODUCER, CONSUMER]);
    expect(publish.attributes).toMatchObject({
      'messaging.system': 'websocket',
      'messaging.destination.name': topic,
      'protomesh.qos': 1,
    });
    expect(publish.attributes['messaging.client.id']).toBeTypeOf('string');
    expect(process.attributes).toMatchObject({ 'protomesh.route': 'ws->mqtt', 'protomesh.qos': 1 });
    expect(deliver.attributes).toMatchObject({
      'messaging.system': 'mqtt',
      'messaging.destination.name': topic,
      // One recipient: the deliver span names it.
      'messaging.client.id': 'actuator-3',
    });
    expect(deliver.attributes['protomesh.qos']).toBeTypeOf('number');
  });
});

describe('the issue-6 metrics on each service /metrics', () => {
  it('connections, messages and bytes, delivery latency, bridge routes and lag, redeliveries, auth failures, protocol errors, slow consumers, backbone state', async () => {
    // Traffic both ways, with the connections still open while scraping.
    const wsSub = await wsClient();
    await wsSub.request({ op: 'sub', filter: 'metrics/#', qos: 1 });
    const mqttSub = await mqttClient('metrics-sub');
    await mqttSub.subscribeAsync('metrics/#', { qos: 1 });
    const mqttPub = await mqttClient('metrics-pub');
    await mqttPub.publishAsync('metrics/a', 'from-mqtt', { qos: 1 });
    await mqttPub.publishAsync('metrics/b', 'from-mqtt-0', { qos: 0 });
    const wsPub = await wsClient();
    await wsPub.request({ op: 'pub', topic: 'metrics/c', qos: 1, text: 'from-ws' });
    await waitFor(() => wsSub.messages.some((m) => m.topic === 'metrics/a'), 'MQTT → WebSocket');
    await waitFor(() => wsSub.messages.some((m) => m.topic === 'metrics/c'), 'WebSocket → WebSocket');

    // Bad input, so the error counters have series: garbage on the MQTT port (not a CONNECT),
    // and the HTTP API without a key (an auth failure of the ws tier).
    await new Promise<void>((resolve) => {
      const socket = connectTcp(service('mqtt-edge').ports.mqtt!, '127.0.0.1', () =>
        socket.write(Buffer.from([0xff, 0x00])),
      );
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
    });
    const unauthorized = await fetch(`http://127.0.0.1:${service('ws-edge').ports.ws}/api/v1/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 'metrics/x', text: 'x' }),
    });
    expect(unauthorized.status).toBe(401);

    // A WebSocket subscriber that stops reading is closed as a slow consumer (4008) once more
    // than WS_MAX_BUFFERED (64 KiB here) waits for it, after the kernel's socket buffers filled.
    const slow = await wsClient();
    await slow.request({ op: 'sub', filter: 'slow/#', qos: 0 });
    slow.socket.pause();
    const flood = await wsClient();
    const chunk = 'x'.repeat(48 * 1024); // under WS_MAX_FRAME_SIZE (64 KiB)
    const wsMetrics = `http://127.0.0.1:${service('ws-edge').ports.admin}/metrics`;
    const dropped = async () =>
      /^protomesh_slow_consumers_dropped_total\{[^}]*\} [1-9]/m.test(await (await fetch(wsMetrics)).text());
    // The paused client notices nothing: ask ws-edge every 16 messages (768 KiB).
    for (let i = 1; i <= 1_000; i++) {
      await flood.request({ op: 'pub', topic: 'slow/t', qos: 1, text: chunk });
      if (i % 16 === 0 && (await dropped())) break;
    }
    slow.socket.resume();
    await waitFor(() => slow.closed, 'the slow consumer closed');
    expect(slow.closed?.code).toBe(4008); // docs/ws-protocol.md: 4008 slow consumer

    // GET /routes refreshes the bridge's consumer-lag gauge now (otherwise every 5 s).
    const routes = await fetch(`http://127.0.0.1:${service('bridge').ports.admin}/routes`);
    expect(routes.status).toBe(200);

    const scrape = async (name: string) => {
      const response = await fetch(`http://127.0.0.1:${service(name).ports.admin}/metrics`);
      expect(response.status).toBe(200);
      return response.text();
    };
    let mqttEdge = '';
    let wsEdge = '';
    let bridge = '';
    // The bridge sums its tier counters and adds them once a second: wait for both directions.
    await waitFor(async () => {
      [mqttEdge, wsEdge, bridge] = await Promise.all([scrape('mqtt-edge'), scrape('ws-edge'), scrape('bridge')]);
      return (
        /protomesh_messages_out_total\{[^}]*tier="ws"[^}]*qos="1"/.test(bridge) &&
        /protomesh_messages_out_total\{[^}]*tier="mqtt"[^}]*qos="1"/.test(bridge)
      );
    }, 'the bridge counters of both directions');
    // Soft assertions: a failure names every missing series (service and pattern), not only the first.
    const scraped: Record<string, string> = { 'mqtt-edge': mqttEdge, 'ws-edge': wsEdge, bridge };
    const has = (svc: string, series: RegExp) =>
      expect.soft(series.test(scraped[svc]!), `${svc} /metrics has ${series.source}`).toBe(true);

    // Connections by tier and protocol version.
    has('mqtt-edge', /^protomesh_connections\{[^}]*tier="mqtt"[^}]*version="5[^}]*\} [1-9]/m);
    has('ws-edge', /^protomesh_connections\{[^}]*tier="ws"[^}]*version="v1"[^}]*\} [1-9]/m);
    // Messages and bytes in/out by tier and QoS.
    has('mqtt-edge', /^protomesh_messages_in_total\{[^}]*tier="mqtt"[^}]*qos="1"[^}]*\} [1-9]/m);
    has('mqtt-edge', /^protomesh_messages_in_total\{[^}]*tier="mqtt"[^}]*qos="0"[^}]*\} [1-9]/m);
    has('mqtt-edge', /^protomesh_messages_out_total\{[^}]*tier="mqtt"[^}]*qos="1"[^}]*\} [1-9]/m);
    has('mqtt-edge', /^protomesh_bytes_in_total\{[^}]*tier="mqtt"[^}]*\} [1-9]/m);
    has('mqtt-edge', /^protomesh_bytes_out_total\{[^}]*tier="mqtt"[^}]*\} [1-9]/m);
    has('ws-edge', /^protomesh_messages_in_total\{[^}]*tier="ws"[^}]*qos="1"[^}]*\} [1-9]/m);
    has('ws-edge', /^protomesh_messages_out_total\{[^}]*tier="ws"[^}]*qos="1"[^}]*\} [1-9]/m);
    has('ws-edge', /^protomesh_bytes_in_total\{[^}]*tier="ws"[^}]*\} [1-9]/m);
    has('ws-edge', /^protomesh_bytes_out_total\{[^}]*tier="ws"[^}]*\} [1-9]/m);
    has('bridge', /^protomesh_messages_in_total\{[^}]*tier="mqtt"[^}]*qos="1"[^}]*\} [1-9]/m);
    has('bridge', /^protomesh_messages_out_total\{[^}]*tier="ws"[^}]*qos="1"[^}]*\} [1-9]/m);
    has('bridge', /^protomesh_bytes_out_total\{[^}]*tier="mqtt"[^}]*\} [1-9]/m);
    // Publish-to-delivery latency histogram on both edges, by delivering and publishing tier.
    has('ws-edge', /^protomesh_delivery_latency_seconds_bucket\{[^}]*tier="ws"[^}]*origin="mqtt"/m);
    has('ws-edge', /^protomesh_delivery_latency_seconds_count\{[^}]*tier="ws"[^}]*origin="mqtt"[^}]*\} [1-9]/m);
    has('ws-edge', /^protomesh_delivery_latency_seconds_count\{[^}]*tier="ws"[^}]*origin="ws"[^}]*\} [1-9]/m);
    has('mqtt-edge', /^protomesh_delivery_latency_seconds_count\{[^}]*tier="mqtt"[^}]*origin="mqtt"[^}]*\} [1-9]/m);
    has('mqtt-edge', /^protomesh_delivery_latency_seconds_count\{[^}]*tier="mqtt"[^}]*origin="ws"[^}]*\} [1-9]/m);
    // Bridge counters per route, and consumer lag.
    has('bridge', /^protomesh_bridge_messages_total\{route="mqtt->ws",outcome="bridged"\} [1-9]/m);
    has('bridge', /^protomesh_bridge_messages_total\{route="ws->mqtt",outcome="bridged"\} [1-9]/m);
    has('bridge', /^protomesh_bridge_consumer_lag\{route="mqtt->ws"\} \d+/m);
    has('bridge', /^protomesh_bridge_consumer_lag\{route="ws->mqtt"\} \d+/m);
    // JetStream redeliveries (each route reader reports its series from 0).
    has('bridge', /^protomesh_jetstream_redeliveries_total\{tier="mqtt",consumer="route"\} \d+/m);
    // Auth failures (the HTTP API without a key), protocol errors by code (the garbage packet).
    has('ws-edge', /^protomesh_auth_failures_total\{[^}]*tier="ws"[^}]*reason="bad_credentials"[^}]*\} [1-9]/m);
    has('mqtt-edge', /^protomesh_protocol_errors_total\{[^}]*tier="mqtt"[^}]*code="[^"]+"[^}]*\} [1-9]/m);
    // Slow consumers dropped (the paused WebSocket subscriber).
    has('ws-edge', /^protomesh_slow_consumers_dropped_total\{[^}]*tier="ws"[^}]*\} [1-9]/m);
    // Every service as a NATS client, under the OpenTelemetry messaging metric names.
    for (const svc of Object.keys(scraped)) {
      has(svc, /^messaging_client_sent_messages_total\{[^}]*messaging_system="nats"[^}]*\} [1-9]/m);
      has(svc, /^messaging_client_consumed_messages_total\{[^}]*messaging_system="nats"[^}]*\} [1-9]/m);
    }
    has(
      'mqtt-edge',
      /^messaging_client_operation_duration_count\{[^}]*messaging_operation_name="append"[^}]*\} [1-9]/m,
    );
    has('bridge', /^messaging_client_operation_duration_count\{[^}]*messaging_operation_name="append"[^}]*\} [1-9]/m);
    // Backbone connection state: connected on every service.
    for (const svc of Object.keys(scraped)) has(svc, /^protomesh_backbone_connected(\{[^}]*\})? 1$/m);

    // Every metric the dashboard queries (deploy/grafana/metrics.json) has a series somewhere.
    const all = Object.values(scraped).join('\n');
    const missing = DASHBOARD_METRICS.filter(({ name, type }) => {
      const series = type === 'histogram' ? `${name}_count` : name;
      return !new RegExp(`^${series}(\\{|\\s)`, 'm').test(all);
    }).map((m) => m.name);
    expect.soft(missing, 'dashboard metrics missing from every /metrics').toEqual([]);
  });
});

import { decodeMeta } from '@protomesh/envelope';
import { topicToSubject } from '@protomesh/topic-map';
import { binaryFrame } from '@protomesh/ws-edge';
import { afterEach, describe, expect, it } from 'vitest';
import type { TestClient } from '../support/client.js';
import { type EdgeFixture, edgeFixture, type FixtureOptions } from '../support/edge.js';
import {
  CLIENT_SPAN_ID,
  CLIENT_TRACE_ID,
  CLIENT_TRACEPARENT,
  metricValue,
  offButRecording,
  type RecordedTracing,
  recordedTracing,
  SPAN_KIND,
  traceparentOf,
} from '../support/spans.js';

let fixture: EdgeFixture | undefined;
let recorder: RecordedTracing | undefined;

afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
  await recorder?.tracing.shutdown();
  recorder = undefined;
});

/** ws-edge in memory with tracing on (or `off`: disabled over a recording tracer). */
async function start(mode: 'on' | 'off' = 'on', options: FixtureOptions = {}): Promise<EdgeFixture> {
  recorder = mode === 'on' ? recordedTracing() : offButRecording();
  fixture = await edgeFixture({ ...options, tracing: recorder.tracing });
  return fixture;
}

async function subscribed(edge: EdgeFixture, filter: string, extra: Record<string, unknown> = {}): Promise<TestClient> {
  const client = await edge.connect();
  expect(await client.request({ op: 'sub', id: 'sub', filter, ...extra })).toMatchObject({ op: 'ok', id: 'sub' });
  return client;
}

async function publisher(edge: EdgeFixture, client = 'app-1'): Promise<TestClient> {
  const connection = await edge.connect();
  expect(await connection.request({ op: 'connect', id: 0, client })).toMatchObject({ op: 'ok', client });
  return connection;
}

describe('publish and deliver spans (tracing on)', () => {
  it('continues a pub frame traceparent: PRODUCER publish span, CONSUMER deliver span, msg carries the deliver span', async () => {
    const edge = await start();
    const subscriber = await subscribed(edge, 'sensors/+/temp');
    const client = await publisher(edge);
    expect(
      await client.request({
        op: 'pub',
        id: 1,
        topic: 'sensors/1/temp',
        text: '21.5',
        traceparent: CLIENT_TRACEPARENT,
        tracestate: 'vendor=x',
      }),
    ).toEqual({ op: 'ok', id: 1 });
    const msg = await subscriber.nextMsg();

    const publish = await recorder!.span('publish sensors/1/temp');
    expect(publish.kind).toBe(SPAN_KIND.PRODUCER);
    expect(publish.spanContext().traceId).toBe(CLIENT_TRACE_ID);
    expect(publish.parentSpanContext?.spanId).toBe(CLIENT_SPAN_ID);
    expect(publish.attributes).toEqual({
      'messaging.system': 'websocket',
      'messaging.system.name': 'websocket',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'publish',
      'messaging.destination.name': 'sensors/1/temp',
      'messaging.client.id': 'app-1',
      'messaging.message.body.size': 4,
      'protomesh.qos': 0,
      'protomesh.tier': 'ws',
    });

    const deliver = await recorder!.span('deliver sensors/+/temp');
    expect(deliver.kind).toBe(SPAN_KIND.CONSUMER);
    expect(deliver.spanContext().traceId).toBe(CLIENT_TRACE_ID);
    expect(deliver.parentSpanContext?.spanId).toBe(publish.spanContext().spanId);
    expect(deliver.links.map((link) => link.context.spanId)).toEqual([publish.spanContext().spanId]);
    expect(deliver.attributes).toEqual({
      'messaging.system': 'websocket',
      'messaging.system.name': 'websocket',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'deliver',
      'messaging.destination.name': 'sensors/1/temp',
      'messaging.destination.template': 'sensors/+/temp',
      'messaging.destination.subscription.name': 'sensors/+/temp',
      'protomesh.qos': 0,
      'protomesh.tier': 'ws',
      'protomesh.recipients': 1,
    });

    // W3C Trace Context §3.2: the delivered frame names this hop's span as its parent.
    expect(msg).toEqual({
      op: 'msg',
      sub: 'sensors/+/temp',
      topic: 'sensors/1/temp',
      qos: 0,
      text: '21.5',
      origin: 'ws',
      traceparent: traceparentOf(deliver),
      tracestate: 'vendor=x',
    });
  });

  it('writes the publish span and Mesh-Published-At into the stored message (QoS 1), so the trace continues through NATS', async () => {
    const edge = await start();
    const subscriber = await subscribed(edge, 'orders/#');
    const client = await publisher(edge);
    const before = Date.now();
    const ok = await client.request({
      op: 'pub',
      id: 1,
      topic: 'orders/7',
      qos: 1,
      text: 'x',
      msgId: 'm-1',
      traceparent: CLIENT_TRACEPARENT,
    });
    expect(ok).toEqual({ op: 'ok', id: 1, seq: 1 });
    const msg = await subscriber.nextMsg();

    const publish = await recorder!.span('publish orders/7');
    expect(publish.attributes).toMatchObject({ 'protomesh.qos': 1, 'messaging.message.id': '/app-1:m-1' });
    const stored = decodeMeta((await edge.backbone.getMessage(edge.layout.streams.ws.name, 1))?.headers);
    expect(stored.traceparent).toBe(traceparentOf(publish));
    expect(stored.publishedAt).toBeGreaterThanOrEqual(before);
    expect(stored.publishedAt).toBeLessThanOrEqual(Date.now());

    const deliver = await recorder!.span('deliver orders/#');
    expect(deliver.spanContext().traceId).toBe(CLIENT_TRACE_ID);
    expect(deliver.attributes).toMatchObject({ 'messaging.message.id': '1', 'protomesh.qos': 1 });
    expect(msg).toMatchObject({ seq: 1, traceparent: traceparentOf(deliver) });
    expect(msg.tracestate).toBeUndefined();
  });

  it('starts a new root trace for a pub without traceparent, or with a malformed one (W3C Trace Context §3.2.2)', async () => {
    const edge = await start();
    const subscriber = await subscribed(edge, 'r/#');
    const client = await publisher(edge);
    const sent = [
      { topic: 'r/none' },
      { topic: 'r/garbage', traceparent: 'not-a-traceparent', tracestate: 'vendor=x' },
      { topic: 'r/zero', traceparent: `00-${'0'.repeat(32)}-${CLIENT_SPAN_ID}-01` },
      { topic: 'r/ff', traceparent: `ff-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01` },
      { topic: 'r/number', traceparent: 42 },
    ];
    for (const [i, fields] of sent.entries()) {
      expect(await client.request({ op: 'pub', id: i, text: 'x', ...fields })).toEqual({ op: 'ok', id: i });
    }
    const traceIds = new Set<string>();
    for (const { topic } of sent) {
      const msg = await subscriber.nextMsg();
      expect(msg.topic).toBe(topic);
      expect(msg.tracestate).toBeUndefined();
      const publish = await recorder!.span(`publish ${topic}`);
      expect(publish.parentSpanContext).toBeUndefined();
      const traceId = publish.spanContext().traceId;
      expect(traceId).not.toBe(CLIENT_TRACE_ID);
      traceIds.add(traceId);
      expect(msg.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    }
    expect(traceIds.size).toBe(sent.length);
    const delivers = recorder!.spans().filter((span) => span.name === 'deliver r/#');
    expect(delivers.map((span) => span.spanContext().traceId).sort()).toEqual([...traceIds].sort());
  });

  it('starts one deliver span per backbone message and filter group, not per recipient', async () => {
    const edge = await start();
    const group = [
      await subscribed(edge, 'room/#'),
      await subscribed(edge, 'room/#'),
      await subscribed(edge, 'room/#'),
    ];
    const single = await subscribed(edge, 'room/+');
    const client = await publisher(edge);
    client.send({ op: 'pub', topic: 'room/1', text: 'hi', traceparent: CLIENT_TRACEPARENT });

    const received = await Promise.all(group.map((member) => member.nextMsg()));
    const alone = await single.nextMsg();
    const wide = await recorder!.span('deliver room/#');
    const narrow = await recorder!.span('deliver room/+');
    expect(wide.attributes['protomesh.recipients']).toBe(3);
    expect(narrow.attributes['protomesh.recipients']).toBe(1);
    expect(received.map((msg) => msg.traceparent)).toEqual(Array(3).fill(traceparentOf(wide)));
    expect(alone.traceparent).toBe(traceparentOf(narrow));
    expect(recorder!.spans().filter((span) => span.name.startsWith('deliver '))).toHaveLength(2);
  });

  it('reads traceparent from the JSON header of a binary pub, and writes it into the header of a binary msg', async () => {
    const edge = await start();
    const subscriber = await edge.connect();
    expect(await subscriber.request({ op: 'connect', id: 0, binary: true })).toMatchObject({ op: 'ok' });
    expect(await subscriber.request({ op: 'sub', id: 1, filter: 'cam/#' })).toMatchObject({ op: 'ok' });
    const client = await publisher(edge);
    const bytes = Buffer.from([0xff, 0x00, 0xfe]);
    client.sendRaw(binaryFrame({ op: 'pub', id: 2, topic: 'cam/1', traceparent: CLIENT_TRACEPARENT }, bytes), true);
    expect(await client.next()).toEqual({ op: 'ok', id: 2 });

    const msg = await subscriber.nextMsg();
    expect(msg).toMatchObject({ binary: true, topic: 'cam/1', payload: bytes });
    const publish = await recorder!.span('publish cam/1');
    expect(publish.parentSpanContext?.spanId).toBe(CLIENT_SPAN_ID);
    expect(msg.traceparent).toBe(traceparentOf(await recorder!.span('deliver cam/#')));
  });

  it('gives history, retained and acknowledged deliveries a deliver span each, for one recipient', async () => {
    const edge = await start('on', { env: { WS_ACK_WAIT: '200ms' } });
    const client = await publisher(edge);
    const first = CLIENT_TRACEPARENT;
    const second = `00-${'1'.repeat(32)}-${CLIENT_SPAN_ID}-01`;
    expect(await client.request({ op: 'pub', id: 1, topic: 'jobs/1', qos: 1, text: 'a', traceparent: first })).toEqual({
      op: 'ok',
      id: 1,
      seq: 1,
    });
    expect(
      await client.request({ op: 'pub', id: 2, topic: 'jobs/2', qos: 1, retain: true, text: 'b', traceparent: second }),
    ).toMatchObject({ op: 'ok', id: 2, seq: 2 });

    const reader = await publisher(edge, 'reader-1');
    reader.send({ op: 'sub', id: 'h', filter: 'jobs/#', since: 0, retained: true });
    const frames = await reader.until((frame) => frame.op === 'ok' && frame.id === 'h');
    const msgs = frames.filter((frame) => frame.op === 'msg');
    expect(msgs.map((msg) => [msg.topic, msg.retain ?? false])).toEqual([
      ['jobs/2', true],
      ['jobs/1', false],
      ['jobs/2', false],
    ]);
    const delivers = recorder!.spans().filter((span) => span.name === 'deliver jobs/#');
    expect(delivers).toHaveLength(3);
    for (const [i, span] of delivers.entries()) {
      expect(span.attributes).toMatchObject({ 'protomesh.recipients': 1, 'messaging.client.id': 'reader-1' });
      expect(msgs[i]!.traceparent).toBe(traceparentOf(span));
    }
    expect(delivers.map((span) => span.spanContext().traceId)).toEqual([
      '1'.repeat(32),
      CLIENT_TRACE_ID,
      '1'.repeat(32),
    ]);

    // Acknowledged: each delivery (the first and the redelivery) gets its own span in the message's trace.
    const acker = await publisher(edge, 'acker-1');
    expect(await acker.request({ op: 'sub', id: 'a', filter: 'work/#', ack: true })).toMatchObject({ op: 'ok' });
    client.send({ op: 'pub', topic: 'work/1', qos: 1, text: 'w', traceparent: first });
    const delivered = await acker.nextMsg();
    const again = await acker.nextMsg();
    expect(again).toMatchObject({ seq: delivered.seq, redelivered: 2 });
    acker.send({ op: 'ack', sub: 'work/#', seq: again.seq });
    // After the round trip the ack is processed: no further redelivery can be counted.
    await acker.barrier();
    const acked = recorder!.spans().filter((span) => span.name === 'deliver work/#');
    expect(acked.length).toBeGreaterThanOrEqual(2);
    expect(acked.map((span) => span.spanContext().traceId)).toEqual(Array(acked.length).fill(CLIENT_TRACE_ID));
    expect(acked[0]!.attributes).toMatchObject({ 'messaging.client.id': 'acker-1', 'protomesh.recipients': 1 });
    expect([delivered.traceparent, again.traceparent]).toEqual([traceparentOf(acked[0]!), traceparentOf(acked[1]!)]);
    const metrics = await edge.metrics.render();
    expect(metricValue(metrics, 'protomesh_jetstream_redeliveries_total', { tier: 'ws', consumer: 'recovery' })).toBe(
      acked.length - 1,
    );
  });

  it('makes the HTTP API publish a child of the request span, which continues the traceparent header', async () => {
    const edge = await start('on', { env: { WS_API_KEYS: 'k1' } });
    const subscriber = await subscribed(edge, 'alerts/#');
    const response = await edge.app.inject({
      method: 'POST',
      url: '/api/v1/publish',
      headers: { 'content-type': 'application/json', authorization: 'Bearer k1', traceparent: CLIENT_TRACEPARENT },
      payload: JSON.stringify({
        messages: [
          { topic: 'alerts/1', text: 'a' },
          { topic: 'alerts/2', text: 'b' },
        ],
      }),
    });
    expect(response.statusCode).toBe(200);
    const msgs = [await subscriber.nextMsg(), await subscriber.nextMsg()];

    const request = await recorder!.span('request');
    expect(request.kind).toBe(SPAN_KIND.SERVER);
    expect(request.spanContext().traceId).toBe(CLIENT_TRACE_ID);
    expect(request.parentSpanContext?.spanId).toBe(CLIENT_SPAN_ID);
    expect(request.attributes).toMatchObject({ 'http.route': '/api/v1/publish', 'http.response.status_code': 200 });
    for (const [i, topic] of ['alerts/1', 'alerts/2'].entries()) {
      const publish = await recorder!.span(`publish ${topic}`);
      expect(publish.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
      expect(publish.attributes['messaging.client.id']).toMatch(/^api:[0-9a-f]{12}$/);
      expect(msgs[i]!.traceparent).toMatch(new RegExp(`^00-${CLIENT_TRACE_ID}-`));
    }
  });
});

describe('tracing off', () => {
  it('does no span work and leaves deliveries unchanged', async () => {
    const edge = await start('off', { env: { WS_API_KEYS: 'k1' } });
    const subscriber = await subscribed(edge, 'sensors/#');
    const client = await publisher(edge);
    expect(await client.request({ op: 'pub', id: 1, topic: 'sensors/1', text: 'a' })).toEqual({ op: 'ok', id: 1 });
    expect(await subscriber.nextMsg()).toEqual({
      op: 'msg',
      sub: 'sensors/#',
      topic: 'sensors/1',
      qos: 0,
      text: 'a',
      origin: 'ws',
    });
    expect(await client.request({ op: 'pub', id: 2, topic: 'sensors/2', qos: 1, text: 'b' })).toEqual({
      op: 'ok',
      id: 2,
      seq: 1,
    });
    expect(await subscriber.nextMsg()).toEqual({
      op: 'msg',
      sub: 'sensors/#',
      topic: 'sensors/2',
      qos: 1,
      seq: 1,
      text: 'b',
      origin: 'ws',
    });
    const stored = decodeMeta((await edge.backbone.getMessage(edge.layout.streams.ws.name, 1))?.headers);
    expect(stored.traceparent).toBeUndefined();
    expect(stored.publishedAt).toBeTypeOf('number');
    const api = await edge.app.inject({
      method: 'POST',
      url: '/api/v1/publish',
      headers: { 'content-type': 'application/json', authorization: 'Bearer k1' },
      payload: JSON.stringify({ topic: 'sensors/3', text: 'c' }),
    });
    expect(api.json()).toEqual({ ok: true });
    expect(await subscriber.nextMsg()).toEqual({
      op: 'msg',
      sub: 'sensors/#',
      topic: 'sensors/3',
      qos: 0,
      text: 'c',
      origin: 'ws',
    });
    await subscriber.barrier();
    expect(recorder!.spans()).toEqual([]);
  });

  it('still forwards the trace context a client sent, unchanged, to NATS and to subscribers', async () => {
    const edge = await start('off', { env: { WS_API_KEYS: 'k1' } });
    const subscriber = await subscribed(edge, 'sensors/#');
    const client = await publisher(edge);
    client.send({
      op: 'pub',
      topic: 'sensors/1',
      qos: 1,
      text: 'a',
      traceparent: CLIENT_TRACEPARENT,
      tracestate: 'v=1',
    });
    expect(await subscriber.nextMsg()).toMatchObject({ traceparent: CLIENT_TRACEPARENT, tracestate: 'v=1' });
    const stored = decodeMeta((await edge.backbone.getMessage(edge.layout.streams.ws.name, 1))?.headers);
    expect(stored).toMatchObject({ traceparent: CLIENT_TRACEPARENT, tracestate: 'v=1' });

    // A malformed one is dropped, not forwarded (it would reach NATS headers and other tiers).
    client.send({ op: 'pub', topic: 'sensors/2', text: 'b', traceparent: 'x\r\ny', tracestate: 'v=1' });
    const dropped = await subscriber.nextMsg();
    expect(dropped.topic).toBe('sensors/2');
    expect(dropped.traceparent).toBeUndefined();
    expect(dropped.tracestate).toBeUndefined();

    // HTTP API: the request's traceparent header is forwarded; a message's own field wins.
    const other = `00-${'2'.repeat(32)}-${CLIENT_SPAN_ID}-00`;
    const api = await edge.app.inject({
      method: 'POST',
      url: '/api/v1/publish',
      headers: { 'content-type': 'application/json', authorization: 'Bearer k1', traceparent: CLIENT_TRACEPARENT },
      payload: JSON.stringify({
        messages: [
          { topic: 'sensors/3', text: 'c' },
          { topic: 'sensors/4', text: 'd', traceparent: other },
        ],
      }),
    });
    expect(api.statusCode).toBe(200);
    expect(await subscriber.nextMsg()).toMatchObject({ topic: 'sensors/3', traceparent: CLIENT_TRACEPARENT });
    expect(await subscriber.nextMsg()).toMatchObject({ topic: 'sensors/4', traceparent: other });
    expect(recorder!.spans()).toEqual([]);
  });
});

describe('metrics (docs/telemetry.md)', () => {
  it('records delivery latency once per delivered backbone message and fan-out (not per client), from Mesh-Published-At', async () => {
    const edge = await start('off');
    const subscribers = [await subscribed(edge, 'a/#'), await subscribed(edge, 'a/#'), await subscribed(edge, 'a/#')];
    const client = await publisher(edge);
    expect(await client.request({ op: 'pub', id: 1, topic: 'a/1', text: 'x' })).toMatchObject({ op: 'ok' });
    expect(await client.request({ op: 'pub', id: 2, topic: 'a/2', qos: 1, text: 'y' })).toMatchObject({ op: 'ok' });
    for (const subscriber of subscribers) {
      // QoS 0 and QoS 1 travel separately: not ordered against each other.
      const topics = [(await subscriber.nextMsg()).topic, (await subscriber.nextMsg()).topic];
      expect(topics.sort()).toEqual(['a/1', 'a/2']);
    }
    // A message published with no timestamp (a plain NATS publisher) gets no sample.
    edge.backbone.publish(topicToSubject({ prefix: edge.config.prefix, tier: 'ws' }, 'a/3', '0'), new Uint8Array([1]));
    expect((await subscribers[0]!.nextMsg()).topic).toBe('a/3');

    const text = await edge.metrics.render();
    const count = (qos: string) =>
      metricValue(text, 'protomesh_delivery_latency_seconds_count', { tier: 'ws', origin: 'ws', qos });
    expect(count('0')).toBe(1);
    expect(count('1')).toBe(1);
    expect(metricValue(text, 'protomesh_delivery_latency_seconds_bucket', { qos: '0', le: '+Inf' })).toBe(1);
  });
});

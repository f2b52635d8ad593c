import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { RunningMesh } from '@protomesh/runtime';
import { type NatsServerHandle, startInProcess, startNatsServer, uniqueName, waitFor } from '@protomesh/test-support';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Replicas, WS_EDGE } from '../support/replicas.js';
import {
  CLIENT_SPAN_ID,
  CLIENT_TRACE_ID,
  CLIENT_TRACEPARENT,
  metricValue,
  SPAN_KIND,
  traceparentOf,
} from '../support/spans.js';
import { claims, hs256, SECRET } from '../support/tokens.js';

let nats: NatsServerHandle;
let replicas: Replicas;
const meshes: RunningMesh[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
});

afterAll(async () => {
  await nats?.stop();
});

afterEach(async () => {
  await replicas?.close();
  await Promise.all(meshes.splice(0).map((mesh) => mesh.stop()));
});

/** A ws-edge replica of mesh `prefix` on NATS, started as `main` would, tracing into `exporter`. */
async function traced(prefix: string, exporter: InMemorySpanExporter): Promise<RunningMesh> {
  const mesh = await startInProcess(WS_EDGE, {
    prefix,
    natsUrl: nats.url,
    spanExporter: exporter,
    env: { WS_ALLOW_ANONYMOUS: 'true' },
  });
  meshes.push(mesh);
  return mesh;
}

async function span(exporter: InMemorySpanExporter, name: string): Promise<ReadableSpan> {
  await waitFor(() => exporter.getFinishedSpans().some((s) => s.name === name), `span ${name}`);
  const found = exporter.getFinishedSpans().filter((s) => s.name === name);
  expect(found, `spans named ${name}`).toHaveLength(1);
  return found[0]!;
}

describe('traces across replicas on NATS', () => {
  it('continues a client traceparent: publish span on replica A, deliver span on replica B, one trace', async () => {
    replicas = new Replicas(nats.url);
    const exporter = new InMemorySpanExporter();
    const prefix = uniqueName();
    const [a, b] = [await traced(prefix, exporter), await traced(prefix, exporter)];
    const subscriber = await replicas.client(replicas.url(b));
    expect(await subscriber.request({ op: 'sub', id: 's', filter: 'sensors/#' })).toMatchObject({ op: 'ok' });
    const publisher = await replicas.client(replicas.url(a));
    expect(await publisher.request({ op: 'connect', id: 0, client: 'dev-1' })).toMatchObject({ op: 'ok' });

    for (const qos of [0, 1]) {
      const topic = `sensors/${qos}/temp`;
      const reply = await publisher.request({
        op: 'pub',
        id: qos,
        topic,
        qos,
        text: '21',
        traceparent: CLIENT_TRACEPARENT,
      });
      expect(reply).toMatchObject({ op: 'ok', id: qos });
      const msg = await subscriber.nextMsg();
      expect(msg).toMatchObject({ topic, qos });

      const publish = await span(exporter, `publish ${topic}`);
      expect(publish.kind).toBe(SPAN_KIND.PRODUCER);
      expect(publish.spanContext().traceId).toBe(CLIENT_TRACE_ID);
      expect(publish.parentSpanContext?.spanId).toBe(CLIENT_SPAN_ID);
      expect(publish.attributes).toMatchObject({
        'messaging.system': 'websocket',
        'messaging.destination.name': topic,
        'messaging.client.id': 'dev-1',
        'protomesh.qos': qos,
      });
      const deliver = exporter
        .getFinishedSpans()
        .filter(
          (s) =>
            s.name === 'deliver sensors/#' &&
            s.spanContext().traceId === CLIENT_TRACE_ID &&
            s.parentSpanContext?.spanId === publish.spanContext().spanId,
        );
      expect(deliver).toHaveLength(1);
      expect(deliver[0]!.kind).toBe(SPAN_KIND.CONSUMER);
      expect(deliver[0]!.resource.attributes['service.name']).toBe('ws-edge');
      expect(msg.traceparent).toBe(traceparentOf(deliver[0]!));
    }
  });

  it('starts a new root for a client without traceparent, which the delivery on the other replica continues', async () => {
    replicas = new Replicas(nats.url);
    const exporter = new InMemorySpanExporter();
    const prefix = uniqueName();
    const [a, b] = [await traced(prefix, exporter), await traced(prefix, exporter)];
    const subscriber = await replicas.client(replicas.url(b));
    expect(await subscriber.request({ op: 'sub', id: 's', filter: 'news/+' })).toMatchObject({ op: 'ok' });
    const publisher = await replicas.client(replicas.url(a));
    publisher.send({ op: 'pub', topic: 'news/1', qos: 1, text: 'x' });
    const msg = await subscriber.nextMsg();

    const publish = await span(exporter, 'publish news/1');
    expect(publish.parentSpanContext).toBeUndefined();
    const deliver = await span(exporter, 'deliver news/+');
    expect(deliver.spanContext().traceId).toBe(publish.spanContext().traceId);
    expect(deliver.parentSpanContext?.spanId).toBe(publish.spanContext().spanId);
    expect(msg.traceparent).toBe(traceparentOf(deliver));
  });
});

describe('metrics on /metrics', () => {
  it('shows delivery latency, auth failures by reason and acknowledged-subscription redeliveries', async () => {
    replicas = new Replicas(nats.url);
    const prefix = uniqueName();
    const env = { WS_JWT_SECRET: SECRET, WS_ACK_WAIT: '300ms' };
    const [a, b] = [await replicas.start(prefix, env), await replicas.start(prefix, env)];

    const acker = await replicas.client(b);
    expect(await acker.request({ op: 'sub', id: 'a', filter: 'jobs/#', ack: true })).toMatchObject({ op: 'ok' });
    const publisher = await replicas.client(a);
    expect(await publisher.request({ op: 'pub', id: 1, topic: 'jobs/1', qos: 1, text: 'do' })).toMatchObject({
      op: 'ok',
    });
    const first = await acker.nextMsg();
    expect(await acker.nextMsg()).toMatchObject({ seq: first.seq, redelivered: 2 });
    acker.send({ op: 'ack', sub: 'jobs/#', seq: first.seq });
    await acker.barrier();

    const bad = await replicas.client(a, 'protomesh.v1', { authorization: 'Bearer not.a.jwt' });
    expect((await bad.closed).code).toBe(4401);
    const expired = await replicas.client(a, 'protomesh.v1', {
      authorization: `Bearer ${hs256(claims({}, -3_600))}`,
    });
    expect((await expired.closed).code).toBe(4401);
    const limited = await replicas.client(a, 'protomesh.v1', {
      authorization: `Bearer ${hs256(claims({ mesh: { pub: ['own/#'], sub: ['own/#'] } }))}`,
    });
    expect(await limited.request({ op: 'pub', id: 1, topic: 'jobs/2', text: 'x' })).toMatchObject({
      code: 'PM_WS_FORBIDDEN',
    });

    const scrape = async (mesh: RunningMesh) => {
      const response = await fetch(`${mesh.services[0]!.endpoints.admin}/metrics`);
      expect(response.status).toBe(200);
      return response.text();
    };
    const onB = await scrape(b);
    expect(
      metricValue(onB, 'protomesh_delivery_latency_seconds_count', { tier: 'ws', origin: 'ws', qos: '1' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      metricValue(onB, 'protomesh_jetstream_redeliveries_total', { tier: 'ws', consumer: 'recovery' }),
    ).toBeGreaterThanOrEqual(1);
    const onA = await scrape(a);
    expect(metricValue(onA, 'protomesh_auth_failures_total', { tier: 'ws', reason: 'bad_credentials' })).toBe(1);
    expect(metricValue(onA, 'protomesh_auth_failures_total', { tier: 'ws', reason: 'expired' })).toBe(1);
    expect(metricValue(onA, 'protomesh_auth_failures_total', { tier: 'ws', reason: 'acl_denied' })).toBe(1);
    expect(metricValue(onA, 'protomesh_delivery_latency_seconds_count')).toBeUndefined();
  });
});

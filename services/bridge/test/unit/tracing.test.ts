import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import {
  type Backbone,
  type BackboneMessage,
  createEmbeddedBackbone,
  type HeaderEntries,
  type MeshLayout,
  meshLayout,
  provisionMesh,
} from '@protomesh/backbone';
import {
  type Bridge,
  type BridgeRoute,
  type CrossingPlan,
  createBridge,
  startBridge,
  withTraceHeaders,
} from '@protomesh/bridge';
import { loadConfig } from '@protomesh/config';
import { decodeMeta, encodeMeta } from '@protomesh/envelope';
import type { RunningMesh } from '@protomesh/runtime';
import { createTracing, silentLogger, type Tracing } from '@protomesh/telemetry';
import { startInProcess, uniqueName, waitFor } from '@protomesh/test-support';
import { type Tier, topicToSubject } from '@protomesh/topic-map';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/** `SpanKind` values of `@opentelemetry/api`. */
const PRODUCER = 3;
const CONSUMER = 4;
/** A client's trace context (W3C Trace Context §3.2 example ids). */
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const PARENT_ID = 'b7ad6b7169203331';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_ID}-01`;
const TRACESTATE = 'congo=t61rcWkgMzE';
/** `Mesh-Published-At` of the source: the bridge must not move it. */
const PUBLISHED_AT = 1_700_000_000_000;

const text = (s: string) => new TextEncoder().encode(s);

let backbone: Backbone;
let exporter: InMemorySpanExporter;
let cleanups: Array<() => Promise<void> | void>;

beforeEach(() => {
  backbone = createEmbeddedBackbone();
  exporter = new InMemorySpanExporter();
  cleanups = [];
});

afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await backbone.close();
});

function subjectOf(prefix: string, tier: Tier, topic: string, cls: '0' | '1'): string {
  return topicToSubject({ prefix, tier }, topic, cls);
}

/** Live messages of one tier (both classes: appends reach live subscribers too). */
function collect(prefix: string, tier: Tier): BackboneMessage[] {
  const got: BackboneMessage[] = [];
  const sub = backbone.subscribe(`${prefix}.${tier}.>`, (m) => got.push(m));
  cleanups.push(() => sub.unsubscribe());
  return got;
}

const sourceHeaders = (): HeaderEntries =>
  encodeMeta({
    originTier: 'mqtt',
    originClient: 'sensor-1',
    traceparent: TRACEPARENT,
    tracestate: TRACESTATE,
    publishedAt: PUBLISHED_AT,
  });

function byName(name: string): ReadableSpan {
  const found = exporter.getFinishedSpans().filter((s) => s.name === name);
  expect(found, `spans named ${name}`).toHaveLength(1);
  return found[0]!;
}

async function startTraced(): Promise<RunningMesh> {
  const prefix = uniqueName();
  const mesh = await startInProcess(
    { name: 'bridge', start: startBridge },
    { prefix, backbone, spanExporter: exporter },
  );
  cleanups.push(() => mesh.stop());
  return mesh;
}

describe('bridge tracing (docs/telemetry.md, bridge)', () => {
  for (const cls of ['0', '1'] as const) {
    it(`QoS ${cls}: a message carrying a traceparent yields process + publish spans in its trace, and the target carries that trace`, async () => {
      const mesh = await startTraced();
      const prefix = mesh.layout.prefix;
      const target = collect(prefix, 'ws');
      const source = subjectOf(prefix, 'mqtt', 'plant/temp', cls);
      if (cls === '0') backbone.publish(source, text('21.5'), sourceHeaders());
      else await backbone.append(source, text('21.5'), { headers: sourceHeaders() });
      const targetSubject = subjectOf(prefix, 'ws', 'plant/temp', cls);
      await waitFor(() => target.some((m) => m.subject === targetSubject), 'the bridged message');
      await waitFor(() => exporter.getFinishedSpans().length >= 2, 'process and publish spans');

      const process = byName(`process ${source}`);
      const publish = byName(`publish ${targetSubject}`);
      expect(process.kind).toBe(CONSUMER);
      expect(publish.kind).toBe(PRODUCER);
      // Continues the client's trace: child of the producer's span, and linked to it.
      expect(process.spanContext().traceId).toBe(TRACE_ID);
      expect(process.parentSpanContext?.spanId).toBe(PARENT_ID);
      expect(process.links.map((l) => l.context.spanId)).toEqual([PARENT_ID]);
      expect(publish.spanContext().traceId).toBe(TRACE_ID);
      expect(publish.parentSpanContext?.spanId).toBe(process.spanContext().spanId);
      expect(process.attributes).toMatchObject({
        'messaging.system': 'nats',
        'messaging.operation.type': 'process',
        'messaging.destination.name': source,
        'protomesh.tier': 'mqtt',
        'protomesh.qos': Number(cls),
        'protomesh.route': 'mqtt->ws',
        'protomesh.outcome': 'bridged',
      });
      expect(publish.attributes).toMatchObject({
        'messaging.operation.type': 'send',
        'messaging.destination.name': targetSubject,
        'protomesh.tier': 'ws',
        'protomesh.route': 'mqtt->ws',
      });
      if (cls === '1') expect(process.attributes['messaging.message.id']).toBe('1');
      expect(mesh.services[0]!.name).toBe('bridge');
      expect(process.resource.attributes['service.name']).toBe('bridge');

      // W3C Trace Context §3.2: the next hop's parent is the bridge's publish span.
      const meta = decodeMeta(target.find((m) => m.subject === targetSubject)!.headers);
      expect(meta.traceparent).toBe(`00-${TRACE_ID}-${publish.spanContext().spanId}-01`);
      expect(meta.tracestate).toBe(TRACESTATE);
      // Latency is measured end to end: the original publish time passes through.
      expect(meta.publishedAt).toBe(PUBLISHED_AT);
      expect(meta.originClient).toBe('sensor-1');
      const traceHeaders = target[0]!.headers!.filter(([n]) => n.toLowerCase() === 'traceparent');
      expect(traceHeaders).toHaveLength(1);
    });
  }

  it('a message without a traceparent starts a new trace at the bridge', async () => {
    const mesh = await startTraced();
    const prefix = mesh.layout.prefix;
    const target = collect(prefix, 'ws');
    backbone.publish(subjectOf(prefix, 'mqtt', 'a', '0'), text('x'), encodeMeta({ originTier: 'mqtt' }));
    await waitFor(() => target.length === 1 && exporter.getFinishedSpans().length >= 2, 'bridged and traced');
    const process = byName(`process ${subjectOf(prefix, 'mqtt', 'a', '0')}`);
    expect(process.parentSpanContext).toBeUndefined();
    expect(decodeMeta(target[0]!.headers).traceparent).toMatch(
      new RegExp(`^00-${process.spanContext().traceId}-[0-9a-f]{16}-01$`),
    );
  });

  it('QoS 0 over two routes: one process span, one publish span per crossing, each target in the trace', async () => {
    const layout: MeshLayout = meshLayout(uniqueName());
    await provisionMesh(backbone, layout);
    const routes: BridgeRoute[] = [
      { id: 'plain', from: { tier: 'mqtt', filter: 'plant/#' }, to: { tier: 'ws' } },
      { id: 'copy', from: { tier: 'mqtt', filter: 'plant/#rest' }, to: { tier: 'ws', topic: 'copy/{rest}' } },
    ];
    await started(backbone, layout, createTracing({ service: 'bridge', exporter }), routes);
    const target = collect(layout.prefix, 'ws');
    const source = subjectOf(layout.prefix, 'mqtt', 'plant/1', '0');
    backbone.publish(source, text('x'), sourceHeaders());
    await waitFor(() => exporter.getFinishedSpans().length === 3 && target.length === 2, 'three spans, two targets');
    const process = byName(`process ${source}`);
    expect(process.attributes['protomesh.route']).toBe('plain,copy');
    expect(process.attributes['protomesh.outcome']).toBe('bridged');
    const publishes = exporter.getFinishedSpans().filter((s) => s.name.startsWith('publish '));
    expect(publishes.map((s) => s.attributes['protomesh.route']).sort()).toEqual(['copy', 'plain']);
    for (const publish of publishes) {
      expect(publish.parentSpanContext?.spanId).toBe(process.spanContext().spanId);
      const carried = target.find((m) => m.subject === publish.attributes['messaging.destination.name']);
      expect(decodeMeta(carried?.headers).traceparent).toBe(`00-${TRACE_ID}-${publish.spanContext().spanId}-01`);
    }
  });

  it('a skipped message ends its process span with the outcome; loop-skipped and unmatched messages get none', async () => {
    const mesh = await startTraced();
    const prefix = mesh.layout.prefix;
    // Already crossed mqtt->ws (loop prevention): the bridge's own output coming back, no span.
    const looped = [...sourceHeaders(), ...encodeMeta({ route: 'mqtt->ws', hops: 1 })];
    backbone.publish(subjectOf(prefix, 'mqtt', 'loop', '0'), text('x'), looped);
    // [MQTT-3.3.2-5] past its expiry: skipped, with a process span saying so.
    const expired = [...sourceHeaders(), ...encodeMeta({ expiresAt: Date.now() - 1_000 })];
    await backbone.append(subjectOf(prefix, 'mqtt', 'late', '1'), text('x'), { headers: expired });
    const name = `process ${subjectOf(prefix, 'mqtt', 'late', '1')}`;
    await waitFor(() => exporter.getFinishedSpans().some((s) => s.name === name), 'the process span');
    // The looped message was seen (and counted) too.
    await waitFor(async () => {
      const metrics = await (await fetch(`${mesh.services[0]!.endpoints.admin}/metrics`)).text();
      return metrics.includes('protomesh_bridge_messages_total{route="mqtt->ws",outcome="skipped_loop"} 1');
    }, 'the looped message counted');
    const process = byName(name);
    expect(process.attributes['protomesh.outcome']).toBe('expired');
    expect(process.spanContext().traceId).toBe(TRACE_ID);
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual([name]);
  });

  it('a failed append ends the publish and process spans as errors (failSpan)', async () => {
    const layout: MeshLayout = meshLayout(uniqueName());
    await provisionMesh(backbone, layout);
    const failing = new Proxy(backbone, {
      get(target, key, receiver) {
        if (key === 'append') {
          return (s: string, payload: Uint8Array, options: Parameters<Backbone['append']>[2]) =>
            s.startsWith(`${layout.prefix}.ws.`)
              ? Promise.reject(Object.assign(new Error('injected append failure'), { code: 'PM_TEST_APPEND' }))
              : target.append(s, payload, options);
        }
        const value = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const tracing = createTracing({ service: 'bridge', exporter });
    const bridge = await started(failing, layout, tracing);
    expect(bridge.isReady()).toBe(true);
    await backbone.append(subjectOf(layout.prefix, 'mqtt', 'f', '1'), text('x'), { headers: sourceHeaders() });
    const publishName = `publish ${subjectOf(layout.prefix, 'ws', 'f', '1')}`;
    await waitFor(() => exporter.getFinishedSpans().some((s) => s.name === publishName), 'a failed publish span');
    const publish = exporter.getFinishedSpans().find((s) => s.name === publishName)!;
    expect(publish.status.code).toBe(2); // SpanStatusCode.ERROR
    expect(publish.attributes['error.type']).toBe('PM_TEST_APPEND');
    await waitFor(
      () => exporter.getFinishedSpans().some((s) => s.name.startsWith('process') && s.status.code === 2),
      'a failed process span',
    );
    const process = exporter.getFinishedSpans().find((s) => s.name.startsWith('process'))!;
    expect(process.attributes['protomesh.outcome']).toBe('failed');
    expect(process.spanContext().traceId).toBe(TRACE_ID);
  });

  it('redelivered messages (delivery count > 1) count in protomesh_jetstream_redeliveries_total{consumer="route"}', async () => {
    const layout: MeshLayout = meshLayout(uniqueName());
    await provisionMesh(backbone, layout);
    // Every route reader delivery reports itself as a second delivery.
    const redelivering = new Proxy(backbone, {
      get(target, key, receiver) {
        if (key === 'consume') {
          return (options: Parameters<Backbone['consume']>[0], handler: Parameters<Backbone['consume']>[1]) =>
            // The embedded backbone's messages are frozen plain objects: a copy with another count.
            target.consume(options, (message) => handler({ ...message, deliveryCount: 2 }));
        }
        const value = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const bridge = await started(redelivering, layout, undefined);
    const series = /protomesh_jetstream_redeliveries_total\{tier="mqtt",consumer="route"\} (\d+)/;
    // Both series exist (at 0) before anything is redelivered.
    const before = await bridge.metrics.render();
    expect(before).toMatch(/protomesh_jetstream_redeliveries_total\{tier="ws",consumer="route"\} 0/);
    expect(before.match(series)?.[1]).toBe('0');
    await backbone.append(subjectOf(layout.prefix, 'mqtt', 'r', '1'), text('x'));
    await waitFor(async () => (await bridge.metrics.render()).match(series)?.[1] === '1', 'one redelivery counted');
  });

  it('tracing off: no span is started, headers pass through unchanged', async () => {
    const layout: MeshLayout = meshLayout(uniqueName());
    await provisionMesh(backbone, layout);
    // A recording tracer behind `enabled: false`: any span work done despite the flag shows up.
    const live = createTracing({ service: 'bridge', exporter });
    const bridge = await started(backbone, layout, { ...live, enabled: false });
    expect(bridge.isReady()).toBe(true);
    const target = collect(layout.prefix, 'ws');
    backbone.publish(subjectOf(layout.prefix, 'mqtt', 'off', '0'), text('x'), sourceHeaders());
    await backbone.append(subjectOf(layout.prefix, 'mqtt', 'off', '1'), text('y'), { headers: sourceHeaders() });
    await waitFor(() => target.length === 2, 'both bridged');
    for (const message of target) {
      const meta = decodeMeta(message.headers);
      expect(meta.traceparent).toBe(TRACEPARENT);
      expect(meta.tracestate).toBe(TRACESTATE);
      expect(meta.publishedAt).toBe(PUBLISHED_AT);
    }
    await live.forceFlush();
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});

async function started(
  on: Backbone,
  layout: MeshLayout,
  tracing: Tracing | undefined,
  routes?: readonly BridgeRoute[],
): Promise<Bridge> {
  const config = loadConfig({ env: { MESH_PREFIX: layout.prefix, SHUTDOWN_GRACE: '2s' }, file: '' });
  const bridge = createBridge(
    { config, backbone: on, layout, logger: silentLogger(), ...(tracing ? { tracing } : {}) },
    { timings: { tickMs: 50, ttlMs: 1_000, cursorFlushMs: 20 }, restartDelayMs: 50, ...(routes ? { routes } : {}) },
  );
  cleanups.push(async () => {
    await bridge.close();
    await tracing?.shutdown();
  });
  await bridge.start();
  return bridge;
}

describe('withTraceHeaders (W3C Trace Context §3.2)', () => {
  const plan: Extract<CrossingPlan, { kind: 'cross' }> = {
    kind: 'cross',
    tier: 'ws',
    topic: 't',
    subject: 'p.ws.1.t',
    qos: 1,
    retain: false,
    payload: text('x'),
    headers: [
      ['Traceparent', TRACEPARENT],
      ['Mesh-Published-At', String(PUBLISHED_AT)],
      ['TRACESTATE', TRACESTATE],
      ['Mesh-Route', 'r'],
    ],
    retainedSubject: undefined,
  };

  it('replaces traceparent and tracestate whatever their case, keeping every other header in order', () => {
    const next = `00-${TRACE_ID}-00f067aa0ba902b7-01`;
    expect(withTraceHeaders(plan, { traceparent: next }).headers).toEqual([
      ['Mesh-Published-At', String(PUBLISHED_AT)],
      ['Mesh-Route', 'r'],
      ['traceparent', next],
    ]);
    expect(withTraceHeaders(plan, { traceparent: next, tracestate: 'a=b' }).headers.slice(2)).toEqual([
      ['traceparent', next],
      ['tracestate', 'a=b'],
    ]);
  });

  it('an empty carrier (tracing off) leaves the plan as it is', () => {
    expect(withTraceHeaders(plan, {})).toBe(plan);
  });
});

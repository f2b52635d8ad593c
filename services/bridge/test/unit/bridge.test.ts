import {
  type Backbone,
  type BackboneMessage,
  createEmbeddedBackbone,
  type HeaderEntries,
  type MeshLayout,
  meshLayout,
  provisionMesh,
  type StoredMessage,
} from '@protomesh/backbone';
import { type Bridge, type BridgeOptions, createBridge } from '@protomesh/bridge';
import { loadConfig } from '@protomesh/config';
import { decodeMeta, encodeMeta } from '@protomesh/envelope';
import type { ServiceDeps } from '@protomesh/runtime';
import { silentLogger } from '@protomesh/telemetry';
import { uniqueName, waitFor } from '@protomesh/test-support';
import { type Tier, topicToSubject } from '@protomesh/topic-map';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

let backbone: Backbone;
let layout: MeshLayout;
let deps: ServiceDeps;
let bridges: Bridge[];
let cleanups: Array<() => void>;

beforeEach(async () => {
  backbone = createEmbeddedBackbone();
  layout = meshLayout(uniqueName());
  await provisionMesh(backbone, layout);
  const config = loadConfig({ env: { MESH_PREFIX: layout.prefix, SHUTDOWN_GRACE: '2s' }, file: '' });
  deps = { config, backbone, layout, logger: silentLogger() };
  bridges = [];
  cleanups = [];
});

afterEach(async () => {
  for (const cleanup of cleanups) cleanup();
  await Promise.all(bridges.map((b) => b.close()));
  await backbone.close();
});

async function startBridge(options: BridgeOptions = {}, on: ServiceDeps = deps): Promise<Bridge> {
  const bridge = createBridge(on, { lease: { renewMs: 100, retryMs: 50, ttlMs: 1_000 }, ...options });
  bridges.push(bridge);
  await bridge.start();
  return bridge;
}

const subject = (tier: Tier, topic: string, cls: '0' | '1') =>
  topicToSubject({ prefix: layout.prefix, tier }, topic, cls);

/** Collects live messages of one tier and class token. */
function collect(tier: Tier, cls: '0' | '1' | '$0'): BackboneMessage[] {
  const got: BackboneMessage[] = [];
  const sub = backbone.subscribe(`${layout.prefix}.${tier}.${cls}.>`, (m) => got.push(m));
  cleanups.push(() => sub.unsubscribe());
  return got;
}

async function storedIn(tier: Tier): Promise<StoredMessage[]> {
  const stream = layout.streams[tier].name;
  const state = await backbone.streamState(stream);
  const out: StoredMessage[] = [];
  for (let seq = state!.firstSeq; seq <= state!.lastSeq; seq++) {
    const m = await backbone.getMessage(stream, seq);
    if (m) out.push(m);
  }
  return out;
}

/** `protomesh_bridge_messages{route, outcome}` of a bridge, 0 when never counted. */
async function outcomes(bridge: Bridge, route: string, outcome: string): Promise<number> {
  const line = (await bridge.metrics.render())
    .split('\n')
    .find(
      (l) =>
        l.startsWith('protomesh_bridge_messages') &&
        l.includes(`route="${route}"`) &&
        l.includes(`outcome="${outcome}"`),
    );
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

async function ackPending(tier: Tier, durable: string): Promise<number | undefined> {
  return (await backbone.consumerState(layout.streams[tier].name, durable))?.ackPending;
}

/** Appends a marker after the messages under test and waits until it crossed: everything before it was handled. */
async function crossMarker(from: Tier, to: Tier): Promise<void> {
  const marker = `marker/${uniqueName()}`;
  await backbone.append(subject(from, marker, '1'), text('marker'));
  await waitFor(
    async () => (await storedIn(to)).some((m) => m.subject === subject(to, marker, '1')),
    'marker to cross',
  );
}

describe('bridge, identity routes', () => {
  for (const [from, to] of [
    ['mqtt', 'ws'],
    ['ws', 'mqtt'],
  ] as const) {
    it(`QoS 0 ${from} → ${to}: same topic, payload bytes unchanged, headers kept plus route and hop`, async () => {
      await startBridge();
      const got = collect(to, '0');
      const payload = new Uint8Array([0, 255, 10, 13, 0x7b]);
      const headers: HeaderEntries = [
        ...encodeMeta({ originTier: from, originClient: 'c 1', qos: 0, userProperties: [['k', 'v']] }),
        ['X-App', 'kept'],
      ];
      backbone.publish(subject(from, 'a/b', '0'), payload, headers);
      await waitFor(() => got.length === 1, 'the bridged message');
      const [m] = got;
      expect(m!.subject).toBe(subject(to, 'a/b', '0'));
      expect([...m!.payload]).toEqual([...payload]);
      expect(m!.headers!.slice(0, headers.length)).toEqual(headers);
      expect(decodeMeta(m!.headers)).toMatchObject({
        originTier: from,
        originClient: 'c 1',
        userProperties: [['k', 'v']],
        route: `${from}->${to}`,
        hops: 1,
      });
    });

    it(`QoS 1 ${from} → ${to}: stored in the target stream, source acked`, async () => {
      await startBridge();
      const headers = encodeMeta({ originTier: from, originClient: 'c2', qos: 1 });
      await backbone.append(subject(from, 'x//y', '1'), text('hello'), { headers });
      await waitFor(async () => (await storedIn(to)).length === 1, 'the bridged message');
      const [m] = await storedIn(to);
      expect(m!.subject).toBe(subject(to, 'x//y', '1'));
      expect(str(m!.payload)).toBe('hello');
      expect(decodeMeta(m!.headers)).toMatchObject({
        originTier: from,
        originClient: 'c2',
        qos: 1,
        route: `${from}->${to}`,
        hops: 1,
      });
      await waitFor(async () => (await ackPending(from, `bridge-${from}-to-${to}`)) === 0, 'the source ack');
    });
  }

  it('$ topics are not bridged [MQTT-4.7.2-1]', async () => {
    await startBridge();
    const got = collect('ws', '0');
    const gotDollar = collect('ws', '$0');
    backbone.publish(subject('mqtt', '$SYS/x', '0'), text('sys'));
    backbone.publish(subject('mqtt', 'plain', '0'), text('plain'));
    await waitFor(() => got.length === 1, 'the plain message');
    await backbone.append(subject('mqtt', '$SYS/y', '1'), text('sys'));
    await crossMarker('mqtt', 'ws');
    expect(gotDollar).toHaveLength(0);
    expect((await storedIn('ws')).map((m) => str(m.payload))).toEqual(['marker']);
  });

  it('loop prevention: a bridged message is never bridged again, at QoS 0 or 1', async () => {
    const bridge = await startBridge();
    const toWs = collect('ws', '0');
    const toMqtt = collect('mqtt', '0');
    backbone.publish(subject('mqtt', 'loop', '0'), text('one'));
    await waitFor(() => toWs.length === 1, 'the first crossing');
    // Publish the bridged copy back into the source tier, as a misconfigured relay might.
    backbone.publish(subject('mqtt', 'loop', '0'), toWs[0]!.payload, toWs[0]!.headers);
    backbone.publish(subject('mqtt', 'after', '0'), text('after'));
    await waitFor(() => toWs.length === 2, 'the message after');
    expect(toWs.map((m) => str(m.payload))).toEqual(['one', 'after']);
    // The ws copy itself was not bridged back to mqtt by the ws->mqtt route.
    expect(toMqtt.map((m) => str(m.payload))).toEqual(['one', 'one', 'after']);

    await backbone.append(subject('mqtt', 'loop', '1'), text('q1'));
    await waitFor(async () => (await storedIn('ws')).length === 1, 'the QoS 1 crossing');
    const [copy] = await storedIn('ws');
    await backbone.append(subject('mqtt', 'loop', '1'), copy!.payload, { headers: copy!.headers });
    await crossMarker('mqtt', 'ws');
    expect((await storedIn('ws')).map((m) => str(m.payload))).toEqual(['q1', 'marker']);
    expect((await storedIn('mqtt')).map((m) => str(m.payload))).toEqual(['q1', 'q1', 'marker']);
    await waitFor(async () => (await ackPending('mqtt', 'bridge-mqtt-to-ws')) === 0, 'the skipped message acked');
    expect(await ackPending('ws', 'bridge-ws-to-mqtt')).toBe(0);
    expect(await outcomes(bridge, 'mqtt->ws', 'skipped_loop')).toBe(2);
  });

  it('expired messages are dropped and acked [MQTT-3.3.2-5]', async () => {
    const bridge = await startBridge();
    const got = collect('ws', '0');
    const expired = encodeMeta({ expiresAt: Date.now() - 1_000 });
    backbone.publish(subject('mqtt', 'e', '0'), text('late'), expired);
    backbone.publish(subject('mqtt', 'e', '0'), text('fresh'), encodeMeta({ expiresAt: Date.now() + 60_000 }));
    await waitFor(() => got.length === 1, 'the fresh message');
    expect(str(got[0]!.payload)).toBe('fresh');
    await backbone.append(subject('mqtt', 'e', '1'), text('late'), { headers: expired });
    await crossMarker('mqtt', 'ws');
    expect((await storedIn('ws')).map((m) => str(m.payload))).toEqual(['marker']);
    await waitFor(async () => (await ackPending('mqtt', 'bridge-mqtt-to-ws')) === 0, 'the expired message acked');
    expect(await outcomes(bridge, 'mqtt->ws', 'expired')).toBe(2);
  });

  it('two bridge instances: every QoS 0 and QoS 1 message crosses exactly once', async () => {
    const a = await startBridge();
    const b = await startBridge();
    expect([...a.activeRoutes(), ...b.activeRoutes()].sort()).toEqual(['mqtt->ws', 'ws->mqtt']);
    const got = collect('ws', '0');
    for (let i = 0; i < 50; i++) backbone.publish(subject('mqtt', `t/${i % 5}`, '0'), text(String(i)));
    for (let i = 0; i < 50; i++) await backbone.append(subject('mqtt', `t/${i % 5}`, '1'), text(String(i)));
    await crossMarker('mqtt', 'ws');
    backbone.publish(subject('mqtt', 'done', '0'), text('done'));
    await waitFor(() => got.some((m) => str(m.payload) === 'done'), 'the QoS 0 marker');
    // Queue groups split QoS 0 between the replicas: each message once, order across replicas not kept.
    const once = got.map((m) => str(m.payload)).filter((p) => p !== 'done');
    expect(once.map(Number).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    const stored = (await storedIn('ws')).map((m) => str(m.payload));
    expect(stored).toEqual([...Array.from({ length: 50 }, (_, i) => String(i)), 'marker']);
  });

  it('a standby takes over the consumer when the owner closes, with no loss and no duplicate', async () => {
    const a = await startBridge();
    const b = await startBridge();
    expect(a.activeRoutes()).toEqual(['mqtt->ws', 'ws->mqtt']);
    expect(b.activeRoutes()).toEqual([]);
    for (let i = 0; i < 20; i++) await backbone.append(subject('mqtt', 'k', '1'), text(String(i)));
    const closing = a.close();
    for (let i = 20; i < 40; i++) await backbone.append(subject('mqtt', 'k', '1'), text(String(i)));
    await closing;
    await waitFor(() => b.activeRoutes().length === 2, 'the standby to take over');
    await crossMarker('mqtt', 'ws');
    const stored = (await storedIn('ws')).map((m) => str(m.payload));
    expect(stored).toEqual([...Array.from({ length: 40 }, (_, i) => String(i)), 'marker']);
  });

  it('taking over from an owner that died mid-flight replays from the ack floor at once, without duplicates', async () => {
    const stream = layout.streams.mqtt.name;
    // A "dead owner": it received five messages, stored the first two in the target, acked none.
    const dead = await backbone.consume(
      { stream, durable: 'bridge-mqtt-to-ws', filterSubject: `${layout.prefix}.mqtt.1.>`, deliver: { kind: 'new' } },
      () => {},
    );
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) seqs.push((await backbone.append(subject('mqtt', 'd', '1'), text(String(i)))).seq);
    await waitFor(async () => (await ackPending('mqtt', 'bridge-mqtt-to-ws')) === 5, 'five unacked deliveries');
    await dead.stop();
    for (const i of [0, 1]) {
      await backbone.append(subject('ws', 'd', '1'), text(String(i)), { msgId: `${stream}:${seqs[i]}:mqtt->ws` });
    }
    await startBridge({ ackWaitMs: 60_000 });
    await crossMarker('mqtt', 'ws');
    expect((await storedIn('ws')).map((m) => str(m.payload))).toEqual(['0', '1', '2', '3', '4', 'marker']);
    await waitFor(async () => (await ackPending('mqtt', 'bridge-mqtt-to-ws')) === 0, 'every message acked');
  });

  /** The shared backbone, with `append` to the ws tier failing while `fail(subject, payload)` says so. */
  function flakyBackbone(fail: (subject: string, payload: string) => boolean): Backbone {
    return new Proxy(backbone, {
      get(target, key) {
        if (key === 'append') {
          return (s: string, payload: Uint8Array, options?: object) =>
            s.startsWith(`${layout.prefix}.ws.`) && fail(s, str(payload))
              ? Promise.reject(new Error('injected append failure'))
              : target.append(s, payload, options);
        }
        const value = Reflect.get(target, key, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  it('while the target rejects appends nothing is acked; once it recovers every message crosses once, in order', async () => {
    let down = true;
    let rejected = 0;
    const bridge = await startBridge({}, { ...deps, backbone: flakyBackbone(() => down && ++rejected > 0) });
    for (let i = 0; i < 10; i++) await backbone.append(subject('mqtt', 'f', '1'), text(String(i)));
    await waitFor(() => rejected >= 3, 'a few rejected appends (and restarts)');
    expect(await storedIn('ws')).toHaveLength(0);
    expect((await backbone.consumerState(layout.streams.mqtt.name, 'bridge-mqtt-to-ws'))?.ackFloor).toBe(0);
    down = false;
    await crossMarker('mqtt', 'ws');
    expect((await storedIn('ws')).map((m) => str(m.payload))).toEqual([
      ...Array.from({ length: 10 }, (_, i) => String(i)),
      'marker',
    ]);
    expect(bridge.activeRoutes()).toContain('mqtt->ws');
    expect(await outcomes(bridge, 'mqtt->ws', 'failed')).toBeGreaterThanOrEqual(3);
  });

  it('one failed append in the middle of a pipeline is retried from the ack floor: no loss, no duplicate', async () => {
    let failures = 1;
    await startBridge({}, { ...deps, backbone: flakyBackbone((_, payload) => payload === '3' && failures-- > 0) });
    for (let i = 0; i < 10; i++) await backbone.append(subject('mqtt', 'f', '1'), text(String(i)));
    await waitFor(async () => (await storedIn('ws')).length === 10, 'ten stored messages');
    await waitFor(async () => (await ackPending('mqtt', 'bridge-mqtt-to-ws')) === 0, 'every source message acked');
    const stored = (await storedIn('ws')).map((m) => Number(str(m.payload)));
    // Messages after the failed one were already stored when it failed; the retry comes after them.
    expect([...stored].sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(failures).toBe(-1);
  });

  it('close() deletes the leases and stops relaying', async () => {
    const bridge = await startBridge();
    const leases = await backbone.kv(layout.buckets.leases);
    expect((await leases.keys()).sort()).toEqual(['bridge.mqtt-to-ws', 'bridge.ws-to-mqtt']);
    await bridge.close();
    expect(bridge.isReady()).toBe(false);
    expect(await leases.keys()).toEqual([]);
    const got = collect('ws', '0');
    backbone.publish(subject('mqtt', 'a', '0'), text('x'));
    await backbone.append(subject('mqtt', 'a', '1'), text('x'));
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toHaveLength(0);
    expect(await storedIn('ws')).toHaveLength(0);
  });
});

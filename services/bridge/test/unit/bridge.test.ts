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
  const bridge = createBridge(on, {
    timings: { tickMs: 50, ttlMs: 1_000, cursorFlushMs: 20 },
    restartDelayMs: 50,
    ...options,
  });
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

/** The lowest stored position (cursor) over the partitions of `slug`; 0 when one has none yet. */
async function position(slug: string): Promise<number> {
  const kv = await backbone.kv({ bucket: `${layout.streams.mqtt.name.replace(/_MQTT$/, '')}_BRIDGE` });
  let lowest = Number.POSITIVE_INFINITY;
  for (let p = 0; p < deps.config.bridge.partitions; p++) {
    const entry = await kv.get(`cursor.${slug}.${p}`);
    lowest = Math.min(lowest, entry ? (JSON.parse(str(entry.value)) as { seq: number }).seq : 0);
  }
  return lowest;
}

/** Waits until every partition of `slug` stored a position past the end of `tier`'s stream. */
async function allPassed(tier: Tier, slug: string): Promise<void> {
  const last = (await backbone.streamState(layout.streams[tier].name))!.lastSeq;
  await waitFor(async () => (await position(slug)) > last, `${slug} positions past seq ${last}`);
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
      await allPassed(from, `${from}-to-${to}`);
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
    await allPassed('mqtt', 'mqtt-to-ws');
    await allPassed('ws', 'ws-to-mqtt');
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
    await allPassed('mqtt', 'mqtt-to-ws');
    expect(await outcomes(bridge, 'mqtt->ws', 'expired')).toBe(2);
  });

  it('two bridge instances: every QoS 0 and QoS 1 message crosses exactly once', async () => {
    const a = await startBridge();
    const b = await startBridge();
    await waitFor(
      () => a.heldPartitions()['mqtt->ws']!.length === 6 && b.heldPartitions()['mqtt->ws']!.length === 6,
      'the partitions split 6/6',
    );
    expect([...a.heldPartitions()['ws->mqtt']!, ...b.heldPartitions()['ws->mqtt']!].sort((x, y) => x - y)).toEqual(
      Array.from({ length: 12 }, (_, i) => i),
    );
    const got = collect('ws', '0');
    for (let i = 0; i < 50; i++) backbone.publish(subject('mqtt', `t/${i % 5}`, '0'), text(String(i)));
    for (let i = 0; i < 50; i++) await backbone.append(subject('mqtt', `t/${i % 5}`, '1'), text(String(i)));
    await crossMarker('mqtt', 'ws');
    backbone.publish(subject('mqtt', 'done', '0'), text('done'));
    await waitFor(() => got.some((m) => str(m.payload) === 'done'), 'the QoS 0 marker');
    // Queue groups split QoS 0 between the replicas: each message once, order across replicas not kept.
    const once = got.map((m) => str(m.payload)).filter((p) => p !== 'done');
    expect(once.map(Number).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    // QoS 1: each once, and in order per topic (topics are spread over partitions, so not across topics).
    const stored = (await storedIn('ws')).map((m) => str(m.payload)).filter((p) => p !== 'marker');
    expect(stored.map(Number).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    for (let t = 0; t < 5; t++) {
      const perTopic = stored.map(Number).filter((v) => v % 5 === t);
      expect(perTopic).toEqual(Array.from({ length: 10 }, (_, k) => k * 5 + t));
    }
  });

  it('partitions move between replicas as they come and go, under traffic: no loss, no duplicate, order per topic', async () => {
    const a = await startBridge();
    expect(a.heldPartitions()['mqtt->ws']).toHaveLength(12);
    const topics = 8;
    let n = 0;
    const send = async (count: number) => {
      for (let i = 0; i < count; i++, n++) {
        await backbone.append(subject('mqtt', `k/${n % topics}`, '1'), text(String(n)));
      }
    };
    await send(40);
    const b = await startBridge();
    await send(40);
    await waitFor(() => b.heldPartitions()['mqtt->ws']!.length === 6, 'the new replica to take its share');
    await send(40);
    const closing = a.close();
    await send(40);
    await closing;
    await waitFor(() => b.heldPartitions()['mqtt->ws']!.length === 12, 'the survivor to take every partition');
    await send(40);
    await crossMarker('mqtt', 'ws');
    const stored = (await storedIn('ws')).map((m) => str(m.payload)).filter((p) => p !== 'marker');
    expect([...stored].map(Number).sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i));
    for (let t = 0; t < topics; t++) {
      const perTopic = stored.map(Number).filter((v) => v % topics === t);
      expect(perTopic, `topic k/${t}`).toEqual([...perTopic].sort((x, y) => x - y));
    }
  });

  it('a replica taking over from one that died mid-flight resumes at the stored position, without duplicates', async () => {
    const stream = layout.streams.mqtt.name;
    // A "dead owner": the route started at seq 1, five messages came, it stored the first two
    // in the target and died before writing any position.
    const kv = await backbone.kv({ bucket: `${stream.replace(/_MQTT$/, '')}_BRIDGE` });
    await kv.create('start.mqtt-to-ws', text(JSON.stringify({ seq: 1 })));
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) seqs.push((await backbone.append(subject('mqtt', 'd', '1'), text(String(i)))).seq);
    for (const i of [0, 1]) {
      await backbone.append(subject('ws', 'd', '1'), text(String(i)), { msgId: `${stream}:${seqs[i]}:mqtt->ws` });
    }
    await startBridge();
    await crossMarker('mqtt', 'ws');
    expect((await storedIn('ws')).map((m) => str(m.payload))).toEqual(['0', '1', '2', '3', '4', 'marker']);
    await allPassed('mqtt', 'mqtt-to-ws');
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

  it('while the target rejects appends no position moves; once it recovers every message crosses once, in order', async () => {
    let down = true;
    let rejected = 0;
    const bridge = await startBridge({}, { ...deps, backbone: flakyBackbone(() => down && ++rejected > 0) });
    for (let i = 0; i < 10; i++) await backbone.append(subject('mqtt', 'f', '1'), text(String(i)));
    await waitFor(() => rejected >= 3, 'a few rejected appends (and restarts)');
    expect(await storedIn('ws')).toHaveLength(0);
    expect(await position('mqtt-to-ws')).toBeLessThanOrEqual(1);
    down = false;
    await crossMarker('mqtt', 'ws');
    expect((await storedIn('ws')).map((m) => str(m.payload))).toEqual([
      ...Array.from({ length: 10 }, (_, i) => String(i)),
      'marker',
    ]);
    expect(bridge.heldPartitions()['mqtt->ws']).toHaveLength(12);
    expect(await outcomes(bridge, 'mqtt->ws', 'failed')).toBeGreaterThanOrEqual(3);
  });

  it('one failed append in the middle of a pipeline is retried from the stored position: no loss, no duplicate', async () => {
    let failures = 1;
    await startBridge({}, { ...deps, backbone: flakyBackbone((_, payload) => payload === '3' && failures-- > 0) });
    for (let i = 0; i < 10; i++) await backbone.append(subject('mqtt', 'f', '1'), text(String(i)));
    await waitFor(async () => (await storedIn('ws')).length === 10, 'ten stored messages');
    await allPassed('mqtt', 'mqtt-to-ws');
    const stored = (await storedIn('ws')).map((m) => Number(str(m.payload)));
    // Messages after the failed one were already stored when it failed; the retry comes after them.
    expect([...stored].sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(failures).toBe(-1);
  });

  it('a partition given back while its appends are slow and its messages keep coming loses nothing', async () => {
    // Target appends take 20 ms: the release waits for them while newer messages of the
    // same partitions arrive, which the new owner must carry.
    const slow = new Proxy(backbone, {
      get(target, key) {
        if (key === 'append') {
          return async (s: string, payload: Uint8Array, options?: object) => {
            if (s.startsWith(`${layout.prefix}.ws.`)) await new Promise((resolve) => setTimeout(resolve, 20));
            return target.append(s, payload, options);
          };
        }
        const value = Reflect.get(target, key, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    await startBridge({}, { ...deps, backbone: slow });
    const topics = 12;
    let n = 0;
    let running = true;
    const sending = (async () => {
      while (running || n < 200) {
        await backbone.append(subject('mqtt', `r/${n % topics}`, '1'), text(String(n)));
        n++;
        if (n % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
    await waitFor(() => n >= 50, '50 sent');
    const b = await startBridge({}, { ...deps, backbone: slow });
    await waitFor(() => b.heldPartitions()['mqtt->ws']!.length === 6, 'the hand-over');
    running = false;
    await sending;
    await crossMarker('mqtt', 'ws');
    const stored = (await storedIn('ws')).map((m) => str(m.payload)).filter((p) => p !== 'marker');
    expect([...stored].map(Number).sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i));
    for (let t = 0; t < topics; t++) {
      const perTopic = stored.map(Number).filter((v) => v % topics === t);
      expect(perTopic, `topic r/${t}`).toEqual([...perTopic].sort((x, y) => x - y));
    }
  });

  it('close() deletes the leases and stops relaying', async () => {
    const bridge = await startBridge();
    const leases = await backbone.kv(layout.buckets.leases);
    const keys = await leases.keys();
    expect(keys.filter((k) => k.startsWith('bridge.mqtt-to-ws.'))).toHaveLength(12);
    expect(keys.filter((k) => k.startsWith('bridge.ws-to-mqtt.'))).toHaveLength(12);
    expect(keys.filter((k) => k.startsWith('bridge-replica.'))).toHaveLength(1);
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

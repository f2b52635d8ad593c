import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Backbone,
  type BackboneMessage,
  createEmbeddedBackbone,
  type MeshLayout,
  meshLayout,
  provisionMesh,
  type StoredMessage,
} from '@protomesh/backbone';
import { type Bridge, type BridgeOptions, type BridgeRoute, createBridge, DEAD_LETTER_HEADER } from '@protomesh/bridge';
import { loadConfig } from '@protomesh/config';
import { decodeMeta, encodeMeta, headerValue } from '@protomesh/envelope';
import type { ServiceDeps } from '@protomesh/runtime';
import { silentLogger } from '@protomesh/telemetry';
import { sleep, uniqueName, waitFor } from '@protomesh/test-support';
import { type Tier, topicToSubject } from '@protomesh/topic-map';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

let backbone: Backbone;
let layout: MeshLayout;
let deps: ServiceDeps;
let bridges: Bridge[];
let cleanups: Array<() => void | Promise<void>>;

function depsWith(env: Record<string, string> = {}): ServiceDeps {
  const config = loadConfig({
    env: { MESH_PREFIX: layout.prefix, SHUTDOWN_GRACE: '2s', BRIDGE_PARTITIONS: '4', ...env },
    file: '',
  });
  return { config, backbone, layout, logger: silentLogger() };
}

beforeEach(async () => {
  backbone = createEmbeddedBackbone();
  layout = meshLayout(uniqueName());
  await provisionMesh(backbone, layout);
  deps = depsWith();
  bridges = [];
  cleanups = [];
});

afterEach(async () => {
  for (const cleanup of cleanups) await cleanup();
  await Promise.all(bridges.map((b) => b.close()));
  await backbone.close();
});

async function start(
  routes: readonly BridgeRoute[] | undefined,
  options: BridgeOptions = {},
  on = deps,
): Promise<Bridge> {
  const bridge = createBridge(on, {
    ...(routes ? { routes } : {}),
    timings: { tickMs: 50, ttlMs: 1_000, cursorFlushMs: 20 },
    restartDelayMs: 50,
    watchPollMs: 200,
    ...options,
  });
  bridges.push(bridge);
  await bridge.start();
  return bridge;
}

const subject = (tier: Tier, topic: string, cls: '0' | '1') =>
  topicToSubject({ prefix: layout.prefix, tier }, topic, cls);

function collect(pattern: string): BackboneMessage[] {
  const got: BackboneMessage[] = [];
  const sub = backbone.subscribe(pattern, (m) => got.push(m));
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

const route = (over: Partial<BridgeRoute> & { id: string }): BridgeRoute => ({
  from: { tier: 'mqtt', filter: '#' },
  to: { tier: 'ws' },
  ...over,
});

describe('routes at work', () => {
  it('a template route rewrites topics at QoS 0 and QoS 1; topics outside its filter do not cross', async () => {
    await start([
      route({
        id: 't',
        from: { tier: 'mqtt', filter: 'sensors/+id/temp' },
        to: { tier: 'ws', topic: 'devices/{id}/temperature' },
      }),
    ]);
    const live = collect(`${layout.prefix}.ws.0.>`);
    backbone.publish(subject('mqtt', 'sensors/s1/temp', '0'), text('20'));
    backbone.publish(subject('mqtt', 'other/s1/temp', '0'), text('no'));
    await backbone.append(subject('mqtt', 'sensors/s2/temp', '1'), text('21'));
    await waitFor(() => live.length === 1, 'the QoS 0 crossing');
    expect(live[0]!.subject).toBe(subject('ws', 'devices/s1/temperature', '0'));
    await waitFor(async () => (await storedIn('ws')).length === 1, 'the QoS 1 crossing');
    expect((await storedIn('ws'))[0]!.subject).toBe(subject('ws', 'devices/s2/temperature', '1'));
    await sleep(50);
    expect(live).toHaveLength(1);
  });

  it('retained state crosses: the target retained store gets the value, an empty payload clears it', async () => {
    await start([route({ id: 'r' })]);
    const retainedSubject = topicToSubject({ prefix: layout.retainedPrefix, tier: 'ws' }, 'state/lamp', '1');
    const stream = layout.streams.retained.name;
    const retained = encodeMeta({ retain: true, qos: 1 });
    await backbone.append(subject('mqtt', 'state/lamp', '1'), text('on'), { headers: retained });
    await waitFor(
      async () => (await backbone.lastBySubject(stream, retainedSubject)) !== undefined,
      'the retained value',
    );
    const value = await backbone.lastBySubject(stream, retainedSubject);
    expect(str(value!.payload)).toBe('on');
    expect(decodeMeta(value!.headers)).toMatchObject({ retain: true, route: 'r' });
    await backbone.append(subject('mqtt', 'state/lamp', '1'), text('off'), { headers: retained });
    await waitFor(
      async () => str((await backbone.lastBySubject(stream, retainedSubject))!.payload) === 'off',
      'the newer value',
    );
    // QoS 0 retained publishes cross into the store too.
    backbone.publish(subject('mqtt', 'state/fan', '0'), text('fast'), encodeMeta({ retain: true }));
    const fan = topicToSubject({ prefix: layout.retainedPrefix, tier: 'ws' }, 'state/fan', '1');
    await waitFor(async () => (await backbone.lastBySubject(stream, fan)) !== undefined, 'the QoS 0 retained value');
    // [MQTT-3.3.1-6] an empty retained message clears it.
    await backbone.append(subject('mqtt', 'state/lamp', '1'), new Uint8Array(0), { headers: retained });
    await waitFor(
      async () => (await backbone.lastBySubject(stream, retainedSubject)) === undefined,
      'the value cleared',
    );
    // Not retained: the store is not touched.
    await backbone.append(subject('mqtt', 'state/door', '1'), text('open'));
    await waitFor(async () => (await storedIn('ws')).length === 4, 'four crossings');
    expect(
      await backbone.lastBySubject(
        stream,
        topicToSubject({ prefix: layout.retainedPrefix, tier: 'ws' }, 'state/door', '1'),
      ),
    ).toBeUndefined();
  });

  it('a message that fails its transform goes to the dead-letter subject with error and route, and never blocks the route', async () => {
    const bridge = await start([route({ id: 'json', transform: { payload: 'json-to-text' } })]);
    const dead = collect(`${layout.prefix}.deadletter.>`);
    await backbone.append(subject('mqtt', 'x', '1'), text('not json'));
    await backbone.append(subject('mqtt', 'x', '1'), text('"fine"'));
    backbone.publish(subject('mqtt', 'y', '0'), text('{bad'));
    await waitFor(() => dead.length === 2, 'two dead letters');
    await waitFor(async () => (await storedIn('ws')).length === 1, 'the good message');
    expect(str((await storedIn('ws'))[0]!.payload)).toBe('fine');
    const [first] = dead;
    expect(first!.subject).toBe(`${layout.prefix}.deadletter.json`);
    expect(str(first!.payload)).toBe('not json');
    expect(headerValue(first!.headers, DEAD_LETTER_HEADER.route)).toBe('json');
    expect(headerValue(first!.headers, DEAD_LETTER_HEADER.error)).toBe('json-to-text: payload is not valid JSON');
    expect(headerValue(first!.headers, DEAD_LETTER_HEADER.topic)).toBe('x');
    const listed = await bridge.listRoutes();
    expect(listed[0]!.counters).toMatchObject({ matched: 3, delivered: 1, deadLettered: 2 });
  });

  it('several routes match one message: each applies once; a disabled route carries nothing', async () => {
    await start([
      route({ id: 'all', to: { tier: 'ws' } }),
      route({ id: 'copy', from: { tier: 'mqtt', filter: 'a/#' }, to: { tier: 'ws', topic: 'copy/{#}' } }),
      route({ id: 'off', enabled: false, from: { tier: 'mqtt', filter: 'a/#' }, to: { tier: 'ws', topic: 'off/{#}' } }),
    ]);
    const live = collect(`${layout.prefix}.ws.0.>`);
    backbone.publish(subject('mqtt', 'a/b', '0'), text('q0'));
    await backbone.append(subject('mqtt', 'a/b', '1'), text('q1'));
    await waitFor(async () => (await storedIn('ws')).length === 2 && live.length === 2, 'two crossings of each');
    await sleep(50);
    expect(live.map((m) => m.subject).sort()).toEqual([subject('ws', 'a/b', '0'), subject('ws', 'copy/b', '0')].sort());
    expect((await storedIn('ws')).map((m) => m.subject).sort()).toEqual(
      [subject('ws', 'a/b', '1'), subject('ws', 'copy/b', '1')].sort(),
    );
  });

  it('rate limit: QoS 0 over the rate is dropped and counted; QoS 1 waits and all of it crosses in order', async () => {
    const bridge = await start([route({ id: 'slow', rateLimit: { perSecond: 100, burst: 5 } })]);
    const live = collect(`${layout.prefix}.ws.0.>`);
    for (let i = 0; i < 20; i++) backbone.publish(subject('mqtt', 'q0', '0'), text(String(i)));
    await waitFor(async () => (await bridge.listRoutes())[0]!.counters.rateLimited >= 10, 'drops counted');
    expect(live.length).toBeLessThan(20);
    expect(live.length).toBeGreaterThanOrEqual(5);
    for (let i = 0; i < 20; i++) await backbone.append(subject('mqtt', 'q1', '1'), text(String(i)));
    await waitFor(async () => (await storedIn('ws')).length === 20, 'every QoS 1 message', 5_000);
    expect((await storedIn('ws')).map((m) => Number(str(m.payload)))).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('setRoutes under QoS 1 traffic: unchanged routes keep running, a changed route continues from its position', async () => {
    const bridge = await start([route({ id: 'main', to: { tier: 'ws', topic: 'v1/{#}' } })]);
    let n = 0;
    const sending = (async () => {
      for (; n < 200; n++) {
        await backbone.append(subject('mqtt', `t/${n % 4}`, '1'), text(String(n)));
        if (n % 20 === 0) await sleep(2);
      }
    })();
    await waitFor(() => n >= 60, '60 sent');
    await bridge.setRoutes([route({ id: 'main', to: { tier: 'ws', topic: 'v2/{#}' } })]);
    await sending;
    await waitFor(async () => (await storedIn('ws')).length >= 200, 'every message');
    await sleep(100);
    const stored = await storedIn('ws');
    expect(stored).toHaveLength(200);
    const values = stored.map((m) => Number(str(m.payload)));
    expect([...values].sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    for (let t = 0; t < 4; t++) {
      const perTopic = stored.filter((m) => m.subject.endsWith(`.t.${t}`)).map((m) => Number(str(m.payload)));
      expect(perTopic).toEqual([...perTopic].sort((a, b) => a - b));
    }
    // Old template before the switch, new one after: the last message went through v2.
    expect(stored.some((m) => m.subject.includes('.v1.'))).toBe(true);
    expect(stored.at(-1)!.subject).toContain('.v2.');
    expect(bridge.routes().map((r) => r.to.topic)).toEqual(['v2/{#}']);
  });

  it('setRoutes at QoS 0: a topic already carried follows the new route at once', async () => {
    const bridge = await start([route({ id: 'main', to: { tier: 'ws', topic: 'v1/{#}' } })]);
    const live = collect(`${layout.prefix}.ws.0.>`);
    backbone.publish(subject('mqtt', 'a/b', '0'), text('1'));
    await waitFor(() => live.length === 1, 'the first crossing');
    await bridge.setRoutes([route({ id: 'main', to: { tier: 'ws', topic: 'v2/{#}' } })]);
    backbone.publish(subject('mqtt', 'a/b', '0'), text('2'));
    await waitFor(() => live.length === 2, 'the second crossing');
    expect(live.map((m) => m.subject)).toEqual([subject('ws', 'v1/a/b', '0'), subject('ws', 'v2/a/b', '0')]);
  });

  it('an invalid route set is rejected and the one in force stays', async () => {
    const bridge = await start([route({ id: 'keep' })]);
    await expect(bridge.setRoutes([route({ id: 'bad', to: { tier: 'mqtt' } })])).rejects.toThrow(
      /routes\[0\]\.to\.topic/,
    );
    expect(bridge.routes().map((r) => r.id)).toEqual(['keep']);
  });
});

describe('routes from files, hot reload', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bridge-reload-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const file = (id: string, topic: string) =>
    `routes:\n  - id: ${id}\n    from: { tier: mqtt, filter: 'a/#' }\n    to: { tier: ws, topic: '${topic}' }\n`;

  /** Publishes a ConfigMap version the way the kubelet does: new directory, swap ..data. */
  async function publishVersion(version: string, content: string): Promise<void> {
    await mkdir(join(dir, `..${version}`));
    await writeFile(join(dir, `..${version}`, 'routes.yaml'), content);
    await symlink(`..${version}`, join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  }

  it('BRIDGE_ROUTES directory: a ConfigMap swap is picked up, a broken version is reported and the routes in force stay', async () => {
    await publishVersion('v1', file('r', 'one/{#}'));
    await symlink('..data/routes.yaml', join(dir, 'routes.yaml'));
    const bridge = await start(undefined, {}, depsWith({ BRIDGE_ROUTES: dir }));
    expect(bridge.routes().map((r) => r.to.topic)).toEqual(['one/{#}']);
    expect(bridge.routesSource()).toMatchObject({ kind: 'file', path: dir });
    const live = collect(`${layout.prefix}.ws.0.>`);

    await publishVersion('v2', file('r', 'two/{#}'));
    await waitFor(() => bridge.routes()[0]?.to.topic === 'two/{#}', 'the new routes');
    backbone.publish(subject('mqtt', 'a/x', '0'), text('1'));
    await waitFor(() => live.length === 1, 'a crossing');
    expect(live[0]!.subject).toBe(subject('ws', 'two/x', '0'));

    await publishVersion('v3', 'routes:\n  - id: r\n    from: { tier: mqtt }\n');
    await waitFor(() => bridge.routesSource().lastError !== undefined, 'the reload error');
    expect(bridge.routesSource().lastError!.message).toBe('routes.yaml: routes[0].to: is required');
    expect(bridge.routes()[0]?.to.topic).toBe('two/{#}');
  });

  it('a bad routes file at start fails the start with the field named', async () => {
    await writeFile(join(dir, 'routes.yaml'), file('r', 'x/{9}'));
    const bridge = createBridge(depsWith({ BRIDGE_ROUTES: join(dir, 'routes.yaml') }));
    bridges.push(bridge);
    await expect(bridge.start()).rejects.toThrow(/^routes\[0\]\.to\.topic: uses \{9\}/);
  });
});

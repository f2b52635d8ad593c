import { fileURLToPath } from 'node:url';
import { type Backbone, createEmbeddedBackbone } from '@protomesh/backbone';
import { startBridge } from '@protomesh/bridge';
import { encodeMeta } from '@protomesh/envelope';
import type { RunningMesh } from '@protomesh/runtime';
import { startInProcess, uniqueName, waitFor } from '@protomesh/test-support';
import { topicToSubject } from '@protomesh/topic-map';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const EXAMPLE = fileURLToPath(new URL('../../examples/routes.yaml', import.meta.url));
let backbone: Backbone;
let mesh: RunningMesh;
let admin: string;

beforeEach(async () => {
  backbone = createEmbeddedBackbone();
  mesh = await startInProcess(
    { name: 'bridge', start: startBridge },
    { prefix: uniqueName(), backbone, env: { BRIDGE_ROUTES: EXAMPLE, BRIDGE_PARTITIONS: '4' } },
  );
  admin = mesh.services[0]!.endpoints.admin!;
});
afterEach(async () => {
  await mesh.stop();
  await backbone.close();
});

interface Listed {
  replicas: number;
  partitions: number;
  source: { kind: string; path: string };
  routes: Array<{
    id: string;
    enabled: boolean;
    partitions: number[];
    lag: number | null;
    counters: Record<string, number>;
  }>;
}

interface TestReply {
  error?: string;
  results: Array<{ route: string; plan: Record<string, unknown> & { payload?: string } }>;
}

async function test(body: unknown): Promise<{ status: number; json: TestReply }> {
  const response = await fetch(`${admin}/routes/test`, { method: 'POST', body: JSON.stringify(body) });
  return { status: response.status, json: (await response.json()) as TestReply };
}

describe('bridge admin routes', () => {
  it('GET /routes lists every route with counters, partitions and lag', async () => {
    const subject = (topic: string) => topicToSubject({ prefix: mesh.layout.prefix, tier: 'mqtt' }, topic, '1');
    await backbone.append(subject('sensors/s1/temp'), new TextEncoder().encode('{"celsius":90}'));
    await backbone.append(subject('sensors/s1/temp'), new TextEncoder().encode('{"celsius":20}'));
    await waitFor(async () => {
      const listed = (await (await fetch(`${admin}/routes`)).json()) as Listed;
      return listed.routes.find((r) => r.id === 'telemetry-to-apps')!.counters.delivered === 2;
    }, 'two deliveries counted');
    const listed = (await (await fetch(`${admin}/routes`)).json()) as Listed;
    expect(listed).toMatchObject({ replicas: 1, partitions: 4, source: { kind: 'file', path: EXAMPLE } });
    expect(listed.routes.map((r) => [r.id, r.enabled])).toEqual([
      ['telemetry-to-apps', true],
      ['hot-alarms', true],
      ['stills', true],
      ['commands', true],
      ['legacy', false],
    ]);
    const telemetry = listed.routes[0]!;
    expect(telemetry.partitions).toEqual([0, 1, 2, 3]);
    expect(telemetry.lag).toBe(0);
    expect(telemetry.counters).toMatchObject({ matched: 2, delivered: 2, failed: 0, deadLettered: 0 });
    await waitFor(async () => {
      const again = (await (await fetch(`${admin}/routes`)).json()) as Listed;
      return again.routes[1]!.counters.delivered === 1 && again.routes[1]!.counters.filtered === 1;
    }, 'the alarm route: one carried, one filtered');
    expect(listed.routes[4]).toMatchObject({ partitions: [], lag: null });
    expect((await fetch(`${admin}/routes`, { method: 'DELETE' })).status).toBe(405);
    // The same lag as a gauge, and the per-route outcome counters.
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    expect(metrics).toMatch(/protomesh_bridge_consumer_lag\{route="telemetry-to-apps"\} 0/);
    expect(metrics).toMatch(/protomesh_bridge_messages_total\{route="telemetry-to-apps",outcome="bridged"\} 2/);
    expect(metrics).toMatch(/protomesh_bridge_partitions_held\{route="telemetry-to-apps"\} 4/);
  });

  it('POST /routes/test shows what a topic and payload would become on every route', async () => {
    const { status, json } = await test({
      tier: 'mqtt',
      topic: 'sensors/s7/temp',
      json: { celsius: 95 },
      qos: 2,
      userProperties: { unit: 'C', 'auth-token': 'secret' },
    });
    expect(status).toBe(200);
    const byRoute = Object.fromEntries(json.results.map((r) => [r.route, r.plan]));
    expect(byRoute['telemetry-to-apps']).toMatchObject({
      kind: 'cross',
      tier: 'ws',
      topic: 'devices/s7/temperature',
      qos: 1,
      payload: '{"celsius":95}',
      contentType: 'application/json',
      userProperties: [['temperature-unit', 'C']],
    });
    expect(byRoute['hot-alarms']).toMatchObject({
      kind: 'cross',
      topic: 'alarms/s7',
      retain: true,
      retainedSubject: `${mesh.layout.prefix}.retained.ws.1.alarms.s7`,
      payload: '{"celsius":95}',
    });
    expect(byRoute.stills).toEqual({ kind: 'no_match' });
    const cold = await test({ tier: 'mqtt', topic: 'sensors/s7/temp', payload: '{"celsius":5}' });
    expect(cold.json.results[1]!.plan).toEqual({ kind: 'skip', reason: 'filtered' });
    const still = await test({ tier: 'mqtt', topic: 'cameras/c1/still', payloadBase64: 'AP8=' });
    expect(JSON.parse(still.json.results[2]!.plan.payload!)).toEqual({ b64: 'AP8=' });
    const looped = await test({ tier: 'ws', topic: 'devices/d1/commands/reboot', headers: encodeMeta({ hops: 1 }) });
    expect(looped.json.results[3]!.plan).toEqual({ kind: 'skip', reason: 'skipped_loop' });
    const command = await test({ tier: 'ws', topic: 'devices/d1/commands/reboot/now', payload: 'x' });
    expect(command.json.results[3]!.plan).toMatchObject({
      topic: 'cmd/d1/reboot/now',
      qos: 1,
      userProperties: [['origin', 'web']],
    });
  });

  it('POST /routes/test rejects bad input with 400 and a message', async () => {
    expect(await test({ tier: 'amqp', topic: 'a' })).toEqual({
      status: 400,
      json: { error: "tier: expected 'mqtt' or 'ws'" },
    });
    expect((await test({ tier: 'mqtt', topic: 'a/+' })).json.error).toBe('topic: expected an MQTT topic name');
    const response = await fetch(`${admin}/routes/test`, { method: 'POST', body: '{' });
    expect(response.status).toBe(400);
    expect((await fetch(`${admin}/routes/test`)).status).toBe(405);
  });
});

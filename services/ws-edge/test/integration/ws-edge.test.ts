import type { RunningMesh } from '@protomesh/runtime';
import { type NatsServerHandle, startInProcess, startNatsServer, uniqueName, waitFor } from '@protomesh/test-support';
import { SUBPROTOCOL, startWsEdge } from '@protomesh/ws-edge';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { TestClient } from '../support/client.js';

const entry = { name: 'ws-edge', start: startWsEdge };

let nats: NatsServerHandle;
const meshes: RunningMesh[] = [];
const clients: TestClient[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
});

afterAll(async () => {
  await nats?.stop();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(meshes.splice(0).map((mesh) => mesh.stop()));
});

/** One ws-edge replica with its own NATS connection. */
async function replica(prefix: string, env?: Record<string, string>): Promise<RunningMesh> {
  const mesh = await startInProcess(entry, { prefix, natsUrl: nats.url, env: { WS_ALLOW_ANONYMOUS: 'true', ...env } });
  meshes.push(mesh);
  return mesh;
}

/** A real `ws` client on a replica, connected, offering `protocols`. */
async function connect(mesh: RunningMesh, protocols: string | string[] = SUBPROTOCOL): Promise<TestClient> {
  const ws = new WebSocket(mesh.services[0]!.endpoints.ws!, protocols);
  const client = new TestClient(ws);
  clients.push(client);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return client;
}

describe('ws-edge on NATS', () => {
  it('carries 500 QoS 1 messages over 5 topics from one replica to another, each once and in order per topic', async () => {
    const prefix = uniqueName();
    const [a, b] = [await replica(prefix), await replica(prefix)];
    const subscriber = await connect(b);
    expect(await subscriber.request({ op: 'sub', id: 'sub', filter: 'sensors/+/temp' })).toMatchObject({
      op: 'ok',
      id: 'sub',
    });
    const publisher = await connect(a);

    const perTopic = 100;
    const topics = Array.from({ length: 5 }, (_, n) => `sensors/${n}/temp`);
    for (let i = 0; i < perTopic; i++) {
      for (const topic of topics) publisher.send({ op: 'pub', id: `${topic}#${i}`, topic, qos: 1, text: String(i) });
    }
    const acked = new Set<string>();
    while (acked.size < perTopic * topics.length) {
      const frame = await publisher.next(20_000);
      expect(frame.op).toBe('ok');
      expect(typeof frame.seq).toBe('number');
      acked.add(frame.id as string);
    }

    const received = new Map<string, number[]>(topics.map((topic) => [topic, []]));
    for (let n = 0; n < perTopic * topics.length; n++) {
      const frame = await subscriber.next(20_000);
      expect(frame).toMatchObject({ op: 'msg', qos: 1, origin: 'ws' });
      received.get(frame.topic as string)!.push(Number(frame.text));
    }
    const expected = Array.from({ length: perTopic }, (_, i) => i);
    for (const topic of topics) expect(received.get(topic)).toEqual(expected);
    // Exactly once: nothing more arrives.
    expect(await subscriber.barrier()).toEqual([]);
  });

  it('closes only the client that sends malformed frames (4400); the client beside it keeps receiving', async () => {
    const prefix = uniqueName();
    const mesh = await replica(prefix);
    const offender = await connect(mesh);
    const bystander = await connect(mesh);
    for (const client of [offender, bystander]) {
      expect(await client.request({ op: 'sub', id: 1, filter: 'room/#' })).toMatchObject({ op: 'ok', id: 1 });
    }
    offender.sendRaw('not json at all');
    expect(await offender.next()).toMatchObject({ op: 'error', code: 'PM_WS_MALFORMED_FRAME' });
    offender.sendRaw('{"op":"explode"}');
    expect(await offender.next()).toMatchObject({ op: 'error', code: 'PM_WS_UNKNOWN_OP' });
    expect((await offender.closed).code).toBe(4400);

    const publisher = await connect(mesh);
    expect(await publisher.request({ op: 'pub', id: 1, topic: 'room/1', qos: 1, text: 'after' })).toMatchObject({
      op: 'ok',
    });
    expect(await bystander.next()).toMatchObject({ op: 'msg', topic: 'room/1', text: 'after' });
  });

  it('closes only the client that sends an oversized frame, with 1009', async () => {
    const mesh = await replica(uniqueName(), { WS_MAX_FRAME_SIZE: '4KiB' });
    const bystander = await connect(mesh);
    expect(await bystander.request({ op: 'sub', id: 1, filter: 'big' })).toMatchObject({ op: 'ok', id: 1 });
    const offender = await connect(mesh);
    offender.send({ op: 'pub', topic: 'big', text: 'x'.repeat(8 * 1024) });
    expect((await offender.closed).code).toBe(1009);
    const publisher = await connect(mesh);
    publisher.send({ op: 'pub', topic: 'big', text: 'fits' });
    expect(await bystander.next()).toMatchObject({ op: 'msg', text: 'fits' });
  });

  it('sends 1012 service restart to every client on graceful close', async () => {
    const mesh = await replica(uniqueName());
    const one = await connect(mesh);
    const two = await connect(mesh, []);
    expect(await one.request({ op: 'sub', id: 1, filter: '#' })).toMatchObject({ op: 'ok', id: 1 });
    await mesh.stop();
    expect(await one.closed).toEqual({ code: 1012, reason: 'service restart' });
    expect((await two.closed).code).toBe(1012);
  });

  it('selects the protomesh.v1 subprotocol, accepts clients offering none, and fails clients offering only others', async () => {
    const mesh = await replica(uniqueName());
    const offered = await connect(mesh, ['other', SUBPROTOCOL]);
    expect(offered.ws.protocol).toBe(SUBPROTOCOL);
    const none = await connect(mesh, []);
    expect(none.ws.protocol).toBe('');
    expect(await none.request({ op: 'ping', id: 1 })).toEqual({ op: 'pong', id: 1 });
    await expect(connect(mesh, ['mqtt'])).rejects.toThrow(/subprotocol/i);
  });

  it('serves /healthz, /readyz and /metrics on the admin port', async () => {
    const mesh = await replica(uniqueName());
    const client = await connect(mesh);
    expect(await client.request({ op: 'ping', id: 1 })).toEqual({ op: 'pong', id: 1 });
    const admin = mesh.services[0]!.endpoints.admin!;
    expect((await fetch(`${admin}/healthz`)).status).toBe(200);
    expect((await fetch(`${admin}/readyz`)).status).toBe(200);
    await waitFor(async () => {
      const text = await (await fetch(`${admin}/metrics`)).text();
      return (
        /protomesh_connections\{[^}]*tier="ws"[^}]*\} 1/.test(text) &&
        /protomesh_backbone_connected\{?[^}]*\}? 1/.test(text)
      );
    }, 'metrics to show the connection');
    expect(mesh.services[0]!.endpoints.ws).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
  });

  it('names WS_PORT in a one-line error when the port is taken', async () => {
    const first = await replica(uniqueName());
    const port = String(first.services[0]!.ports.ws);
    await expect(
      startInProcess(entry, { prefix: uniqueName(), natsUrl: nats.url, env: { WS_PORT: port } }),
    ).rejects.toThrow(/WS_PORT/);
  });
});

import { connect as connectTcp, type Socket } from 'node:net';
import type { RunningMesh } from '@protomesh/runtime';
import { type NatsServerHandle, startInProcess, startNatsServer, uniqueName, waitFor } from '@protomesh/test-support';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startMqttEdge } from '../../src/index.js';

/** With NATS_URL set, anonymous access is off unless enabled. */
const ANONYMOUS = { MQTT_ALLOW_ANONYMOUS: 'true' };

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

async function edge(prefix = uniqueName()): Promise<RunningMesh> {
  const running = await startInProcess(
    { name: 'mqtt-edge', start: startMqttEdge },
    { prefix, natsUrl: nats.url, env: ANONYMOUS },
  );
  cleanups.push(() => running.stop());
  return running;
}

function mqttUrl(running: RunningMesh): string {
  return `mqtt://127.0.0.1:${running.services[0]!.ports.mqtt}`;
}

async function client(url: string, protocolVersion: 4 | 5, clientId = uniqueName()): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { protocolVersion, clientId, reconnectPeriod: 0 });
  cleanups.push(() => c.endAsync(true));
  return c;
}

interface Received {
  readonly topic: string;
  readonly payload: string;
  readonly qos: number;
}

function collect(c: MqttClient): Received[] {
  const received: Received[] = [];
  c.on('message', (topic, payload, packet) => received.push({ topic, payload: payload.toString(), qos: packet.qos }));
  return received;
}

describe('mqtt-edge with MQTT.js on real NATS', () => {
  for (const version of [4, 5] as const) {
    it(`MQTT ${version === 4 ? '3.1.1' : '5'}: publish/subscribe at QoS 0 and 1 through wildcards`, async () => {
      const running = await edge();
      const url = mqttUrl(running);
      const sub = await client(url, version);
      const received = collect(sub);
      const granted = await sub.subscribeAsync({ 'home/+/temp': { qos: 1 }, 'alerts/#': { qos: 0 } });
      expect(granted.map((g) => g.qos)).toEqual([1, 0]);
      const pub = await client(url, version);
      await pub.publishAsync('home/kitchen/temp', '21.5', { qos: 1 });
      await pub.publishAsync('home/kitchen/humidity', 'ignored', { qos: 1 });
      await pub.publishAsync('alerts', 'parent', { qos: 0 });
      await pub.publishAsync('alerts/fire/hall', 'deep', { qos: 1 });
      await waitFor(() => received.length >= 3, 'three messages');
      expect(received).toEqual([
        { topic: 'home/kitchen/temp', payload: '21.5', qos: 1 },
        { topic: 'alerts', payload: 'parent', qos: 0 },
        { topic: 'alerts/fire/hall', payload: 'deep', qos: 0 },
      ]);
    });
  }

  it('MQTT 5 properties survive the trip through NATS', async () => {
    const running = await edge();
    const url = mqttUrl(running);
    const sub = await client(url, 5);
    const packets: mqtt.IPublishPacket[] = [];
    sub.on('message', (_topic, _payload, packet) => packets.push(packet));
    await sub.subscribeAsync('rpc/#', { qos: 1 });
    const pub = await client(url, 5);
    await pub.publishAsync('rpc/req', Buffer.from([0, 1, 2, 255]), {
      qos: 1,
      properties: {
        contentType: 'application/octet-stream',
        responseTopic: 'rpc/resp',
        correlationData: Buffer.from('c-1'),
        userProperties: { trace: 'abc' },
      },
    });
    await waitFor(() => packets.length === 1, 'the request');
    expect([...(packets[0]!.payload as Buffer)]).toEqual([0, 1, 2, 255]);
    expect(packets[0]!.properties).toMatchObject({
      contentType: 'application/octet-stream',
      responseTopic: 'rpc/resp',
      correlationData: Buffer.from('c-1'),
      userProperties: { trace: 'abc' },
    });
  });

  it('malformed bytes close only that socket; an MQTT.js subscriber beside it keeps receiving', async () => {
    const running = await edge();
    const url = mqttUrl(running);
    const sub = await client(url, 5);
    const received = collect(sub);
    await sub.subscribeAsync('beside/#', { qos: 1 });
    const pub = await client(url, 4);
    await pub.publishAsync('beside/1', 'before', { qos: 1 });

    const raw: Socket = connectTcp(running.services[0]!.ports.mqtt!, '127.0.0.1');
    cleanups.push(async () => raw.destroy());
    const rawClosed = new Promise<void>((resolve) => raw.on('close', () => resolve()));
    raw.on('error', () => undefined);
    // A CONNECT whose protocol name length runs past the end of the packet.
    raw.write(Buffer.from([0x10, 0x04, 0x00, 0x09, 0x4d, 0x51]));
    await rawClosed;

    await pub.publishAsync('beside/1', 'after', { qos: 1 });
    await waitFor(() => received.length === 2, 'both messages');
    expect(received.map((m) => m.payload)).toEqual(['before', 'after']);
    expect(sub.connected).toBe(true);
    const metrics = await (await fetch(`${running.services[0]!.endpoints.admin}/metrics`)).text();
    expect(metrics).toMatch(/protomesh_protocol_errors_total\{[^}]*code="PM_MQTT_MALFORMED_PACKET"[^}]*\} 1/);
  });

  it('answers /healthz, /readyz and /metrics on the admin port', async () => {
    const running = await edge();
    const service = running.services[0]!;
    expect(service.endpoints.mqtt).toBe(`mqtt://127.0.0.1:${service.ports.mqtt}`);
    const c = await client(mqttUrl(running), 4);
    await c.publishAsync('metrics/x', 'm', { qos: 1 });
    const admin = service.endpoints.admin!;
    expect((await fetch(`${admin}/healthz`)).status).toBe(200);
    expect((await fetch(`${admin}/readyz`)).status).toBe(200);
    const text = await (await fetch(`${admin}/metrics`)).text();
    expect(text).toMatch(/protomesh_connections\{[^}]*tier="mqtt"[^}]*\} 1/);
    expect(text).toMatch(/protomesh_messages_in_total\{[^}]*qos="1"[^}]*\} 1/);
  });

  it('graceful stop sends MQTT 5 clients DISCONNECT 0x8B (server shutting down)', async () => {
    const running = await edge();
    const c = await client(mqttUrl(running), 5);
    const disconnect = new Promise<number | undefined>((resolve) =>
      c.on('disconnect', (packet) => resolve(packet.reasonCode)),
    );
    await running.stop();
    expect(await disconnect).toBe(0x8b);
  });
});

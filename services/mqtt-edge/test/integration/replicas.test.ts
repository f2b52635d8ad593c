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

async function replica(prefix: string): Promise<RunningMesh> {
  const running = await startInProcess(
    { name: 'mqtt-edge', start: startMqttEdge },
    { prefix, natsUrl: nats.url, env: ANONYMOUS },
  );
  cleanups.push(() => running.stop());
  return running;
}

async function client(running: RunningMesh, protocolVersion: 4 | 5): Promise<MqttClient> {
  const url = `mqtt://127.0.0.1:${running.services[0]!.ports.mqtt}`;
  const c = await mqtt.connectAsync(url, { protocolVersion, clientId: uniqueName(), reconnectPeriod: 0 });
  cleanups.push(() => c.endAsync(true));
  return c;
}

describe('two mqtt-edge replicas on one NATS', () => {
  it('carries 200 QoS 1 messages from a publisher on one replica to a subscriber on the other, each once, in order', async () => {
    const prefix = uniqueName();
    const a = await replica(prefix);
    const b = await replica(prefix);
    const sub = await client(b, 4);
    const received: number[] = [];
    sub.on('message', (_topic, payload, packet) => {
      expect(packet.qos).toBe(1);
      received.push(Number(payload.toString()));
    });
    await sub.subscribeAsync('fleet/+/position', { qos: 1 });
    const pub = await client(a, 5);
    // Pipelined: ordering must hold while many stores are in flight.
    await Promise.all(
      Array.from({ length: 200 }, (_, n) => pub.publishAsync('fleet/truck-1/position', String(n), { qos: 1 })),
    );
    await waitFor(() => received.length >= 200, '200 messages');
    expect(received).toEqual(Array.from({ length: 200 }, (_, n) => n));
  });

  it('keeps meshes with different prefixes apart', async () => {
    const one = await replica(uniqueName());
    const other = await replica(uniqueName());
    const sub = await client(other, 4);
    const received: string[] = [];
    sub.on('message', (topic) => received.push(topic));
    await sub.subscribeAsync('#', { qos: 1 });
    const pub = await client(one, 4);
    await pub.publishAsync('isolated', 'x', { qos: 1 });
    const probe = await client(other, 4);
    await probe.publishAsync('probe', 'y', { qos: 1 });
    await waitFor(() => received.includes('probe'), 'the probe');
    expect(received).toEqual(['probe']);
  });
});

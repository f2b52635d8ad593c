// Acceptance tests of the foundation (issue 2): the whole mesh on a real nats-server, with
// two replicas of each service as separate instances (each its own NATS connection).
import { startBridge } from '@protomesh/bridge';
import { startMqttEdge } from '@protomesh/mqtt-edge';
import type { RunningMesh } from '@protomesh/runtime';
import { type NatsServerHandle, startInProcess, startNatsServer, uniqueName, waitFor } from '@protomesh/test-support';
import { startWsEdge } from '@protomesh/ws-edge';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Frame, TestWsClient } from '../helpers/ws-client.js';

let nats: NatsServerHandle;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

/** On NATS, anonymous clients are refused unless enabled; these tests are about delivery, not auth. */
const ANONYMOUS = { MQTT_ALLOW_ANONYMOUS: 'true', WS_ALLOW_ANONYMOUS: 'true' };
const MQTT_EDGE = { name: 'mqtt-edge', start: startMqttEdge };
const WS_EDGE = { name: 'ws-edge', start: startWsEdge };
const BRIDGE = { name: 'bridge', start: startBridge };

async function replica(entry: typeof MQTT_EDGE, prefix: string): Promise<RunningMesh> {
  const running = await startInProcess(entry, { prefix, natsUrl: nats.url, env: ANONYMOUS });
  cleanups.push(() => running.stop());
  return running;
}

function mqttUrl(running: RunningMesh): string {
  return `mqtt://127.0.0.1:${running.services[0]!.ports.mqtt}`;
}

function wsUrl(running: RunningMesh): string {
  return `ws://127.0.0.1:${running.services[0]!.ports.ws}/ws`;
}

async function mqttClient(url: string, protocolVersion: 4 | 5, clientId: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { protocolVersion, clientId, reconnectPeriod: 0 });
  cleanups.push(() => client.endAsync());
  return client;
}

async function wsClient(url: string): Promise<TestWsClient> {
  const client = await TestWsClient.connect(url);
  cleanups.push(() => client.close());
  return client;
}

/** Asserts that `received` holds each of `total` numbered messages exactly once, in order per topic. */
function expectExactlyOnceInOrder(received: Array<{ topic: string; n: number }>, total: number): void {
  expect(received.length).toBe(total);
  expect(new Set(received.map((m) => m.n)).size).toBe(total);
  const lastByTopic = new Map<string, number>();
  for (const { topic, n } of received) {
    const last = lastByTopic.get(topic) ?? -1;
    expect(n, `order on ${topic}`).toBeGreaterThan(last);
    lastByTopic.set(topic, n);
  }
}

async function meshWithTwoReplicasEach(prefix: string) {
  const mqttEdges = [await replica(MQTT_EDGE, prefix), await replica(MQTT_EDGE, prefix)];
  const wsEdges = [await replica(WS_EDGE, prefix), await replica(WS_EDGE, prefix)];
  const bridges = [await replica(BRIDGE, prefix), await replica(BRIDGE, prefix)];
  return { mqttEdges, wsEdges, bridges };
}

describe('the mesh on NATS, two replicas of each service', () => {
  it('carries 1,000 QoS 1 messages from an MQTT v5 client to a WebSocket subscriber, each once and in order per topic', async () => {
    const prefix = uniqueName();
    const { mqttEdges, wsEdges } = await meshWithTwoReplicasEach(prefix);
    const subscriber = await wsClient(wsUrl(wsEdges[1]!));
    await subscriber.subscribe('sensors/+/temp');
    const publisher = await mqttClient(mqttUrl(mqttEdges[0]!), 5, 'publisher-v5');

    const total = 1_000;
    const acks: Promise<unknown>[] = [];
    for (let n = 0; n < total; n++) {
      acks.push(publisher.publishAsync(`sensors/${n % 10}/temp`, JSON.stringify({ n }), { qos: 1 }));
    }
    await Promise.all(acks);
    await waitFor(() => subscriber.messages.length >= total, `${total} WebSocket deliveries`, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 300)); // would-be duplicates arrive late
    const received = subscriber.messages.map((m: Frame) => ({
      topic: m.topic!,
      n: (JSON.parse(m.text!) as { n: number }).n,
    }));
    expectExactlyOnceInOrder(received, total);
    expect(new Set(received.map((m) => m.topic))).toEqual(
      new Set(Array.from({ length: 10 }, (_, i) => `sensors/${i}/temp`)),
    );
  });

  it('carries 1,000 QoS 1 messages from a WebSocket client to an MQTT 3.1.1 subscriber, each once and in order per topic', async () => {
    const prefix = uniqueName();
    const { mqttEdges, wsEdges } = await meshWithTwoReplicasEach(prefix);
    const subscriber = await mqttClient(mqttUrl(mqttEdges[1]!), 4, 'subscriber-v311');
    const received: Array<{ topic: string; n: number }> = [];
    subscriber.on('message', (topic, payload) => received.push({ topic, n: Number(payload.toString()) }));
    await subscriber.subscribeAsync('sensors/+/temp', { qos: 1 });
    const publisher = await wsClient(wsUrl(wsEdges[0]!));

    const total = 1_000;
    const acks: Promise<Frame>[] = [];
    for (let n = 0; n < total; n++) acks.push(publisher.publish(`sensors/${n % 10}/temp`, String(n), 1));
    const stored = await Promise.all(acks);
    expect(stored.every((ack) => ack.op === 'ok')).toBe(true);
    await waitFor(() => received.length >= total, `${total} MQTT deliveries`, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expectExactlyOnceInOrder(received, total);
  });
});

describe('same-tier traffic needs no bridge', () => {
  it('MQTT → MQTT across two mqtt-edge replicas', async () => {
    const prefix = uniqueName();
    const edges = [await replica(MQTT_EDGE, prefix), await replica(MQTT_EDGE, prefix)];
    const subscriber = await mqttClient(mqttUrl(edges[1]!), 5, 'sub');
    const received: Array<{ topic: string; n: number }> = [];
    subscriber.on('message', (topic, payload) => received.push({ topic, n: Number(payload.toString()) }));
    await subscriber.subscribeAsync('plant/#', { qos: 1 });
    const publisher = await mqttClient(mqttUrl(edges[0]!), 4, 'pub');
    for (let n = 0; n < 200; n++) await publisher.publishAsync(`plant/line${n % 4}`, String(n), { qos: n % 2 ? 1 : 0 });
    await waitFor(() => received.length >= 200, '200 MQTT deliveries');
    expectExactlyOnceInOrder(received, 200);
  });

  it('WebSocket → WebSocket across two ws-edge replicas', async () => {
    const prefix = uniqueName();
    const edges = [await replica(WS_EDGE, prefix), await replica(WS_EDGE, prefix)];
    const subscriber = await wsClient(wsUrl(edges[1]!));
    await subscriber.subscribe('chat/#');
    const publisher = await wsClient(wsUrl(edges[0]!));
    for (let n = 0; n < 200; n++) await publisher.publish(`chat/room${n % 4}`, String(n), n % 2 ? 1 : 0);
    await waitFor(() => subscriber.messages.length >= 200, '200 WebSocket deliveries');
    expectExactlyOnceInOrder(
      subscriber.messages.map((m) => ({ topic: m.topic!, n: Number(m.text) })),
      200,
    );
  });
});

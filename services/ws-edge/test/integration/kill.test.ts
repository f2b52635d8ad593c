// Acceptance "kill test": two ws-edge replicas (separate processes), 100 SDK clients, one
// replica killed (SIGKILL) while 5,000 QoS 1 messages flow from an MQTT client through the
// bridge. Every client reconnects and ends with every message exactly once, in order.

import { type NatsServerHandle, startNatsServer, uniqueName, waitFor } from '@protomesh/test-support';
import { ProtomeshClient } from '@protomesh/ws-client';
import mqtt from 'mqtt';
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type EdgeProcess, type Siblings, startEdgeProcess, startSiblings } from '../support/siblings.js';

const CLIENTS = 100;
const MESSAGES = 5_000;
let nats: NatsServerHandle;
let siblings: Siblings | undefined;
const edges: EdgeProcess[] = [];
const clients: ProtomeshClient[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await Promise.all(edges.map((edge) => edge.stop()));
  await siblings?.stop();
  await nats?.stop();
});

it('kill one of two replicas under load: 100 SDK clients each get 5,000 QoS 1 messages exactly once, in order', async () => {
  const prefix = uniqueName();
  siblings = await startSiblings(nats.url, prefix);
  const [a, b] = [await startEdgeProcess(nats.url, prefix), await startEdgeProcess(nats.url, prefix)];
  edges.push(a, b);

  const received: number[][] = [];
  const reconnects: number[] = [];
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, i) => {
      const client = new ProtomeshClient({
        url: i % 2 === 0 ? [a.url, b.url] : [b.url, a.url],
        WebSocket: WebSocket as never,
        reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
      });
      clients.push(client);
      const mine: number[] = [];
      received.push(mine);
      client.on('open', (event) => {
        if (event.reconnected) reconnects.push(i);
      });
      await client.connect();
      await client.subscribe('plant/#', { onMessage: (m) => mine.push(Number(m.text())) }).ready;
    }),
  );

  const device = await mqtt.connectAsync(siblings.mqttUrl, { protocolVersion: 5, reconnectPeriod: 0 });
  try {
    const acks: Array<Promise<unknown>> = [];
    for (let n = 0; n < MESSAGES; n++) {
      acks.push(device.publishAsync('plant/line1/count', String(n), { qos: 1 }));
      if (n === 1_000) {
        // Kill replica a once deliveries are flowing.
        await waitFor(() => received.every((list) => list.length > 100), 'deliveries under way', 30_000);
        await a.kill();
      }
      if (acks.length >= 200) await Promise.all(acks.splice(0));
    }
    await Promise.all(acks);
  } finally {
    await device.endAsync();
  }
  await waitFor(() => received.every((list) => list.length >= MESSAGES), 'every client to get every message', 60_000);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const expected = Array.from({ length: MESSAGES }, (_, n) => n);
  const wrong = received
    .map((list, i) => [i, list] as const)
    .filter(([, list]) => list.length !== MESSAGES || list.some((v, k) => v !== k));
  expect(wrong.map(([i, list]) => `client ${i}: ${list.length} messages`)).toEqual([]);
  expect(received[0]).toEqual(expected);
  // Half the clients were on the killed replica and had to reconnect.
  expect(reconnects.length).toBeGreaterThanOrEqual(CLIENTS / 2);
}, 120_000);

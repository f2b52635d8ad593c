// Acceptance: two mqtt-edge replicas as separate processes (`node bin/protomesh.mjs mqtt-edge`,
// the built dist) on one nats-server; persistent-session clients, half MQTT 3.1.1 and half 5;
// `kill -9` one replica while QoS 1 and QoS 2 messages flow. Every client reconnects to the other
// replica; every QoS 1 message arrives at least once and every QoS 2 message exactly once.
// At the scale by default (50 clients, 10,000 QoS 1, 2,000 QoS 2); KILL_CLIENTS / KILL_QOS1 / KILL_QOS2 change it.
import type { ChildProcess } from 'node:child_process';
import { type NatsServerHandle, startNatsServer, uniqueName, waitFor } from '@protomesh/test-support';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProcessReplica, spawnReplica } from '../helpers/process-replica.js';

const CLIENTS = Number(process.env.KILL_CLIENTS ?? 50);
const QOS1 = Number(process.env.KILL_QOS1 ?? 10_000);
const QOS2 = Number(process.env.KILL_QOS2 ?? 2_000);

let nats: NatsServerHandle;
const children: ChildProcess[] = [];
const clients: MqttClient[] = [];

async function replica(prefix: string): Promise<ProcessReplica> {
  const started = await spawnReplica(nats.url, prefix, { MQTT_REDELIVERY_DELAY: '2s' });
  children.push(started.child);
  return started;
}

beforeAll(async () => {
  nats = await startNatsServer();
}, 60_000);
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  for (const child of children) child.kill('SIGKILL');
  await nats?.stop();
});

describe('kill -9 of a replica under load', () => {
  it(`${CLIENTS} persistent clients, ${QOS1} QoS 1 + ${QOS2} QoS 2 messages: QoS 1 at least once, QoS 2 exactly once`, async () => {
    const prefix = uniqueName();
    const a = await replica(prefix);
    const b = await replica(prefix);
    const servers = [
      { host: '127.0.0.1', port: a.port },
      { host: '127.0.0.1', port: b.port },
    ];
    const counts = Array.from({ length: CLIENTS }, () => new Map<string, number>());
    for (let i = 0; i < CLIENTS; i++) {
      const v5 = i % 2 === 1;
      // Half start on the replica that dies; MQTT.js rotates through `servers` when reconnecting
      // and keeps its QoS 2 state in the same client object.
      const order = i < CLIENTS / 2 ? servers : [...servers].reverse();
      const client = mqtt.connect({
        servers: order,
        protocolVersion: v5 ? 5 : 4,
        clientId: `kill-${i}`,
        clean: false,
        ...(v5 && { properties: { sessionExpiryInterval: 600 } }),
        reconnectPeriod: 250,
        connectTimeout: 5_000,
      });
      clients.push(client);
      client.on('message', (_topic, payload) => {
        const key = payload.toString();
        counts[i]!.set(key, (counts[i]!.get(key) ?? 0) + 1);
      });
      await new Promise((resolve) => client.once('connect', resolve));
      await client.subscribeAsync(`kill/${i}/#`, { qos: 2 });
    }
    const publisher = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.port}`, { protocolVersion: 5, reconnectPeriod: 0 });
    clients.push(publisher);
    const total = QOS1 + QOS2;
    let published = 0;
    const flow = (async () => {
      const pending: Array<Promise<unknown>> = [];
      for (let n = 0; n < total; n++) {
        const qos = n % Math.round(total / QOS2) === 0 && n / Math.round(total / QOS2) < QOS2 ? 2 : 1;
        const to = n % CLIENTS;
        pending.push(publisher.publishAsync(`kill/${to}/m`, `q${qos}-${n}`, { qos }).then(() => published++));
        if (pending.length >= 200) await Promise.all(pending.splice(0));
      }
      await Promise.all(pending);
    })();
    await waitFor(() => published >= total / 4, 'a quarter of the messages to be published', 60_000);
    a.child.kill('SIGKILL');
    await flow;
    const expected = Array.from({ length: CLIENTS }, () => new Set<string>());
    // Rebuild what each client must receive from the publishing schedule.
    for (let n = 0; n < total; n++) {
      const qos = n % Math.round(total / QOS2) === 0 && n / Math.round(total / QOS2) < QOS2 ? 2 : 1;
      expected[n % CLIENTS]!.add(`q${qos}-${n}`);
    }
    await waitFor(
      () => counts.every((seen, i) => [...expected[i]!].every((key) => seen.has(key))),
      'every message at every client',
      120_000,
    );
    const qos2Wrong = counts.flatMap((seen) => [...seen].filter(([key, n]) => key.startsWith('q2-') && n !== 1));
    expect(qos2Wrong).toEqual([]);
    const qos2Total = counts.reduce((sum, seen) => sum + [...seen.keys()].filter((k) => k.startsWith('q2-')).length, 0);
    expect(qos2Total).toBe(QOS2);
  }, 240_000);
});

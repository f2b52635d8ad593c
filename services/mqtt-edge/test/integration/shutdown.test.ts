import { waitFor } from '@protomesh/test-support';
import mqtt, { Store } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { Reason } from '../../src/index.js';
import { type Cluster, type Replica, withTwoReplicas } from '../helpers/cluster.js';

let cluster: Cluster;
let a: Replica;
let b: Replica;

withTwoReplicas((started, first, second) => {
  cluster = started;
  a = first;
  b = second;
});

describe('graceful shutdown with two replicas', () => {
  it('SIGTERM path: DISCONNECT 0x8B, the session moves to the other replica, QoS 2 exactly once and QoS 1 without loss', async () => {
    const total = 1_000;
    // MQTT.js keeps QoS 2 state in its stores; the reconnecting client takes them over.
    const incomingStore = new Store();
    const outgoingStore = new Store();
    const counts = new Map<string, number>();
    const onMessage = (_topic: string, payload: Buffer) => {
      const key = payload.toString();
      counts.set(key, (counts.get(key) ?? 0) + 1);
    };
    const options = {
      protocolVersion: 5 as const,
      clientId: 'migrating-device',
      clean: false,
      properties: { sessionExpiryInterval: 300 },
      incomingStore,
      outgoingStore,
    };
    const first = await cluster.client(a.url, options);
    first.on('message', onMessage);
    const reasons: number[] = [];
    first.on('disconnect', (packet) => reasons.push(packet.reasonCode ?? 0));
    await first.subscribeAsync('drain/#', { qos: 2 });

    const pub = await cluster.client(b.url, { protocolVersion: 5 });
    const flow = Promise.all(
      Array.from({ length: total }, (_, i) =>
        pub.publishAsync(`drain/${i % 2 ? 'q1' : 'q2'}`, `${i % 2 ? 'q1' : 'q2'}-${i}`, { qos: i % 2 ? 1 : 2 }),
      ),
    );
    await waitFor(() => counts.size >= 40, 'the stream to be flowing');
    const beforeStop = counts.size;
    await a.stop();
    // The stop came mid-stream.
    expect(beforeStop).toBeLessThan(total / 2);
    expect(reasons).toEqual([Reason.ServerShuttingDown]);
    const second = cluster.track(mqtt.connect(b.url, { ...options, reconnectPeriod: 0 }));
    second.on('message', onMessage);
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve) => second.once('connect', resolve));
    expect(connack.sessionPresent).toBe(true);
    await flow;
    await waitFor(() => counts.size === total, `all ${total} messages (have ${counts.size})`);
    const q2Repeats = [...counts].filter(([key, n]) => key.startsWith('q2-') && n !== 1);
    expect(q2Repeats).toEqual([]);
  });
});

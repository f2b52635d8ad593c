import { waitFor } from '@protomesh/test-support';
import { describe, expect, it } from 'vitest';
import { type Cluster, type Replica, withTwoReplicas } from '../helpers/cluster.js';

let cluster: Cluster;
let a: Replica;
let b: Replica;

withTwoReplicas((started, first, second) => {
  cluster = started;
  a = first;
  b = second;
});

describe('Will Messages across replicas', () => {
  it('[MQTT-3.1.3-9] a reconnect to the other replica within the Will Delay Interval cancels the Will', async () => {
    const watcher = await cluster.client(b.url, { protocolVersion: 5 });
    const topics: string[] = [];
    watcher.on('message', (topic) => topics.push(topic));
    await watcher.subscribeAsync(['lwt/#', 'lwt-probe'], { qos: 1 });
    const options = {
      protocolVersion: 5 as const,
      clientId: 'roamer',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    };
    const first = await cluster.client(a.url, {
      ...options,
      will: {
        topic: 'lwt/roamer',
        payload: Buffer.from('offline'),
        qos: 1,
        retain: false,
        properties: { willDelayInterval: 2 },
      },
    });
    first.stream.destroy(); // network loss: no DISCONNECT
    await cluster.client(b.url, options);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const probe = await cluster.client(a.url, { protocolVersion: 4 });
    await probe.publishAsync('lwt-probe', 'p', { qos: 1 });
    await waitFor(() => topics.includes('lwt-probe'), 'the probe');
    expect(topics).toEqual(['lwt-probe']);
  });

  it('a delayed Will pending on a replica that shuts down is published by the other replica when due', async () => {
    const c = await cluster.replica();
    const watcher = await cluster.client(b.url, { protocolVersion: 4 });
    const got: string[] = [];
    watcher.on('message', (topic, payload) => got.push(`${topic}=${payload.toString()}`));
    await watcher.subscribeAsync('lwt/#', { qos: 1 });
    const device = await cluster.client(c.url, {
      protocolVersion: 5,
      clientId: 'orphan',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
      will: {
        topic: 'lwt/orphan',
        payload: Buffer.from('lost'),
        qos: 1,
        retain: false,
        properties: { willDelayInterval: 1 },
      },
    });
    const reasons: number[] = [];
    device.on('disconnect', (packet) => reasons.push(packet.reasonCode ?? -1));
    await c.stop(); // DISCONNECT 0x8B: the client did not disconnect, so its Will is due after the delay
    expect(reasons).toEqual([0x8b]);
    await waitFor(() => got.length > 0, 'the will from the other replica');
    expect(got).toEqual(['lwt/orphan=lost']);
  });
});

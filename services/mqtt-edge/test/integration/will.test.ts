import { connectNats, meshLayout } from '@protomesh/backbone';
import { waitFor } from '@protomesh/test-support';
import { afterAll, describe, expect, it } from 'vitest';
import { type Cluster, type Replica, withTwoReplicas } from '../helpers/cluster.js';
import { type ProcessReplica, spawnReplica } from '../helpers/process-replica.js';

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

  it('the Wills of connections on a replica that is killed are published by the other replica', async () => {
    const crashed: ProcessReplica = await spawnReplica(cluster.nats.url, cluster.prefix);
    killAfter.push(crashed);
    const watcher = await cluster.client(b.url, { protocolVersion: 5 });
    const got: string[] = [];
    watcher.on('message', (topic, payload) => got.push(`${topic}=${payload.toString()}`));
    await watcher.subscribeAsync('crash-lwt/#', { qos: 1 });
    const will = (name: string, delay?: number) => ({
      topic: `crash-lwt/${name}`,
      payload: Buffer.from(`${name} gone`),
      qos: 1 as const,
      retain: false,
      ...(delay !== undefined && { properties: { willDelayInterval: delay } }),
    });
    // v3.1.1, clean session: the Will goes out at once when the replica is found dead.
    await cluster.client(crashed.url, { protocolVersion: 4, clientId: 'crash-plain', will: will('plain') });
    // MQTT 5, persistent with a delay: goes out after the delay, as the client does not come back.
    await cluster.client(crashed.url, {
      protocolVersion: 5,
      clientId: 'crash-delayed',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
      will: will('delayed', 1),
    });
    // MQTT 5, persistent with a delay, back on the live replica before the crash is noticed: cancelled.
    const back = {
      protocolVersion: 5 as const,
      clientId: 'crash-back',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    };
    await cluster.client(crashed.url, { ...back, will: will('back', 30) });
    // Left with DISCONNECT 0x00 before the crash: no Will [MQTT-3.1.2-10].
    const polite = await cluster.client(crashed.url, {
      protocolVersion: 4,
      clientId: 'crash-polite',
      will: will('polite'),
    });
    await polite.endAsync();
    // The replica has handled that DISCONNECT once it dropped the held copy of the polite Will.
    const store = await connectNats({ servers: cluster.nats.url });
    const sessions = await store.kv(meshLayout(cluster.prefix).buckets.sessions);
    await waitFor(
      async () => !(await sessions.keys('h.>')).some((key) => key.endsWith('.crash-polite')),
      'the polite will released',
    );
    expect((await sessions.keys('h.>')).length).toBe(3);
    await store.close();
    crashed.child.kill('SIGKILL');
    await cluster.client(b.url, back);
    await waitFor(() => got.length >= 2, 'the wills of the killed replica', 20_000);
    // Nothing else arrives: a probe published after the sweep that handled them comes next.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const probe = await cluster.client(b.url, { protocolVersion: 4 });
    await probe.publishAsync('crash-lwt/probe', 'p', { qos: 1 });
    await waitFor(() => got.includes('crash-lwt/probe=p'), 'the probe');
    expect(got.sort()).toEqual(['crash-lwt/delayed=delayed gone', 'crash-lwt/plain=plain gone', 'crash-lwt/probe=p']);
  }, 40_000);
});

const killAfter: ProcessReplica[] = [];
afterAll(() => {
  for (const replica of killAfter) replica.child.kill('SIGKILL');
});

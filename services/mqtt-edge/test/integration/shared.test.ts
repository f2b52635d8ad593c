import { connectNats, meshLayout } from '@protomesh/backbone';
import { waitFor } from '@protomesh/test-support';
import { afterAll, describe, expect, it } from 'vitest';
import { shortHash } from '../../src/session/record.js';
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

describe('shared subscriptions across replicas', () => {
  it('QoS 0: each message goes to one member; members on both replicas get some (NATS queue group)', async () => {
    const got: string[][] = [[], []];
    for (const [i, replica] of [a, b].entries()) {
      const member = await cluster.client(replica.url, { protocolVersion: i === 0 ? 5 : 4 });
      member.on('message', (_t, payload) => got[i]!.push(payload.toString()));
      await member.subscribeAsync('$share/readers/metrics/#', { qos: 0 });
    }
    const pub = await cluster.client(a.url, { protocolVersion: 4 });
    for (let i = 0; i < 200; i++) pub.publish('metrics/cpu', String(i), { qos: 0 });
    await pub.publishAsync('metrics/cpu', 'last', { qos: 0 });
    await waitFor(() => got[0]!.length + got[1]!.length >= 201, '201 deliveries');
    const union = [...got[0]!, ...got[1]!];
    expect(new Set(union).size).toBe(union.length);
    expect(got[0]!.length).toBeGreaterThan(0);
    expect(got[1]!.length).toBeGreaterThan(0);
  });

  it('QoS 1: one shared durable consumer; every message once to the group, and to the remaining member after one leaves', async () => {
    const got: string[][] = [[], []];
    const members = [];
    for (const [i, replica] of [a, b].entries()) {
      const member = await cluster.client(replica.url, { protocolVersion: 5 });
      member.on('message', (_t, payload) => got[i]!.push(payload.toString()));
      await member.subscribeAsync('$share/billing/orders/+', { qos: 1 });
      members.push(member);
    }
    const pub = await cluster.client(b.url, { protocolVersion: 5 });
    await Promise.all(Array.from({ length: 200 }, (_, i) => pub.publishAsync(`orders/${i % 4}`, `o${i}`, { qos: 1 })));
    await waitFor(() => got[0]!.length + got[1]!.length >= 200, '200 deliveries');
    const union = [...got[0]!, ...got[1]!];
    expect(new Set(union).size).toBe(200);
    expect(union.length).toBe(200);
    await members[0]!.endAsync();
    await Promise.all(Array.from({ length: 20 }, (_, i) => pub.publishAsync('orders/late', `late${i}`, { qos: 1 })));
    await waitFor(
      () => got[1]!.filter((m) => m.startsWith('late')).length === 20,
      'the late ones on the other replica',
    );
  });

  it('members of a killed replica leave the group unless their session continues', async () => {
    const crashed: ProcessReplica = await spawnReplica(cluster.nats.url, cluster.prefix);
    killAfter.push(crashed);
    const shared = '$share/crashers/crash/#';
    const clean = await cluster.client(crashed.url, { protocolVersion: 4, clientId: 'crash-clean' });
    await clean.subscribeAsync(shared, { qos: 1 });
    const persistent = await cluster.client(crashed.url, {
      protocolVersion: 5,
      clientId: 'crash-persistent',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    await persistent.subscribeAsync(shared, { qos: 1 });
    const survivor = await cluster.client(b.url, { protocolVersion: 4, clientId: 'crash-survivor' });
    await survivor.subscribeAsync(shared, { qos: 1 });
    const store = await connectNats({ servers: cluster.nats.url });
    const sessions = await store.kv(meshLayout(cluster.prefix).buckets.sessions);
    const key = `g.${shortHash('crashers\u0000crash/#', 24)}`;
    const members = async () => {
      const entry = await sessions.get(key);
      return entry ? Object.keys(JSON.parse(new TextDecoder().decode(entry.value)).members).sort() : [];
    };
    expect(await members()).toEqual(['crash-clean', 'crash-persistent', 'crash-survivor']);
    crashed.child.kill('SIGKILL');
    await waitFor(
      async () => (await members()).length === 2,
      'the clean member of the killed replica to leave',
      20_000,
    );
    expect(await members()).toEqual(['crash-persistent', 'crash-survivor']);
    await store.close();
  }, 40_000);
});

const killAfter: ProcessReplica[] = [];
afterAll(() => {
  for (const replica of killAfter) replica.child.kill('SIGKILL');
});

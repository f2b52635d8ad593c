import { waitFor } from '@protomesh/test-support';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.js';
import type { TestClient } from '../helpers/mqtt-test-client.js';
import { publish, publishAcked, subscribe } from '../helpers/packets.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function start(options: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  harness = await startHarness(options);
  return harness;
}

/** Collects payloads of PUBLISH packets, acknowledging QoS 1 unless `ack` is false. */
function collect(client: TestClient, ack = true): string[] {
  const out: string[] = [];
  let index = client.received.length;
  client.stream.on('data', () => {
    for (; index < client.received.length; index++) {
      const packet = client.received[index]!;
      if (packet.cmd !== 'publish') continue;
      out.push(packet.payload.toString());
      if (ack && packet.qos === 1) client.send({ cmd: 'puback', messageId: packet.messageId! });
    }
  });
  return out;
}

describe('shared subscriptions $share/<group>/<filter>', () => {
  it('[MQTT-4.8.2-?] gives each message to one member of the group, at QoS 0 and 1; other subscribers get all', async () => {
    const h = await start();
    const members = await Promise.all([h.connect({ version: 5 }), h.connect({ version: 4 })]);
    for (const { client } of members) expect(await subscribe(client, '$share/workers/jobs/+', 1)).toEqual([1]);
    const { client: observer } = await h.connect({ version: 4 });
    await subscribe(observer, 'jobs/+', 0);
    const seen = members.map(({ client }) => collect(client));
    const all = collect(observer);
    const { client: pub } = await h.connect({ version: 4 });
    for (let i = 0; i < 20; i++) publish(pub, 'jobs/q0', `a${i}`, 0);
    for (let i = 0; i < 20; i++) await publishAcked(pub, 'jobs/q1', `b${i}`);
    await waitFor(() => seen[0]!.length + seen[1]!.length === 40 && all.length === 40, '40 deliveries');
    const union = [...seen[0]!, ...seen[1]!].sort();
    expect(new Set(union).size).toBe(40);
    expect(seen[0]!.length).toBeGreaterThan(0);
    expect(seen[1]!.length).toBeGreaterThan(0);
  });

  it('a message a member did not acknowledge goes to another member when it disconnects', async () => {
    const h = await start();
    const { client: lazy } = await h.connect({ version: 4 });
    await subscribe(lazy, '$share/g/tasks', 1);
    const { client: pub } = await h.connect({ version: 4 });
    await publishAcked(pub, 'tasks', 'job-1');
    expect((await lazy.next('publish')).payload.toString()).toBe('job-1'); // never acknowledged
    const { client: worker } = await h.connect({ version: 4 });
    await subscribe(worker, '$share/g/tasks', 1);
    lazy.stream.destroy();
    const again = await worker.next('publish');
    expect(again.payload.toString()).toBe('job-1');
  });

  it('[MQTT-4.8.2-?] sends no retained messages to a shared subscription', async () => {
    const h = await start();
    const { client: pub } = await h.connect({ version: 4 });
    await publishAcked(pub, 'shared-retained', 'r', { retain: true });
    const { client } = await h.connect({ version: 5 });
    await subscribe(client, '$share/g/shared-retained', 1);
    await subscribe(client, 'probe', 0);
    publish(pub, 'probe', 'p');
    expect((await client.next('publish')).topic).toBe('probe');
  });

  it('keeps the group for a persistent member while it is away, and the last member to leave removes it', async () => {
    const h = await start();
    const options = {
      version: 5 as const,
      clientId: 'member',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    };
    const first = await h.connect(options);
    await subscribe(first.client, '$share/keep/away', 1);
    first.client.end();
    await first.client.waitClosed();
    const { client: pub } = await h.connect({ version: 4 });
    await publishAcked(pub, 'away', 'kept for the group');
    const again = await h.connect(options);
    expect(again.connack.sessionPresent).toBe(true);
    expect((await again.client.next('publish')).payload.toString()).toBe('kept for the group');
    again.client.send({ cmd: 'unsubscribe', messageId: 5, unsubscriptions: ['$share/keep/away'] });
    await again.client.next('unsuback');
    const kv = await h.backbone.kv(h.layout.buckets.sessions);
    expect(await kv.keys('g.*')).toEqual([]);
  });
});

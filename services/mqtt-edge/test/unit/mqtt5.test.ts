import { createEmbeddedBackbone } from '@protomesh/backbone';
import { waitFor } from '@protomesh/test-support';
import { afterEach, describe, expect, it } from 'vitest';
import { Reason } from '../../src/index.js';
import { gateAppends } from '../helpers/gated-backbone.js';
import { type Harness, startHarness } from '../helpers/harness.js';
import { publish, publishAcked, receive, subscribe } from '../helpers/packets.js';

let harness: Harness | undefined;
const extra: Array<() => Promise<void>> = [];
afterEach(async () => {
  await harness?.close();
  harness = undefined;
  while (extra.length) await extra.pop()!();
});

async function start(options: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  harness = await startHarness(options);
  return harness;
}

describe('MQTT 5 features', () => {
  it('[MQTT-3.3.2-12] inbound topic aliases: set with a topic, then used with an empty topic; unknown alias → 0x82', async () => {
    const h = await start();
    const { client: sub } = await h.connect({ version: 4 });
    await subscribe(sub, 'alias/#', 0);
    const { client: pub } = await h.connect({ version: 5 });
    publish(pub, 'alias/long/topic/name', 'one', 0, { properties: { topicAlias: 3 } });
    publish(pub, '', 'two', 0, { properties: { topicAlias: 3 } });
    expect((await sub.next('publish')).topic).toBe('alias/long/topic/name');
    const second = await sub.next('publish');
    expect([second.topic, second.payload.toString()]).toEqual(['alias/long/topic/name', 'two']);
    publish(pub, '', 'three', 0, { properties: { topicAlias: 4 } });
    expect(await pub.waitClosed()).toEqual([expect.objectContaining({ reasonCode: Reason.ProtocolError })]);
  });

  it('outbound topic aliases honour the client Topic Alias Maximum', async () => {
    const h = await start();
    const { client: sub } = await h.connect({ version: 5, properties: { topicAliasMaximum: 1 } });
    await subscribe(sub, 'ta/#', 0);
    const { client: pub } = await h.connect({ version: 4 });
    publish(pub, 'ta/first', '1');
    publish(pub, 'ta/first', '2');
    publish(pub, 'ta/second', '3');
    const one = await sub.next('publish');
    const two = await sub.next('publish');
    const three = await sub.next('publish');
    expect([one.topic, one.properties?.topicAlias]).toEqual(['ta/first', 1]);
    expect([two.topic, two.properties?.topicAlias]).toEqual(['', 1]);
    expect([three.topic, three.properties?.topicAlias]).toEqual(['ta/second', undefined]);
  });

  it('[MQTT-3.3.4-3] sends the Subscription Identifiers of every matching subscription', async () => {
    const h = await start();
    const { client: sub } = await h.connect({ version: 5 });
    await subscribe(sub, 'sid/+', 1, { subscriptionIdentifier: 7 });
    await subscribe(sub, 'sid/#', 0, { subscriptionIdentifier: 9 });
    await subscribe(sub, 'sid/x', 0);
    const { client: pub } = await h.connect({ version: 4 });
    await publishAcked(pub, 'sid/x', 'x');
    const got = await receive(sub);
    expect(got.qos).toBe(1);
    expect([got.properties?.subscriptionIdentifier].flat().sort()).toEqual([7, 9]);
  });

  it('MQTT 5 §3.3.2.3.2: a UTF-8 flagged payload that is not UTF-8 → PUBACK 0x99 (QoS 1), DISCONNECT 0x99 (QoS 0)', async () => {
    const h = await start();
    const { client: sub } = await h.connect({ version: 4 });
    await subscribe(sub, 'pfi/#', 0);
    const { client } = await h.connect({ version: 5 });
    const bad = Buffer.from([0xc3, 0x28]);
    const id = publish(client, 'pfi/1', bad, 1, { properties: { payloadFormatIndicator: true } });
    expect(await client.next('puback')).toMatchObject({ messageId: id, reasonCode: Reason.PayloadFormatInvalid });
    await publishAcked(client, 'pfi/2', 'ok ✓', { properties: { payloadFormatIndicator: true } });
    expect((await sub.next('publish')).topic).toBe('pfi/2');
    publish(client, 'pfi/3', bad, 0, { properties: { payloadFormatIndicator: true } });
    expect(await client.waitClosed()).toEqual([expect.objectContaining({ reasonCode: Reason.PayloadFormatInvalid })]);
  });

  it('[MQTT-4.7.2-1] refuses publishing to $ topics: MQTT 5 PUBACK 0x87, MQTT 3.1.1 acknowledged and dropped', async () => {
    const h = await start();
    const { client: sub } = await h.connect({ version: 4 });
    await subscribe(sub, [{ topic: '$SYS/#' }, { topic: 'probe' }], 0);
    const { client: v5 } = await h.connect({ version: 5 });
    const id5 = publish(v5, '$SYS/broker/uptime', 'fake', 1);
    const refused = await v5.next('puback');
    expect(refused).toMatchObject({ messageId: id5, reasonCode: Reason.NotAuthorized });
    expect(refused.properties?.reasonString).toMatch(/reserved/);
    const { client: v4 } = await h.connect({ version: 4 });
    await publishAcked(v4, '$SYS/broker/uptime', 'fake');
    publish(v4, 'probe', 'p');
    expect((await sub.next('publish')).topic).toBe('probe');
  });

  it('[MQTT-3.3.4-8] closes a client that exceeds our Receive Maximum with DISCONNECT 0x93', async () => {
    const inner = createEmbeddedBackbone();
    extra.push(() => inner.close());
    const gated = gateAppends(inner);
    const h = await start({ backbone: gated.backbone, receiveMaximum: 2 });
    const { client, connack } = await h.connect({ version: 5 });
    expect(connack.properties?.receiveMaximum).toBe(2);
    publish(client, 'rm/1', 'a', 1);
    publish(client, 'rm/2', 'b', 2);
    await waitFor(() => gated.waiting.length === 2, 'two stores');
    publish(client, 'rm/3', 'c', 1);
    expect(await client.waitClosed()).toEqual([expect.objectContaining({ reasonCode: Reason.ReceiveMaximumExceeded })]);
  });

  it('a completed QoS 2 flow gives its Receive Maximum quota back only at PUBCOMP', async () => {
    const h = await start({ receiveMaximum: 1 });
    const { client } = await h.connect({ version: 5 });
    const id = publish(client, 'rq/1', 'a', 2);
    await client.next('pubrec');
    client.send({ cmd: 'pubrel', messageId: id });
    await client.next('pubcomp');
    await publishAcked(client, 'rq/2', 'b');
    publish(client, 'rq/3', 'c', 2);
    await client.next('pubrec');
    publish(client, 'rq/4', 'd', 1); // the QoS 2 flow is still open
    expect(await client.waitClosed()).toEqual([expect.objectContaining({ reasonCode: Reason.ReceiveMaximumExceeded })]);
  });

  it('[MQTT-3.1.2-29] reason strings only when Request Problem Information is 1', async () => {
    const h = await start();
    const { client: quiet } = await h.connect({ version: 5, properties: { requestProblemInformation: false } });
    publish(quiet, '$SYS/x', 'y', 1);
    const bare = await quiet.next('puback');
    expect(bare.reasonCode).toBe(Reason.NotAuthorized);
    expect(bare.properties?.reasonString).toBeUndefined();
  });

  it('[MQTT-3.1.2-25] never sends a packet over the client Maximum Packet Size: it is skipped', async () => {
    const h = await start();
    const { client: sub } = await h.connect({ version: 5, properties: { maximumPacketSize: 128 } });
    await subscribe(sub, 'mps/#', 1);
    const { client: pub } = await h.connect({ version: 4 });
    await publishAcked(pub, 'mps/big', Buffer.alloc(500));
    await publishAcked(pub, 'mps/small', 'fits');
    const got = await receive(sub);
    expect(got.topic).toBe('mps/small');
  });

  it('[MQTT-3.3.2-5] drops a message that expires while queued behind the Receive Maximum window; forwards what is left', async () => {
    const h = await start();
    const { client: sub } = await h.connect({ version: 5, properties: { receiveMaximum: 1 } });
    await subscribe(sub, 'mx/#', 1);
    const { client: pub } = await h.connect({ version: 5 });
    await publishAcked(pub, 'mx/1', 'first');
    await publishAcked(pub, 'mx/2', 'expires', { properties: { messageExpiryInterval: 1 } });
    await publishAcked(pub, 'mx/3', 'third', { properties: { messageExpiryInterval: 100 } });
    const first = await sub.next('publish');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    sub.send({ cmd: 'puback', messageId: first.messageId! });
    const next = await sub.next('publish');
    expect(next.topic).toBe('mx/3');
    expect(next.properties?.messageExpiryInterval).toBeLessThanOrEqual(99);
  });

  it('QoS 2 out (clean session): PUBLISH → PUBREC → PUBREL → PUBCOMP; a repeated PUBREC repeats PUBREL; unknown → 0x92', async () => {
    const h = await start();
    const { client: sub } = await h.connect({ version: 5 });
    await subscribe(sub, 'q2out', 2);
    const { client: pub } = await h.connect({ version: 5 });
    publish(pub, 'q2out', 'x', 2);
    const got = await sub.next('publish');
    expect(got.qos).toBe(2);
    sub.send({ cmd: 'pubrec', messageId: got.messageId! });
    expect((await sub.next('pubrel')).messageId).toBe(got.messageId);
    sub.send({ cmd: 'pubrec', messageId: got.messageId! });
    expect((await sub.next('pubrel')).messageId).toBe(got.messageId);
    sub.send({ cmd: 'pubcomp', messageId: got.messageId! });
    sub.send({ cmd: 'pubrec', messageId: 999 });
    expect(await sub.next('pubrel')).toMatchObject({ messageId: 999, reasonCode: Reason.PacketIdentifierNotFound });
  });

  it('server-initiated DISCONNECT carries a reason string (takeover 0x8E)', async () => {
    const h = await start();
    const { client: first } = await h.connect({ version: 5, clientId: 'same' });
    await h.connect({ version: 5, clientId: 'same' });
    const [disconnect] = await first.waitClosed();
    expect(disconnect).toMatchObject({ cmd: 'disconnect', reasonCode: Reason.SessionTakenOver });
    expect((disconnect as { properties?: { reasonString?: string } }).properties?.reasonString).toMatch(/taken over/);
  });
});

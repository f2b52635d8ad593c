import { type Backbone, type BackboneMessage, createEmbeddedBackbone, meshLayout } from '@protomesh/backbone';
import { decodeMeta, encodeMeta } from '@protomesh/envelope';
import { waitFor } from '@protomesh/test-support';
import { topicToSubject } from '@protomesh/topic-map';
import type { IPublishPacket } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { Reason } from '../../src/index.js';
import { gateAppends } from '../helpers/gated-backbone.js';
import { type Harness, startHarness } from '../helpers/harness.js';
import type { TestClient } from '../helpers/mqtt-test-client.js';

let harness: Harness | undefined;
let extraBackbone: Backbone | undefined;
afterEach(async () => {
  await harness?.close();
  await extraBackbone?.close();
  harness = undefined;
  extraBackbone = undefined;
});

async function start(options: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  harness = await startHarness(options);
  return harness;
}

let nextId = 1;
async function subscribe(
  client: TestClient,
  topic: string,
  qos: 0 | 1 | 2 = 0,
  extra: { nl?: boolean } = {},
): Promise<number[]> {
  const messageId = nextId++;
  client.send({ cmd: 'subscribe', messageId, subscriptions: [{ topic, qos, ...extra }] });
  const suback = await client.next('suback');
  expect(suback.messageId).toBe(messageId);
  return suback.granted as number[];
}

function publish(
  client: TestClient,
  topic: string,
  payload: string | Buffer,
  qos: 0 | 1 | 2 = 0,
  extra: Partial<IPublishPacket> = {},
): number {
  const messageId = qos > 0 ? nextId++ : undefined;
  client.send({
    cmd: 'publish',
    topic,
    payload,
    qos,
    retain: false,
    dup: false,
    ...(messageId && { messageId }),
    ...extra,
  });
  return messageId ?? 0;
}

describe('SUBSCRIBE / PUBLISH', () => {
  it('delivers QoS 0 messages through + and # wildcards, payload bytes unchanged', async () => {
    const h = await start();
    const { client: sub } = await h.connect({ version: 4 });
    expect(await subscribe(sub, 'sensors/+/temp')).toEqual([0]);
    expect(await subscribe(sub, 'alarms/#')).toEqual([0]);
    const { client: pub } = await h.connect({ version: 4 });
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    publish(pub, 'sensors/7/temp', bytes);
    publish(pub, 'sensors/7/humidity', 'no');
    publish(pub, 'alarms', 'parent level');
    const first = await sub.next('publish');
    expect(first.topic).toBe('sensors/7/temp');
    expect(Buffer.compare(first.payload as Buffer, bytes)).toBe(0);
    expect(first.qos).toBe(0);
    const second = await sub.next('publish');
    expect(second.topic).toBe('alarms');
    expect(second.payload.toString()).toBe('parent level');
  });

  it('[MQTT-3.8.4-6] grants the QoS asked for and delivers at min(published, granted)', async () => {
    const h = await start();
    const { client: sub1 } = await h.connect({ version: 4 });
    const { client: sub0 } = await h.connect({ version: 4 });
    expect(await subscribe(sub1, 'q/#', 1)).toEqual([1]);
    expect(await subscribe(sub0, 'q/#', 0)).toEqual([0]);
    const { client: pub } = await h.connect({ version: 4 });
    const id = publish(pub, 'q/x', 'hello', 1);
    const puback = await pub.next('puback');
    expect(puback.messageId).toBe(id);
    const at1 = await sub1.next('publish');
    expect(at1.qos).toBe(1);
    expect(at1.messageId).toBeGreaterThan(0);
    sub1.send({ cmd: 'puback', messageId: at1.messageId! });
    expect((await sub0.next('publish')).qos).toBe(0);
  });

  it('[MQTT-3.9.3-1] answers each filter in order: invalid → 0x80 (3.1.1) / 0x8F (5)', async () => {
    const h = await start();
    const { client: v4 } = await h.connect({ version: 4 });
    v4.send({
      cmd: 'subscribe',
      messageId: 7,
      subscriptions: [
        { topic: 'ok/+', qos: 1 },
        { topic: 'bad/#/x', qos: 0 },
        { topic: '$share//t', qos: 0 },
      ],
    });
    expect((await v4.next('suback')).granted).toEqual([1, 0x80, 0x80]);
    const { client: v5 } = await h.connect({ version: 5 });
    v5.send({
      cmd: 'subscribe',
      messageId: 8,
      subscriptions: [
        { topic: 'a+', qos: 0, nl: false, rap: false, rh: 0 },
        { topic: '$share/g/t', qos: 1, nl: false, rap: false, rh: 0 },
        { topic: '#', qos: 0, nl: false, rap: false, rh: 0 },
      ],
    });
    expect((await v5.next('suback')).granted).toEqual([Reason.TopicFilterInvalid, 1, 0]);
  });

  it('[MQTT-3.10.4-5] UNSUBACK reports removed (0x00) and unknown (0x11) filters; delivery stops', async () => {
    const h = await start();
    const { client: sub } = await h.connect({ version: 5 });
    await subscribe(sub, 'u/1');
    sub.send({ cmd: 'unsubscribe', messageId: 9, unsubscriptions: ['u/1', 'never'] });
    const unsuback = await sub.next('unsuback');
    expect(unsuback.granted).toEqual([Reason.Success, Reason.NoSubscriptionExisted]);
    expect(h.broker.backboneSubscriptions).toBe(0);
    const { client: pub } = await h.connect({ version: 4 });
    publish(pub, 'u/1', 'gone', 1);
    await pub.next('puback');
    sub.send({ cmd: 'pingreq' });
    expect((await sub.next()).cmd).toBe('pingresp');
  });

  it('[MQTT-3.3.5-1] sends one copy per message to overlapping subscriptions, at the highest granted QoS', async () => {
    const h = await start();
    const { client: sub } = await h.connect({ version: 4 });
    await subscribe(sub, 'o/#', 0);
    await subscribe(sub, 'o/+', 1);
    await subscribe(sub, '#', 0);
    const { client: pub } = await h.connect({ version: 4 });
    publish(pub, 'o/k', 'one', 1);
    publish(pub, 'o/k', 'two', 0);
    const first = await sub.next('publish');
    expect(first.payload.toString()).toBe('one');
    expect(first.qos).toBe(1);
    const second = await sub.next('publish');
    expect(second.payload.toString()).toBe('two');
    expect(second.qos).toBe(0);
    sub.send({ cmd: 'pingreq' });
    expect((await sub.next()).cmd).toBe('pingresp');
  });

  it('a subscriber shares one backbone subscription per subject with other local subscribers', async () => {
    const h = await start();
    const { client: a } = await h.connect({ version: 4 });
    const { client: b } = await h.connect({ version: 4 });
    await subscribe(a, 'shared/topic');
    await subscribe(b, 'shared/topic');
    expect(h.broker.backboneSubscriptions).toBe(1);
  });

  it('[MQTT-3.3.2-2] closes a client that publishes to a topic with wildcards (MQTT 5: DISCONNECT 0x90)', async () => {
    const h = await start();
    const { client } = await h.connect({ version: 5 });
    publish(client, 'a/+/b', 'x');
    expect(await client.waitClosed()).toEqual([
      expect.objectContaining({ cmd: 'disconnect', reasonCode: Reason.TopicNameInvalid }),
    ]);
    const { client: v4 } = await h.connect({ version: 4 });
    publish(v4, 'a/#', 'x', 1);
    expect(await v4.waitClosed()).toEqual([]);
    expect(await h.metrics.render()).toMatch(
      /protomesh_protocol_errors_total\{[^}]*code="PM_MQTT_TOPIC_NAME_INVALID"[^}]*\} 2/,
    );
  });

  it('[MQTT-3.3.2-8] [MQTT-3.3.2-9] closes an MQTT 5 client that uses topic alias 0 or one above the maximum (0x94)', async () => {
    const h = await start({ topicAliasMaximum: 4 });
    const { client: zero } = await h.connect({ version: 5 });
    publish(zero, 't', 'x', 0, { properties: { topicAlias: 0 } });
    expect(await zero.waitClosed()).toEqual([expect.objectContaining({ reasonCode: Reason.TopicAliasInvalid })]);
    const { client: above } = await h.connect({ version: 5 });
    publish(above, 't', 'x', 0, { properties: { topicAlias: 5 } });
    expect(await above.waitClosed()).toEqual([expect.objectContaining({ reasonCode: Reason.TopicAliasInvalid })]);
  });

  it('records origin, QoS and retain in headers (3.1.1 retain is carried, not stored)', async () => {
    const h = await start();
    const seen: BackboneMessage[] = [];
    const raw = h.backbone.subscribe(`${h.prefix}.mqtt.>`, (m) => seen.push(m));
    try {
      const { client } = await h.connect({ version: 4, clientId: 'origin/client' });
      publish(client, 'h/1', 'x', 1, { retain: true });
      await client.next('puback');
      await waitFor(() => seen.length === 1, 'the backbone message');
      expect(seen[0]!.subject).toBe(topicToSubject({ prefix: h.prefix, tier: 'mqtt' }, 'h/1', '1'));
      expect(decodeMeta(seen[0]!.headers)).toMatchObject({
        originTier: 'mqtt',
        originClient: 'origin/client',
        qos: 1,
        retain: true,
      });
    } finally {
      raw.unsubscribe();
    }
  });
});

describe('MQTT 5 properties', () => {
  it('[MQTT-3.3.2-4] [MQTT-3.3.2-17] [MQTT-3.3.2-18] forwards properties unaltered, user properties in order', async () => {
    const h = await start();
    const { client: sub } = await h.connect({ version: 5 });
    const { client: sub4 } = await h.connect({ version: 4 });
    await subscribe(sub, 'p/#', 1);
    await subscribe(sub4, 'p/#', 1);
    const { client: pub } = await h.connect({ version: 5 });
    publish(pub, 'p/1', '{"v":1}', 1, {
      properties: {
        contentType: 'application/json',
        payloadFormatIndicator: true,
        messageExpiryInterval: 120,
        responseTopic: 'replies/1',
        correlationData: Buffer.from([1, 2, 3]),
        userProperties: { b: ['1', '3'], a: '2' },
      },
    });
    expect((await pub.next('puback')).reasonCode).toBe(Reason.Success);
    const got = await sub.next('publish');
    expect(got.payload.toString()).toBe('{"v":1}');
    expect(got.properties).toMatchObject({
      contentType: 'application/json',
      payloadFormatIndicator: true,
      responseTopic: 'replies/1',
      correlationData: Buffer.from([1, 2, 3]),
    });
    expect(Object.entries(got.properties!.userProperties!)).toEqual([
      ['b', ['1', '3']],
      ['a', '2'],
    ]);
    // [MQTT-3.3.2-6]: what is left of the expiry interval.
    expect(got.properties!.messageExpiryInterval).toBeGreaterThan(118);
    expect(got.properties!.messageExpiryInterval).toBeLessThanOrEqual(120);
    const plain = await sub4.next('publish');
    expect(plain.payload.toString()).toBe('{"v":1}');
  });

  it('[MQTT-3.3.2-5] does not deliver a message whose expiry has passed', async () => {
    const h = await start();
    const { client: sub } = await h.connect({ version: 5 });
    await subscribe(sub, 'exp/#', 1);
    const space = { prefix: h.prefix, tier: 'mqtt' as const };
    h.backbone.publish(
      topicToSubject(space, 'exp/old', '0'),
      Buffer.from('old'),
      encodeMeta({ qos: 0, expiresAt: Date.now() - 1_000 }),
    );
    h.backbone.publish(
      topicToSubject(space, 'exp/new', '0'),
      Buffer.from('new'),
      encodeMeta({ qos: 0, expiresAt: Date.now() + 60_000 }),
    );
    const got = await sub.next('publish');
    expect(got.topic).toBe('exp/new');
    expect(await h.metrics.render()).toMatch(/protomesh_messages_dropped_total\{[^}]*reason="expired"[^}]*\} 1/);
  });

  it('[MQTT-3.8.3-3] honours No Local', async () => {
    const h = await start();
    const { client } = await h.connect({ version: 5, clientId: 'self' });
    await subscribe(client, 'nl/1', 0, { nl: true });
    await subscribe(client, 'nl/2', 0);
    publish(client, 'nl/1', 'not to me');
    publish(client, 'nl/2', 'to me');
    expect((await client.next('publish')).topic).toBe('nl/2');
  });

  it('[MQTT-3.3.4-9] keeps at most Receive Maximum QoS 1 deliveries unacknowledged', async () => {
    const h = await start();
    const { client: sub } = await h.connect({ version: 5, properties: { receiveMaximum: 2 } });
    await subscribe(sub, 'rm/#', 1);
    const { client: pub } = await h.connect({ version: 4 });
    for (let i = 0; i < 5; i++) publish(pub, 'rm/x', `m${i}`, 1);
    const first = await sub.next('publish');
    const second = await sub.next('publish');
    await expect(sub.next('publish', 200)).rejects.toThrow(/timed out/);
    sub.send({ cmd: 'puback', messageId: first.messageId!, reasonCode: 0 });
    const third = await sub.next('publish');
    expect([first, second, third].map((p) => p.payload.toString())).toEqual(['m0', 'm1', 'm2']);
    expect(new Set([first.messageId, second.messageId, third.messageId]).size).toBe(3);
  });
});

describe('acknowledgement after store', () => {
  it('sends PUBACK only after the backbone stored the message, in PUBLISH order [MQTT-4.6.0-2]', async () => {
    extraBackbone = createEmbeddedBackbone();
    const gated = gateAppends(extraBackbone);
    const h = await start({ backbone: gated.backbone });
    const { client } = await h.connect({ version: 4 });
    const first = publish(client, 'acks/1', 'a', 1);
    const second = publish(client, 'acks/2', 'b', 1);
    await waitFor(() => gated.waiting.length === 2, 'two appends');
    gated.release(1); // the second store completes first
    await expect(client.next('puback', 150)).rejects.toThrow(/timed out/);
    gated.release(0);
    expect((await client.next('puback')).messageId).toBe(first);
    expect((await client.next('puback')).messageId).toBe(second);
  });

  it('answers MQTT 5 PUBACK 0x80 when the store fails', async () => {
    extraBackbone = createEmbeddedBackbone();
    const gated = gateAppends(extraBackbone);
    const h = await start({ backbone: gated.backbone });
    const { client } = await h.connect({ version: 5 });
    const id = publish(client, 'fail/1', 'a', 1);
    await waitFor(() => gated.waiting.length === 1, 'the append');
    gated.fail(new Error('stream unavailable'));
    const puback = await client.next('puback');
    expect(puback).toMatchObject({ messageId: id, reasonCode: Reason.UnspecifiedError });
    expect(client.isClosed).toBe(false);
  });

  it('closes an MQTT 3.1.1 client without PUBACK when the store fails, so it resends', async () => {
    extraBackbone = createEmbeddedBackbone();
    const gated = gateAppends(extraBackbone);
    const h = await start({ backbone: gated.backbone });
    const { client } = await h.connect({ version: 4 });
    publish(client, 'fail/2', 'a', 1);
    await waitFor(() => gated.waiting.length === 1, 'the append');
    gated.fail(new Error('stream unavailable'));
    expect(await client.waitClosed()).toEqual([]);
    expect(await h.metrics.render()).toMatch(/code="PM_MQTT_STORE_FAILED"/);
  });

  it('QoS 2: stores once, PUBREC, PUBREL → PUBCOMP; a resent PUBLISH is not stored twice', async () => {
    const h = await start();
    const { client: sub } = await h.connect({ version: 4 });
    await subscribe(sub, 'q2/#', 1);
    const { client: pub } = await h.connect({ version: 5 });
    const id = publish(pub, 'q2/x', 'exactly once', 2);
    expect(await pub.next('pubrec')).toMatchObject({ messageId: id, reasonCode: 0 });
    publish(pub, 'q2/x', 'exactly once', 2, { messageId: id, dup: true });
    expect(await pub.next('pubrec')).toMatchObject({ messageId: id });
    pub.send({ cmd: 'pubrel', messageId: id, reasonCode: 0 });
    expect(await pub.next('pubcomp')).toMatchObject({ messageId: id, reasonCode: 0 });
    const got = await sub.next('publish');
    expect(got.payload.toString()).toBe('exactly once');
    expect(got.qos).toBe(1);
    sub.send({ cmd: 'puback', messageId: got.messageId! });
    const state = await h.backbone.streamState(meshLayout(h.prefix).streams.mqtt.name);
    expect(state?.messages).toBe(1);
    pub.send({ cmd: 'pubrel', messageId: id, reasonCode: 0 });
    expect(await pub.next('pubcomp')).toMatchObject({ messageId: id, reasonCode: Reason.PacketIdentifierNotFound });
  });
});

describe('Will Message', () => {
  it('[MQTT-3.1.2-8] publishes the Will when the connection ends without DISCONNECT', async () => {
    const h = await start();
    const { client: watcher } = await h.connect({ version: 4 });
    await subscribe(watcher, 'wills/#', 1);
    const { client } = await h.connect({
      version: 4,
      will: { topic: 'wills/dev', payload: Buffer.from('gone'), qos: 1, retain: false },
    });
    client.stream.destroy();
    const will = await watcher.next('publish');
    expect(will.topic).toBe('wills/dev');
    expect(will.payload.toString()).toBe('gone');
  });

  it('[MQTT-3.1.2-10] discards the Will on DISCONNECT', async () => {
    const h = await start();
    const { client: watcher } = await h.connect({ version: 4 });
    await subscribe(watcher, 'wills/#', 0);
    const { client } = await h.connect({
      version: 4,
      will: { topic: 'wills/quiet', payload: Buffer.from('x'), qos: 0, retain: false },
    });
    client.send({ cmd: 'disconnect' });
    await client.waitClosed();
    watcher.send({ cmd: 'pingreq' });
    expect((await watcher.next()).cmd).toBe('pingresp');
  });
});

import type { IPublishPacket, ISubscription } from 'mqtt-packet';
import { expect } from 'vitest';
import type { TestClient } from './mqtt-test-client.js';

let nextId = 1;

/** A fresh packet identifier (shared by all test clients; unique enough per connection). */
export function packetId(): number {
  nextId = nextId >= 60_000 ? 1 : nextId + 1;
  return nextId;
}

/** SUBSCRIBE one or more filters and return the SUBACK codes. */
export async function subscribe(
  client: TestClient,
  subscriptions: string | Array<Partial<ISubscription> & { topic: string }>,
  qos: 0 | 1 | 2 = 0,
  properties?: { subscriptionIdentifier?: number },
): Promise<number[]> {
  const messageId = packetId();
  const list = (typeof subscriptions === 'string' ? [{ topic: subscriptions }] : subscriptions).map((s) => ({
    qos,
    ...(client.version === 5 && { nl: false, rap: false, rh: 0 }),
    ...s,
  })) as ISubscription[];
  client.send({ cmd: 'subscribe', messageId, subscriptions: list, ...(properties && { properties }) });
  const suback = await client.next('suback');
  expect(suback.messageId).toBe(messageId);
  return suback.granted as number[];
}

/** PUBLISH; returns the packet identifier (0 for QoS 0). */
export function publish(
  client: TestClient,
  topic: string,
  payload: string | Buffer,
  qos: 0 | 1 | 2 = 0,
  extra: Partial<IPublishPacket> = {},
): number {
  const messageId = qos > 0 ? packetId() : undefined;
  client.send({
    cmd: 'publish',
    topic,
    payload,
    qos,
    retain: false,
    dup: false,
    ...(messageId && { messageId }),
    ...extra,
  } as IPublishPacket);
  return messageId ?? 0;
}

/** PUBLISH at QoS 1 and wait for its PUBACK. */
export async function publishAcked(
  client: TestClient,
  topic: string,
  payload: string | Buffer,
  extra: Partial<IPublishPacket> = {},
): Promise<void> {
  const id = publish(client, topic, payload, 1, extra);
  const puback = await client.next('puback');
  expect(puback.messageId).toBe(id);
}

/** Reads the next PUBLISH and acknowledges it (PUBACK, or PUBREC/PUBREL/PUBCOMP for QoS 2). */
export async function receive(client: TestClient): Promise<IPublishPacket> {
  const packet = await client.next('publish');
  if (packet.qos === 1) client.send({ cmd: 'puback', messageId: packet.messageId! });
  if (packet.qos === 2) {
    client.send({ cmd: 'pubrec', messageId: packet.messageId! });
    const pubrel = await client.next('pubrel');
    expect(pubrel.messageId).toBe(packet.messageId);
    client.send({ cmd: 'pubcomp', messageId: packet.messageId! });
  }
  return packet;
}

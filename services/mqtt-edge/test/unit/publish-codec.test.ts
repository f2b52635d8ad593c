import fc from 'fast-check';
import { parser as createParser, generate, type IPublishPacket } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { decodePublish } from '../../src/framing.js';
import { encodePublish, PublishCache } from '../../src/publish-encoder.js';

const topicArb = fc
  .string({ minLength: 1, maxLength: 40, unit: 'grapheme' })
  .filter((t) => !t.includes('#') && !t.includes('+') && !t.includes(String.fromCharCode(0)));
const payloadArb = fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes));
const qosArb = fc.constantFrom(0 as const, 1 as const, 2 as const);
const versionArb = fc.constantFrom(4 as const, 5 as const);

function reference(
  topic: string,
  payload: Buffer,
  qos: 0 | 1 | 2,
  retain: boolean,
  dup: boolean,
  version: 4 | 5,
  id: number,
): Buffer {
  const packet: IPublishPacket = { cmd: 'publish', topic, payload, qos, retain, dup };
  if (qos > 0) packet.messageId = id;
  return generate(packet, { protocolVersion: version });
}

function parseWithMqttPacket(bytes: Buffer, version: 4 | 5): IPublishPacket {
  const p = createParser({ protocolVersion: version });
  let out: IPublishPacket | undefined;
  p.on('packet', (packet) => {
    out = packet as IPublishPacket;
  });
  p.parse(bytes);
  return out!;
}

describe('PUBLISH fast paths (MQTT 5 §3.3, MQTT 3.1.1 §3.3)', () => {
  it('encodePublish writes the same bytes as mqtt-packet for PUBLISH without properties', () => {
    fc.assert(
      fc.property(
        topicArb,
        payloadArb,
        qosArb,
        fc.boolean(),
        fc.boolean(),
        versionArb,
        fc.integer({ min: 1, max: 65_535 }),
        (topic, payload, qos, retain, dup, version, id) => {
          const ours = encodePublish(topic, payload, qos, retain, dup, version === 5, id)!.bytes;
          expect(ours.equals(reference(topic, payload, qos, retain, dup, version, id))).toBe(true);
        },
      ),
    );
  });

  it('a shared PublishCache patches the packet identifier and DUP into a copy, and shares QoS 0 bytes', () => {
    const cache = new PublishCache();
    const payload = Buffer.from('shared');
    const a = cache.packet('a/b', payload, 1, false, false, true, 7)!;
    const b = cache.packet('a/b', payload, 1, false, true, true, 65_535)!;
    expect(a.equals(reference('a/b', payload, 1, false, false, 5, 7))).toBe(true);
    expect(b.equals(reference('a/b', payload, 1, false, true, 5, 65_535))).toBe(true);
    expect(cache.packet('a/b', payload, 0, true, false, false, undefined)).toBe(
      cache.packet('a/b', payload, 0, true, false, false, undefined),
    );
    // A Remaining Length over 127 takes two bytes (MQTT 5 §1.5.5).
    const big = Buffer.alloc(20_000, 1);
    expect(
      encodePublish('t', big, 2, false, false, false, 3)!.bytes.equals(reference('t', big, 2, false, false, 4, 3)),
    ).toBe(true);
  });

  it('decodePublish reads what mqtt-packet reads; MQTT 5 packets with properties go to the general parser', () => {
    fc.assert(
      fc.property(
        topicArb,
        payloadArb,
        qosArb,
        fc.boolean(),
        fc.boolean(),
        versionArb,
        (topic, payload, qos, retain, dup, version) => {
          const bytes = reference(topic, payload, qos, retain, dup, version, 42);
          const ours = decodePublish(bytes, version === 5) as IPublishPacket;
          const theirs = parseWithMqttPacket(bytes, version);
          expect(ours).toMatchObject({
            cmd: 'publish',
            topic: theirs.topic,
            qos: theirs.qos,
            retain: theirs.retain,
            dup: theirs.dup,
          });
          expect(ours.messageId).toBe(theirs.messageId);
          expect(Buffer.from(ours.payload as Buffer).equals(Buffer.from(theirs.payload as Buffer))).toBe(true);
        },
      ),
    );
    const withProperties = generate(
      {
        cmd: 'publish',
        topic: 't',
        payload: Buffer.from('x'),
        qos: 0,
        retain: false,
        dup: false,
        properties: { contentType: 'a' },
      },
      { protocolVersion: 5 },
    );
    expect(decodePublish(withProperties, true)).toBeUndefined();
  });

  it('[MQTT-3.3.1-4] decodePublish refuses QoS 3 and truncated packets', () => {
    const bytes = reference('t', Buffer.from('x'), 1, false, false, 4, 1);
    const qos3 = Buffer.from(bytes);
    qos3[0] = qos3[0]! | 0x06;
    expect(decodePublish(qos3, false)).toBe('Packet must not have both QoS bits set to 1');
    // Remaining Length 3: topic length 1, topic, then no room for the packet identifier.
    expect(decodePublish(Buffer.from([0x32, 0x03, 0x00, 0x01, 0x74]), false)).toBe('Cannot parse messageId');
    expect(decodePublish(Buffer.from([0x30, 0x02, 0x00, 0x05]), false)).toBe('Cannot parse topic');
  });
});

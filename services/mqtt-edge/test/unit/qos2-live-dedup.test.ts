/**
 * A QoS 2 message appended twice with one deduplication id — a client's resend after a replica
 * crashed between storing it and marking it stored — reaches live subscribers once, also with
 * overlapping filters on several connections.
 */
import { encodeMeta } from '@protomesh/envelope';
import { topicToSubject } from '@protomesh/topic-map';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.js';
import { publish, subscribe } from '../helpers/packets.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe('live QoS 2 deliveries', () => {
  it('deliver an append repeated with the same deduplication id once per subscriber', async () => {
    harness = await startHarness();
    const h = harness;
    const { client: wide } = await h.connect({ version: 5 });
    const { client: narrow } = await h.connect({ version: 4 });
    await subscribe(wide, 'dedup/#', 2);
    await subscribe(narrow, 'dedup/one', 2);
    const subject = topicToSubject({ prefix: h.prefix, tier: 'mqtt' }, 'dedup/one', '1');
    const headers = encodeMeta({ originTier: 'mqtt', originClient: 'sender', qos: 2 });
    for (let i = 0; i < 2; i++) {
      await h.backbone.append(subject, new TextEncoder().encode('once'), { msgId: 'q2-abc', headers });
    }
    // A different id is a different message.
    await h.backbone.append(subject, new TextEncoder().encode('other'), { msgId: 'q2-def', headers });
    // Probe: once it has arrived, everything before it has.
    const { client: pub } = await h.connect({ version: 4 });
    publish(pub, 'dedup/one', 'probe', 0);
    for (const client of [wide, narrow]) {
      const got: string[] = [];
      for (;;) {
        const packet = await client.next('publish');
        got.push(packet.payload.toString());
        if (packet.qos === 2) client.send({ cmd: 'pubrec', messageId: packet.messageId! });
        if (packet.payload.toString() === 'probe') break;
      }
      expect(got).toEqual(['once', 'other', 'probe']);
    }
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.js';
import { publish, publishAcked, receive, subscribe } from '../helpers/packets.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function start(options: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  harness = await startHarness(options);
  return harness;
}

describe('retained messages', () => {
  it('[MQTT-3.3.1-5] [MQTT-3.3.1-9] sends the retained message to a new subscriber with RETAIN 1 (3.1.1 and 5)', async () => {
    const h = await start();
    const { client: pub } = await h.connect({ version: 5 });
    await publishAcked(pub, 'status/door', 'open', { retain: true });
    for (const version of [4, 5] as const) {
      const { client: sub } = await h.connect({ version });
      expect(await subscribe(sub, 'status/+', 1)).toEqual([1]);
      const got = await receive(sub);
      expect(got).toMatchObject({ topic: 'status/door', retain: true, qos: 1 });
      expect(got.payload.toString()).toBe('open');
    }
  });

  it('[MQTT-3.3.1-6] [MQTT-3.3.1-7] a retained PUBLISH with an empty payload clears the topic; a newer one replaces it', async () => {
    const h = await start();
    const { client: pub } = await h.connect({ version: 4 });
    await publishAcked(pub, 'r/a', 'first', { retain: true });
    await publishAcked(pub, 'r/a', 'second', { retain: true });
    await publishAcked(pub, 'r/b', 'gone soon', { retain: true });
    await publishAcked(pub, 'r/b', '', { retain: true });
    await publishAcked(pub, 'r/c', 'last', { retain: true });
    const { client: sub } = await h.connect({ version: 4 });
    await subscribe(sub, 'r/#', 1);
    // Stored in sequence order: r/a's second value, then r/c; r/b has none.
    expect((await receive(sub)).payload.toString()).toBe('second');
    const last = await receive(sub);
    expect(last.topic).toBe('r/c');
  });

  it('[MQTT-3.3.1-10] [MQTT-3.3.1-11] honours Retain Handling 0 / 1 / 2', async () => {
    const h = await start();
    const { client: pub } = await h.connect({ version: 5 });
    await publishAcked(pub, 'rh/x', 'kept', { retain: true });
    await publishAcked(pub, 'probe/x', 'probe', { retain: true });
    const { client: sub } = await h.connect({ version: 5 });
    // 2: never; then a probe subscription shows nothing was sent for the first one.
    await subscribe(sub, [{ topic: 'rh/#', rh: 2 }]);
    await subscribe(sub, [{ topic: 'probe/x', rh: 0 }]);
    expect((await sub.next('publish')).topic).toBe('probe/x');
    // 1: only when the subscription is new.
    await subscribe(sub, [{ topic: 'rh/+', rh: 1 }]);
    expect((await sub.next('publish')).topic).toBe('rh/x');
    await subscribe(sub, [{ topic: 'rh/+', rh: 1 }]);
    await subscribe(sub, [{ topic: 'probe/x', rh: 0 }]);
    expect((await sub.next('publish')).topic).toBe('probe/x');
    // 0: on every subscribe, also for an existing subscription.
    await subscribe(sub, [{ topic: 'rh/+', rh: 0 }]);
    expect((await sub.next('publish')).topic).toBe('rh/x');
  });

  it('[MQTT-3.3.1-12] [MQTT-3.3.1-13] live deliveries carry RETAIN only with Retain As Published', async () => {
    const h = await start();
    const { client: plain } = await h.connect({ version: 5 });
    const { client: rap } = await h.connect({ version: 5 });
    await subscribe(plain, [{ topic: 'live/x', rh: 2 }]);
    await subscribe(rap, [{ topic: 'live/x', rap: true, rh: 2 }]);
    const { client: pub } = await h.connect({ version: 5 });
    publish(pub, 'live/x', 'now', 0, { retain: true });
    expect((await plain.next('publish')).retain).toBe(false);
    expect((await rap.next('publish')).retain).toBe(true);
  });

  it('delivers a retained message at min(stored QoS, granted QoS) with what is left of its expiry', async () => {
    const h = await start();
    const { client: pub } = await h.connect({ version: 5 });
    await publishAcked(pub, 'exp/long', 'long', { retain: true, properties: { messageExpiryInterval: 3600 } });
    publish(pub, 'exp/q0', 'q0', 0, { retain: true });
    await publishAcked(pub, 'exp/sync', 'sync', { retain: true });
    const { client: sub } = await h.connect({ version: 5 });
    await subscribe(sub, 'exp/#', 2);
    const long = await receive(sub);
    expect(long.qos).toBe(1);
    expect(long.properties?.messageExpiryInterval).toBeGreaterThan(3590);
    expect(long.properties?.messageExpiryInterval).toBeLessThanOrEqual(3600);
    const q0 = await receive(sub);
    expect(q0).toMatchObject({ topic: 'exp/q0', qos: 0 });
    expect((await receive(sub)).topic).toBe('exp/sync');
  });

  it('[MQTT-3.3.2-5] does not send a retained message whose expiry has passed', async () => {
    const h = await start();
    const { client: pub } = await h.connect({ version: 5 });
    await publishAcked(pub, 'ttl/a', 'short', { retain: true, properties: { messageExpiryInterval: 1 } });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await publishAcked(pub, 'ttl/b', 'fresh', { retain: true });
    const { client: sub } = await h.connect({ version: 5 });
    await subscribe(sub, 'ttl/#', 1);
    expect((await receive(sub)).topic).toBe('ttl/b');
  });

  it('[MQTT-4.7.2-1] does not match retained $ topics with a first-level wildcard', async () => {
    const h = await start();
    const { client: pub } = await h.connect({ version: 4 });
    // Clients may not publish to $ topics; a retained one may come from elsewhere (e.g. a bridge).
    await h.retained.set('$internal/x', Buffer.from('hidden'), []);
    await publishAcked(pub, 'visible/x', 'seen', { retain: true });
    const { client: sub } = await h.connect({ version: 4 });
    await subscribe(sub, '#', 0);
    expect((await sub.next('publish')).topic).toBe('visible/x');
    await subscribe(sub, '$internal/#', 0);
    expect((await sub.next('publish')).topic).toBe('$internal/x');
  });
});

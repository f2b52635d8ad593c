import { afterEach, describe, expect, it } from 'vitest';
import { Reason } from '../../src/index.js';
import { type Harness, startHarness } from '../helpers/harness.js';
import type { TestClient } from '../helpers/mqtt-test-client.js';
import { publish, subscribe } from '../helpers/packets.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function start(options: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  harness = await startHarness(options);
  return harness;
}

const will = (topic: string, delay?: number) => ({
  topic,
  payload: Buffer.from('gone'),
  qos: 1 as const,
  retain: false,
  ...(delay !== undefined && { properties: { willDelayInterval: delay } }),
});

/** A watcher of `will/#` and `probe`; `next()` says which came first. */
async function watcher(h: Harness): Promise<{ client: TestClient; next(): Promise<string> }> {
  const { client } = await h.connect({ version: 4 });
  await subscribe(client, [{ topic: 'will/#' }, { topic: 'probe' }], 1);
  return {
    client,
    async next() {
      const packet = await client.next('publish', 5_000);
      if (packet.qos > 0) client.send({ cmd: 'puback', messageId: packet.messageId! });
      return packet.topic;
    },
  };
}

async function probe(h: Harness): Promise<void> {
  const { client } = await h.connect({ version: 4 });
  publish(client, 'probe', 'p', 1);
  await client.next('puback');
}

describe('Will Messages', () => {
  it('[MQTT-3.1.2-8] is published when the keep alive expires', async () => {
    const h = await start();
    const w = await watcher(h);
    await h.connect({ version: 5, keepalive: 1, will: will('will/keepalive') });
    expect(await w.next()).toBe('will/keepalive');
  });

  it('[MQTT-3.1.2-10] is published after DISCONNECT 0x04 (disconnect with Will Message)', async () => {
    const h = await start();
    const w = await watcher(h);
    const { client } = await h.connect({ version: 5, will: will('will/0x04') });
    client.send({ cmd: 'disconnect', reasonCode: Reason.DisconnectWithWill });
    expect(await w.next()).toBe('will/0x04');
  });

  it('MQTT 5 Will Delay Interval: published when the delay is over, not at once', async () => {
    const h = await start();
    const w = await watcher(h);
    const { client } = await h.connect({
      version: 5,
      clientId: 'delayed',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
      will: will('will/delayed', 1),
    });
    client.stream.destroy();
    await probe(h);
    expect(await w.next()).toBe('probe');
    expect(await w.next()).toBe('will/delayed');
  });

  it('[MQTT-3.1.3-9] a reconnect within the Will Delay Interval cancels the Will', async () => {
    const h = await start();
    const w = await watcher(h);
    const options = { version: 5 as const, clientId: 'back', clean: false, properties: { sessionExpiryInterval: 60 } };
    const { client } = await h.connect({ ...options, will: will('will/cancelled', 1) });
    client.stream.destroy();
    await client.closed;
    await h.connect(options);
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    await probe(h);
    expect(await w.next()).toBe('probe');
  });

  it('MQTT 5 §3.1.2.5: the Will is published at once when the session ends before the delay (Session Expiry 0)', async () => {
    const h = await start();
    const w = await watcher(h);
    const { client } = await h.connect({ version: 5, will: will('will/session-ended', 30) });
    client.stream.destroy();
    expect(await w.next()).toBe('will/session-ended');
  });

  it('a new session (Clean Start 1) ends the old one: its pending Will is published then', async () => {
    const h = await start();
    const w = await watcher(h);
    const options = { version: 5 as const, clientId: 'restart', properties: { sessionExpiryInterval: 60 } };
    const { client } = await h.connect({ ...options, clean: false, will: will('will/restart', 30) });
    client.stream.destroy();
    await client.closed;
    await h.connect({ ...options, clean: true });
    expect(await w.next()).toBe('will/restart');
  });

  it('a retained Will becomes the retained message of its topic', async () => {
    const h = await start();
    const { client } = await h.connect({ version: 5, will: { ...will('will/retained'), retain: true } });
    client.stream.destroy();
    await client.closed;
    const later = await watcher(h);
    expect(await later.next()).toBe('will/retained');
  });

  it('MQTT 5 §3.1.3.2.3: refuses a Will whose UTF-8 payload is not UTF-8 (0x99)', async () => {
    const h = await start();
    const { connack } = await h.connect({
      version: 5,
      will: {
        topic: 'will/bad',
        payload: Buffer.from([0xff, 0xfe]),
        qos: 0,
        retain: false,
        properties: { payloadFormatIndicator: true },
      },
    });
    expect(connack.reasonCode).toBe(Reason.PayloadFormatInvalid);
  });
});

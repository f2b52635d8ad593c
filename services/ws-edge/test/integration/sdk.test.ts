// The client SDK (@protomesh/ws-client) in Node with `ws`, against real ws-edge replicas on NATS.

import { type NatsServerHandle, startNatsServer, uniqueName, waitFor } from '@protomesh/test-support';
import { type Message, ProtomeshClient } from '@protomesh/ws-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Replicas } from '../support/replicas.js';

let nats: NatsServerHandle;
let replicas: Replicas;
const clients: ProtomeshClient[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  replicas = new Replicas(nats.url);
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await replicas.close();
});

afterAll(async () => {
  await nats?.stop();
});

function sdk(url: string | string[], options: Partial<ConstructorParameters<typeof ProtomeshClient>[0]> = {}) {
  const client = new ProtomeshClient({
    url,
    WebSocket: WebSocket as never,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    ...options,
  });
  clients.push(client);
  return client;
}

describe('@protomesh/ws-client against ws-edge', () => {
  it('connects, subscribes, publishes text, bytes and JSON with acks, and receives them byte-exact', async () => {
    const mesh = await replicas.start(uniqueName());
    const client = sdk(replicas.url(mesh));
    const opened: unknown[] = [];
    client.on('open', (event) => opened.push(event));
    await client.connect();
    expect(opened).toEqual([{ connection: expect.any(String), reconnected: false }]);
    const received: Message[] = [];
    const sub = client.subscribe('sdk/#', { onMessage: (m) => received.push(m) });
    expect(await sub.ready).toEqual({ seq: 0, recovered: undefined });

    const bytes = new Uint8Array([0, 0xff, 0xc3, 0x28, 7]);
    const text = await client.publish('sdk/text', 'grüße', { qos: 1 });
    expect(text).toEqual({ seq: 1, duplicate: false });
    expect(await client.publish('sdk/bin', bytes, { qos: 1, contentType: 'application/x-bin' })).toEqual({
      seq: 2,
      duplicate: false,
    });
    expect(await client.publishJson('sdk/json', { n: 1 })).toEqual({ seq: undefined, duplicate: false });
    await waitFor(() => received.length === 3, 'three messages');
    expect(received.map((m) => [m.topic, m.qos, m.seq, m.contentType])).toEqual([
      ['sdk/text', 1, 1, undefined],
      ['sdk/bin', 1, 2, 'application/x-bin'],
      ['sdk/json', 0, undefined, 'application/json'],
    ]);
    expect(received[0]!.text()).toBe('grüße');
    expect([...received[1]!.payload]).toEqual([...bytes]);
    expect(received[2]!.json()).toEqual({ n: 1 });
    expect(sub.position).toBe(2);

    // A refused filter rejects `ready`.
    await expect(client.subscribe('bad/#/filter').ready).rejects.toMatchObject({ code: 'PM_WS_FILTER_INVALID' });
    await client.close();
    expect(client.state).toBe('closed');
    await expect(client.publish('sdk/x', 'late')).rejects.toMatchObject({ code: 'PM_WS_CLIENT_CLOSED' });
  });

  it('acks messages of an acknowledged subscription, which are otherwise redelivered', async () => {
    const mesh = await replicas.start(uniqueName(), { WS_ACK_WAIT: '300ms' });
    const client = sdk(replicas.url(mesh));
    await client.connect();
    const seen: Array<[number | undefined, number | undefined]> = [];
    const sub = client.subscribe('task', {
      ack: true,
      onMessage: (m) => {
        seen.push([m.seq, m.redelivered]);
        if (m.redelivered !== undefined) m.ack(); // ack only on the second delivery
      },
    });
    await sub.ready;
    const { seq } = await client.publish('task', 'do', { qos: 1 });
    await waitFor(() => seen.length === 2, 'a delivery and a redelivery');
    expect(seen).toEqual([
      [seq, undefined],
      [seq, 2],
    ]);
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(seen).toHaveLength(2);
  });

  it('times out a publish that gets no ack', async () => {
    const client = sdk('ws://127.0.0.1:9/ws', { reconnect: { initialDelayMs: 50, maxDelayMs: 50 } });
    void client.connect().catch(() => undefined);
    await expect(client.publish('t', 'x', { qos: 1, timeoutMs: 200 })).rejects.toMatchObject({
      code: 'PM_WS_CLIENT_TIMEOUT',
    });
    await expect(client.publish('t', 'x')).rejects.toMatchObject({ code: 'PM_WS_CLIENT_CLOSED' });
  });

  it('reconnects to another replica when one stops (1012) and recovers without gap or duplicate', async () => {
    const prefix = uniqueName();
    const [a, b] = [await replicas.start(prefix), await replicas.start(prefix)];
    const subscriber = sdk([replicas.url(a), replicas.url(b)]);
    const states: string[] = [];
    subscriber.on('close', (event) => states.push(`close ${event.code} ${event.reconnect}`));
    subscriber.on('open', (event) => states.push(`open ${event.reconnected}`));
    await subscriber.connect();
    const received: number[] = [];
    const sub = subscriber.subscribe('stream/#', { onMessage: (m) => received.push(Number(m.text())) });
    await sub.ready;

    // A publisher on replica b keeps publishing QoS 1 while replica a (the subscriber's) stops.
    const publisher = sdk(replicas.url(b));
    await publisher.connect();
    const total = 300;
    let stopped: Promise<void> | undefined;
    for (let n = 0; n < total; n++) {
      await publisher.publish(`stream/${n % 3}`, String(n), { qos: 1 });
      if (n === 100) stopped = replicas.stop(a);
    }
    await stopped;
    await waitFor(() => received.length >= total, `all ${total} messages`, 20_000);
    expect(received).toEqual(Array.from({ length: total }, (_, n) => n));
    expect(states.slice(0, 3)).toEqual(['open false', 'close 1012 true', 'open true']);
  });

  it('a publishing client that loses its replica retries unacked QoS 1 publishes elsewhere, each stored once', async () => {
    const prefix = uniqueName();
    const [a, b] = [await replicas.start(prefix), await replicas.start(prefix)];
    const watcher = sdk(replicas.url(b));
    await watcher.connect();
    const received: string[] = [];
    await watcher.subscribe('ingest', { onMessage: (m) => received.push(m.text()) }).ready;

    const publisher = sdk([replicas.url(a), replicas.url(b)]);
    await publisher.connect();
    const acks: Array<Promise<unknown>> = [];
    for (let n = 0; n < 200; n++) {
      acks.push(publisher.publish('ingest', `m${n}`, { qos: 1 }));
      if (n === 50) void replicas.stop(a);
    }
    const results = (await Promise.all(acks)) as Array<{ seq: number }>;
    expect(new Set(results.map((r) => r.seq)).size).toBe(200);
    await waitFor(() => received.length >= 200, '200 messages');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect([...received].sort()).toEqual(Array.from({ length: 200 }, (_, n) => `m${n}`).sort());
    expect(received).toHaveLength(200);
  });
});

import { type Backbone, connectNats, meshLayout } from '@protomesh/backbone';
import { type NatsServerHandle, startNatsServer, uniqueName } from '@protomesh/test-support';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Frame, TestClient } from '../support/client.js';
import { Replicas } from '../support/replicas.js';

let nats: NatsServerHandle;
let replicas: Replicas;
let admin: Backbone | undefined;

beforeAll(async () => {
  nats = await startNatsServer();
  replicas = new Replicas(nats.url);
});

afterEach(async () => {
  await replicas.close();
  await admin?.close();
  admin = undefined;
});

afterAll(async () => {
  await nats?.stop();
});

/** Publishes `count` QoS 1 text messages `<tag>-<i>` and returns their seqs (after every ok). */
async function publishMany(client: TestClient, topic: string, tag: string, count: number): Promise<number[]> {
  for (let i = 0; i < count; i++) client.send({ op: 'pub', id: `${tag}-${i}`, topic, qos: 1, text: `${tag}-${i}` });
  const seqs = new Map<string, number>();
  while (seqs.size < count) {
    const frame = await client.next(10_000);
    expect(frame.op).toBe('ok');
    seqs.set(frame.id as string, frame.seq as number);
  }
  return Array.from({ length: count }, (_, i) => seqs.get(`${tag}-${i}`)!);
}

/** Reads `count` msg frames (other frames are returned separately). */
async function messages(client: TestClient, count: number): Promise<{ msgs: Frame[]; others: Frame[] }> {
  const msgs: Frame[] = [];
  const others: Frame[] = [];
  while (msgs.length < count) msgs.push(await client.nextMsg(10_000, others));
  return { msgs, others };
}

describe('idempotent publish (JetStream msgId)', () => {
  it('stores a retried publish once and answers the retry with the original seq, across replicas', async () => {
    const prefix = uniqueName();
    const [a, b] = [await replicas.start(prefix), await replicas.start(prefix)];
    const subscriber = await replicas.client(b);
    expect(await subscriber.request({ op: 'sub', id: 's', filter: 'orders/#' })).toMatchObject({ op: 'ok' });

    const first = await replicas.client(a);
    expect(await first.request({ op: 'connect', id: 'c', client: 'shop-1' })).toMatchObject({
      op: 'ok',
      client: 'shop-1',
    });
    const ok = await first.request({ op: 'pub', id: 1, topic: 'orders/9', qos: 1, text: 'pay', msgId: 'order-9' });
    expect(ok).toEqual({ op: 'ok', id: 1, seq: expect.any(Number) });
    await first.close();

    // The client lost the ok, reconnects to the other replica and retries with the same ids.
    const retry = await replicas.client(b);
    await retry.request({ op: 'connect', id: 'c', client: 'shop-1' });
    expect(await retry.request({ op: 'pub', id: 2, topic: 'orders/9', qos: 1, text: 'pay', msgId: 'order-9' })).toEqual(
      {
        op: 'ok',
        id: 2,
        seq: ok.seq,
        duplicate: true,
      },
    );
    // Another client with the same msgId is a different message.
    const other = await replicas.client(b);
    await other.request({ op: 'connect', id: 'c', client: 'shop-2' });
    const distinct = await other.request({
      op: 'pub',
      id: 3,
      topic: 'orders/9',
      qos: 1,
      text: 'pay',
      msgId: 'order-9',
    });
    expect(distinct.duplicate).toBeUndefined();
    expect(distinct.seq).toBe((ok.seq as number) + 1);

    const { msgs } = await messages(subscriber, 2);
    expect(msgs.map((m) => m.seq)).toEqual([ok.seq, distinct.seq]);
    expect(await subscriber.barrier()).toEqual([]);
  });
});

describe('delivery with offsets and recovery', () => {
  it('gives every live QoS 1 delivery its stream position, equal to the publisher ok seq', async () => {
    const prefix = uniqueName();
    const [a, b] = [await replicas.start(prefix), await replicas.start(prefix)];
    const subscriber = await replicas.client(a);
    const subOk = await subscriber.request({ op: 'sub', id: 's', filter: 'pos/+' });
    expect(subOk).toEqual({ op: 'ok', id: 's', seq: 0 });
    const publisher = await replicas.client(b);
    const seqs = await publishMany(publisher, 'pos/1', 'm', 20);
    const { msgs } = await messages(subscriber, 20);
    expect(msgs.map((m) => m.seq)).toEqual(seqs);
    expect(msgs.every((m) => m.sub === 'pos/+' && m.qos === 1)).toBe(true);
    // QoS 0 carries no position.
    publisher.send({ op: 'pub', topic: 'pos/2', text: 'q0' });
    const q0 = await subscriber.nextMsg();
    expect(q0).toMatchObject({ qos: 0, text: 'q0' });
    expect(q0.seq).toBeUndefined();
  });

  it('resubscribing on another replica with the last position delivers exactly the missed messages, then live ones', async () => {
    const prefix = uniqueName();
    const [a, b] = [await replicas.start(prefix), await replicas.start(prefix)];
    const publisher = await replicas.client(b);
    // Traffic on other topics interleaves in the stream (positions are not contiguous per filter).
    const noise = await replicas.client(b);

    const first = await replicas.client(a);
    expect(await first.request({ op: 'sub', id: 's', filter: 'room/#' })).toMatchObject({ op: 'ok', seq: 0 });
    await publishMany(publisher, 'room/1', 'before', 10);
    const seen = (await messages(first, 10)).msgs;
    expect(seen.map((m) => m.text)).toEqual(Array.from({ length: 10 }, (_, i) => `before-${i}`));
    const last = seen[9]!.seq as number;
    await first.close();

    // While disconnected: missed messages on the parent topic and below (`#` includes the parent), and noise.
    await publishMany(noise, 'elsewhere', 'noise', 5);
    await publishMany(publisher, 'room', 'missed-parent', 3);
    await publishMany(publisher, 'room/2/x', 'missed-child', 4);

    // Reconnect to the other replica while new messages keep flowing.
    const second = await replicas.client(b);
    second.send({ op: 'sub', id: 'again', filter: 'room/#', since: last });
    const live = publishMany(publisher, 'room/1', 'during', 20);
    await live;
    const frames = await second.until((frame) => frame.id === 'again', 10_000);
    const ok = frames.at(-1)!;
    expect(ok).toMatchObject({ op: 'ok', id: 'again', recovered: true });
    const received = frames.filter((f) => f.op === 'msg');
    while (received.length < 27) received.push(await second.nextMsg(10_000));
    expect(received.map((m) => m.text)).toEqual([
      ...Array.from({ length: 3 }, (_, i) => `missed-parent-${i}`),
      ...Array.from({ length: 4 }, (_, i) => `missed-child-${i}`),
      ...Array.from({ length: 20 }, (_, i) => `during-${i}`),
    ]);
    const seqs = received.map((m) => m.seq as number);
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    expect(seqs[0]).toBeGreaterThan(last);
    expect(await second.barrier()).toEqual([]);
  });

  it('answers recovered: false when the position is no longer retained, and continues live', async () => {
    const prefix = uniqueName();
    const a = await replicas.start(prefix);
    const publisher = await replicas.client(a);
    const seqs = await publishMany(publisher, 'gone/1', 'old', 5);
    admin = await connectNats({ servers: nats.url });
    const stream = meshLayout(prefix).streams.ws.name;
    await admin.purge(stream, `${prefix}.ws.1.>`);

    const subscriber = await replicas.client(a);
    const ok = await subscriber.request({ op: 'sub', id: 's', filter: 'gone/#', since: seqs[1]! });
    expect(ok).toMatchObject({ op: 'ok', id: 's', recovered: false });
    expect(ok.seq).toBeGreaterThanOrEqual(seqs[4]!);
    const [fresh] = await publishMany(publisher, 'gone/1', 'new', 1);
    expect(await subscriber.nextMsg()).toMatchObject({ text: 'new-0', seq: fresh });

    // A position beyond the stream's end (a new stream) cannot be recovered either.
    const ahead = await replicas.client(a);
    expect(await ahead.request({ op: 'sub', id: 't', filter: 'gone/#', since: 1_000_000 })).toMatchObject({
      recovered: false,
    });
    // Recovering from the current end is trivially complete.
    const current = await replicas.client(a);
    expect(await current.request({ op: 'sub', id: 'u', filter: 'gone/#', since: fresh! })).toMatchObject({
      recovered: true,
      seq: fresh,
    });
  });
});

describe('retained messages', () => {
  it('stores a retained publish, delivers it on subscribe with retained: true, and clears it with an empty payload', async () => {
    const prefix = uniqueName();
    const [a, b] = [await replicas.start(prefix), await replicas.start(prefix)];
    const publisher = await replicas.client(a);
    expect(
      await publisher.request({ op: 'pub', id: 1, topic: 'dev/1/state', qos: 1, retain: true, data: { on: true } }),
    ).toMatchObject({ op: 'ok' });
    await publisher.request({ op: 'pub', id: 2, topic: 'dev/2/state', retain: true, text: 'off' });
    await publisher.request({ op: 'pub', id: 3, topic: 'dev/1/state', qos: 1, retain: true, data: { on: false } });

    const subscriber = await replicas.client(b);
    subscriber.send({ op: 'sub', id: 'r', filter: 'dev/+/state', retained: true });
    const withRetained = await subscriber.until((frame) => frame.id === 'r');
    expect(withRetained.slice(0, -1)).toEqual([
      { op: 'msg', sub: 'dev/+/state', topic: 'dev/2/state', qos: 0, text: 'off', retain: true, origin: 'ws' },
      {
        op: 'msg',
        sub: 'dev/+/state',
        topic: 'dev/1/state',
        qos: 1,
        text: '{"on":false}',
        contentType: 'application/json',
        retain: true,
        origin: 'ws',
      },
    ]);

    await publisher.request({ op: 'pub', id: 4, topic: 'dev/2/state', retain: true, text: '' });
    const later = await replicas.client(a);
    later.send({ op: 'sub', id: 'r2', filter: 'dev/#', retained: true });
    const rest = await later.until((frame) => frame.id === 'r2');
    expect(rest.filter((f) => f.op === 'msg').map((f) => f.topic)).toEqual(['dev/1/state']);
  });
});

describe('acknowledged subscriptions', () => {
  it('redelivers until acked, with at most `window` in flight [at-least-once]', async () => {
    const prefix = uniqueName();
    const [a, b] = [
      await replicas.start(prefix, { WS_ACK_WAIT: '400ms' }),
      await replicas.start(prefix, { WS_ACK_WAIT: '400ms' }),
    ];
    const consumer = await replicas.client(a);
    const ok = await consumer.request({ op: 'sub', id: 's', filter: 'jobs/#', ack: true, window: 2 });
    expect(ok).toMatchObject({ op: 'ok', id: 's' });
    const publisher = await replicas.client(b);
    const seqs = await publishMany(publisher, 'jobs/1', 'job', 5);

    // Two in flight; unacked, they come back after the ack wait.
    const firstTwo = (await messages(consumer, 2)).msgs;
    expect(firstTwo.map((m) => m.seq)).toEqual(seqs.slice(0, 2));
    expect(firstTwo[0]).toMatchObject({ ack: true, sub: 'jobs/#', qos: 1 });
    const again = (await messages(consumer, 2)).msgs;
    expect(again.map((m) => [m.seq, m.redelivered])).toEqual([
      [seqs[0], 2],
      [seqs[1], 2],
    ]);

    // Acking frees the window: the rest arrive; everything acked stops redelivery.
    const delivered = new Map<number, number>();
    for (const m of [...firstTwo, ...again]) delivered.set(m.seq as number, (delivered.get(m.seq as number) ?? 0) + 1);
    for (const seq of seqs.slice(0, 2)) consumer.send({ op: 'ack', sub: 'jobs/#', seq });
    const acked = new Set(seqs.slice(0, 2));
    while (acked.size < 5) {
      const m = await consumer.nextMsg(5_000);
      if (!acked.has(m.seq as number)) {
        consumer.send({ op: 'ack', sub: 'jobs/#', seq: m.seq });
        acked.add(m.seq as number);
      }
    }
    expect([...acked].sort((x, y) => x - y)).toEqual(seqs);
    // Nothing comes back once all are acked (wait longer than the ack wait).
    await new Promise((resolve) => setTimeout(resolve, 900));
    expect((await consumer.barrier()).filter((f) => f.op === 'msg' && !acked.has(f.seq as number))).toEqual([]);
    const leftovers = (await consumer.barrier()).filter((f) => f.op === 'msg');
    expect(leftovers).toEqual([]);

    // Acking on a filter without acks is an error.
    expect(await consumer.request({ op: 'ack', id: 'x', sub: 'nope', seq: 1 })).toMatchObject({
      code: 'PM_WS_NOT_SUBSCRIBED',
    });
  });

  it('resumes an acked subscription from since on another replica after a disconnect', async () => {
    const prefix = uniqueName();
    const [a, b] = [await replicas.start(prefix), await replicas.start(prefix)];
    const publisher = await replicas.client(b);
    const first = await replicas.client(a);
    const ok = await first.request({ op: 'sub', id: 's', filter: 'work', ack: true });
    const seqs = await publishMany(publisher, 'work', 'w', 6);
    const got = (await messages(first, 6)).msgs;
    for (const m of got.slice(0, 3)) first.send({ op: 'ack', sub: 'work', seq: m.seq });
    await first.barrier();
    await first.close();

    const second = await replicas.client(b);
    const resumed = await second.request({ op: 'sub', id: 's', filter: 'work', ack: true, since: seqs[2]! });
    expect(resumed).toMatchObject({ op: 'ok', recovered: true, seq: seqs[2] });
    expect(ok.seq).toBeLessThan(seqs[0]!);
    const rest = (await messages(second, 3)).msgs;
    expect(rest.map((m) => m.text)).toEqual(['w-3', 'w-4', 'w-5']);
  });
});

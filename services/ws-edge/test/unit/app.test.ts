import { randomBytes } from 'node:crypto';
import type { Backbone } from '@protomesh/backbone';
import { decodeMeta } from '@protomesh/envelope';
import { sleep, waitFor } from '@protomesh/test-support';
import { topicToSubject } from '@protomesh/topic-map';
import { MAX_REJECTED_REQUESTS } from '@protomesh/ws-edge';
import { afterEach, describe, expect, it } from 'vitest';
import type { Frame } from '../support/client.js';
import { type EdgeFixture, edgeFixture, type FixtureOptions, gatedAppend, wrapBackbone } from '../support/edge.js';

let fixture: EdgeFixture | undefined;

async function start(options?: FixtureOptions): Promise<EdgeFixture> {
  fixture = await edgeFixture(options);
  return fixture;
}

afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

async function subscribed(edge: EdgeFixture, ...filters: string[]) {
  const client = await edge.connect();
  for (const [i, filter] of filters.entries()) {
    expect(await client.request({ op: 'sub', id: `s${i}`, filter })).toMatchObject({ op: 'ok', id: `s${i}` });
  }
  return client;
}

describe('sub, unsub and pub', () => {
  it('delivers a QoS 0 publish to a matching subscriber and acknowledges it', async () => {
    const edge = await start();
    const subscriber = await subscribed(edge, 'sensors/+/temp');
    const publisher = await edge.connect();
    expect(await publisher.request({ op: 'pub', id: 1, topic: 'sensors/7/temp', text: '21.5' })).toEqual({
      op: 'ok',
      id: 1,
    });
    expect(await subscriber.next()).toEqual({
      op: 'msg',
      sub: 'sensors/+/temp',
      topic: 'sensors/7/temp',
      qos: 0,
      text: '21.5',
      origin: 'ws',
    });
  });

  it('stores a QoS 1 publish in the ws stream and returns its sequence in the ok', async () => {
    const edge = await start();
    const subscriber = await subscribed(edge, 'sensors/#');
    const publisher = await edge.connect();
    expect(await publisher.request({ op: 'pub', id: 'a', topic: 'sensors/1/temp', qos: 1, text: 'x' })).toEqual({
      op: 'ok',
      id: 'a',
      seq: 1,
    });
    expect(await publisher.request({ op: 'pub', id: 'b', topic: 'sensors/1/temp', qos: 1, text: 'y' })).toEqual({
      op: 'ok',
      id: 'b',
      seq: 2,
    });
    expect(await subscriber.next()).toMatchObject({ op: 'msg', topic: 'sensors/1/temp', qos: 1, text: 'x' });
    expect(await subscriber.next()).toMatchObject({ text: 'y' });

    const stored = await edge.backbone.getMessage(edge.layout.streams.ws.name, 1);
    expect(stored?.subject).toBe(topicToSubject({ prefix: edge.config.prefix, tier: 'ws' }, 'sensors/1/temp', '1'));
    expect(decodeMeta(stored?.headers)).toMatchObject({ originTier: 'ws', qos: 1, payloadFormat: 1 });
    expect(decodeMeta(stored?.headers).originClient).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('sends the QoS 1 ok only after the backbone append resolved', async () => {
    let gate: ReturnType<typeof gatedAppend> | undefined;
    const edge = await start({
      wrap: (backbone) => {
        gate = gatedAppend(backbone);
        return gate.backbone;
      },
    });
    const publisher = await edge.connect();
    publisher.send({ op: 'pub', id: 'q1', topic: 'a/b', qos: 1, text: 'held' });
    // Requests after it are answered while the append waits.
    expect(await publisher.request({ op: 'ping', id: 'p' })).toEqual({ op: 'pong', id: 'p' });
    await waitFor(() => gate!.waiting === 1, 'append to be waiting');
    await sleep(20);
    expect(publisher.pending).toBe(0);
    expect((await edge.backbone.streamState(edge.layout.streams.ws.name))?.lastSeq).toBe(0);
    gate!.release();
    expect(await publisher.next()).toEqual({ op: 'ok', id: 'q1', seq: 1 });
  });

  it('answers PM_WS_PUBLISH_FAILED when the backbone does not store the message, and stays open', async () => {
    const edge = await start({
      wrap: (backbone) =>
        wrapBackbone(backbone, {
          append: async () => {
            throw new Error('stream unavailable');
          },
        }),
    });
    const publisher = await edge.connect();
    const reply = await publisher.request({ op: 'pub', id: 9, topic: 'a', qos: 1, text: 'x' });
    expect(reply).toMatchObject({ op: 'error', id: 9, code: 'PM_WS_PUBLISH_FAILED' });
    expect(String(reply.message)).toContain('stream unavailable');
    publisher.send({ op: 'pub', topic: 'a', qos: 1, text: 'no id' });
    expect(await publisher.next()).toMatchObject({ op: 'error', code: 'PM_WS_PUBLISH_FAILED' });
    expect(await publisher.request({ op: 'ping', id: 1 })).toEqual({ op: 'pong', id: 1 });
  });

  it('stops delivering after unsub, and keeps a subject shared by another filter', async () => {
    const edge = await start();
    const subscriber = await subscribed(edge, 'a', 'a/#', 'b/+');
    expect(await subscriber.request({ op: 'unsub', id: 'u1', filter: 'a' })).toEqual({ op: 'ok', id: 'u1' });
    expect(await subscriber.request({ op: 'unsub', id: 'u2', filter: 'b/+' })).toEqual({ op: 'ok', id: 'u2' });
    // Unsubscribing what is not subscribed is fine.
    expect(await subscriber.request({ op: 'unsub', id: 'u3', filter: 'never/subscribed' })).toEqual({
      op: 'ok',
      id: 'u3',
    });
    const publisher = await edge.connect();
    publisher.send({ op: 'pub', topic: 'b/1', text: 'gone' });
    publisher.send({ op: 'pub', topic: 'a', text: 'still' });
    expect(await subscriber.next()).toMatchObject({ op: 'msg', topic: 'a', text: 'still' });
    await sleep(50);
    expect(subscriber.pending).toBe(0);
  });

  it('treats a repeated sub as a no-op and delivers each message once', async () => {
    const edge = await start();
    const subscriber = await subscribed(edge, 'x/y', 'x/y');
    const publisher = await edge.connect();
    publisher.send({ op: 'pub', topic: 'x/y', text: '1' });
    expect(await subscriber.next()).toMatchObject({ text: '1' });
    await sleep(50);
    expect(subscriber.pending).toBe(0);
    // One unsub removes it.
    expect(await subscriber.request({ op: 'unsub', id: 'u', filter: 'x/y' })).toEqual({ op: 'ok', id: 'u' });
    publisher.send({ op: 'pub', topic: 'x/y', text: '2' });
    await sleep(50);
    expect(subscriber.pending).toBe(0);
  });

  it('sends no ok for requests without an id', async () => {
    const edge = await start();
    const client = await edge.connect();
    client.send({ op: 'sub', filter: 'a' });
    client.send({ op: 'pub', topic: 'other', text: 'x' });
    expect(await client.request({ op: 'ping', id: 'p' })).toEqual({ op: 'pong', id: 'p' });
    expect(await client.request({ op: 'ping' })).toEqual({ op: 'pong' });
  });
});

describe('payloads', () => {
  async function roundTrip(
    edge: EdgeFixture,
    request: Record<string, unknown>,
  ): Promise<{ frame: Frame; stored: Uint8Array }> {
    const topic = `p/${Math.random().toString(36).slice(2)}`;
    const subscriber = await subscribed(edge, topic);
    const publisher = await edge.connect();
    const ok = await publisher.request({ op: 'pub', id: 1, topic, qos: 1, ...request });
    expect(ok).toMatchObject({ op: 'ok', id: 1 });
    const stored = await edge.backbone.getMessage(edge.layout.streams.ws.name, ok.seq as number);
    return { frame: await subscriber.next(), stored: stored!.payload };
  }

  it('round-trips text byte-exact, a leading BOM and astral characters included', async () => {
    const edge = await start();
    const text = '\uFEFF温度 🌡️ 21.5\n\u0000end';
    const { frame, stored } = await roundTrip(edge, { text });
    expect(frame).toMatchObject({ text, qos: 1 });
    expect(frame.b64).toBeUndefined();
    expect(Buffer.from(stored)).toEqual(Buffer.from(text, 'utf8'));
  });

  it('round-trips binary as b64 byte-exact', async () => {
    const edge = await start();
    const bytes = Buffer.concat([Buffer.from([0xff, 0xfe, 0xc3, 0x28]), randomBytes(1000)]);
    const { frame, stored } = await roundTrip(edge, {
      b64: bytes.toString('base64'),
      contentType: 'application/octet-stream',
    });
    expect(frame.text).toBeUndefined();
    expect(Buffer.from(frame.b64 as string, 'base64')).toEqual(bytes);
    expect(frame.contentType).toBe('application/octet-stream');
    expect(Buffer.from(stored)).toEqual(bytes);
  });

  it('delivers b64 that is valid UTF-8 as text with the same bytes', async () => {
    const edge = await start();
    const bytes = Buffer.from('plain ✓', 'utf8');
    const { frame } = await roundTrip(edge, { b64: bytes.toString('base64') });
    expect(Buffer.from(frame.text as string, 'utf8')).toEqual(bytes);
  });

  it('serializes data with JSON.stringify and labels it application/json', async () => {
    const edge = await start();
    const data = { on: true, level: 3.5, tags: ['a', null], nested: { s: 'é' } };
    const { frame, stored } = await roundTrip(edge, { data });
    expect(frame.contentType).toBe('application/json');
    expect(JSON.parse(frame.text as string)).toEqual(data);
    expect(Buffer.from(stored).toString()).toBe(JSON.stringify(data));
  });

  it('carries an empty payload and the content type; live deliveries carry no retain flag [MQTT-3.3.1-9]', async () => {
    const edge = await start();
    const { frame, stored } = await roundTrip(edge, { text: '', contentType: 'text/plain' });
    expect(frame).toMatchObject({ text: '', contentType: 'text/plain', origin: 'ws' });
    expect(frame.retain).toBeUndefined();
    expect(stored.byteLength).toBe(0);
  });
});

describe('bad input', () => {
  it('answers a malformed frame with an error and closes on the second with 4400', async () => {
    const edge = await start();
    const client = await edge.connect();
    client.sendRaw('{not json');
    expect(await client.next()).toMatchObject({ op: 'error', code: 'PM_WS_MALFORMED_FRAME' });
    // Still usable after the first.
    expect(await client.request({ op: 'ping', id: 1 })).toEqual({ op: 'pong', id: 1 });
    client.sendRaw('[1,2,3]');
    expect(await client.next()).toMatchObject({ op: 'error', code: 'PM_WS_MALFORMED_FRAME' });
    const closed = await client.closed;
    expect(closed.code).toBe(4400);
    expect(closed.reason).toContain('PM_WS_MALFORMED_FRAME');
    const metrics = await edge.metrics.render();
    expect(metrics).toMatch(/protomesh_protocol_errors_total\{[^}]*code="PM_WS_MALFORMED_FRAME"[^}]*\} 1/);
    expect(metrics).toMatch(/protomesh_ws_request_errors_total\{[^}]*code="PM_WS_MALFORMED_FRAME"[^}]*\} 2/);
  });

  it('counts unknown ops and bad requests toward the same limit', async () => {
    const edge = await start();
    const client = await edge.connect();
    expect(await client.request({ op: 'subscribe', id: 1 })).toMatchObject({
      op: 'error',
      id: 1,
      code: 'PM_WS_UNKNOWN_OP',
    });
    expect(await client.request({ op: 'pub', id: 2, topic: 'a', qos: 2, text: 'x' })).toMatchObject({
      op: 'error',
      id: 2,
      code: 'PM_WS_BAD_REQUEST',
      message: 'qos: expected 0 or 1',
    });
    expect((await client.closed).code).toBe(4400);
  });

  it('rejects a binary frame that breaks the binary form as malformed', async () => {
    const edge = await start();
    const client = await edge.connect();
    client.sendRaw(Buffer.from('{"op":"ping"}'), true);
    const reply = await client.next();
    expect(reply).toMatchObject({ op: 'error', code: 'PM_WS_MALFORMED_FRAME' });
    expect(String(reply.message)).toContain('binary frame');
  });

  it('answers invalid topics and filters with errors; the connection stays open below the limit', async () => {
    const edge = await start();
    const client = await edge.connect();
    for (const topic of ['', 'a/+', 'a/#', 'nul\u0000']) {
      expect(await client.request({ op: 'pub', id: topic, topic, text: 'x' })).toMatchObject({
        op: 'error',
        id: topic,
        code: 'PM_WS_TOPIC_INVALID',
      });
    }
    for (const filter of ['', 'a/#/b', 'a+', '$share/g/a']) {
      expect(await client.request({ op: 'sub', id: filter, filter })).toMatchObject({
        op: 'error',
        id: filter,
        code: 'PM_WS_FILTER_INVALID',
      });
    }
    expect(await client.request({ op: 'unsub', id: 'u', filter: 'a/#/b' })).toMatchObject({
      code: 'PM_WS_FILTER_INVALID',
    });
    expect(await client.request({ op: 'ping', id: 'alive' })).toEqual({ op: 'pong', id: 'alive' });
  });

  it('closes a repeat offender with 4400 after MAX_REJECTED_REQUESTS refused requests', async () => {
    const edge = await start();
    const bystander = await subscribed(edge, 'ok/#');
    const offender = await edge.connect();
    for (let i = 0; i < MAX_REJECTED_REQUESTS; i++) offender.send({ op: 'sub', id: i, filter: `bad/#/${i}` });
    const closed = await offender.closed;
    expect(closed.code).toBe(4400);
    expect(closed.reason).toContain('PM_WS_FILTER_INVALID: repeated refused requests');
    const publisher = await edge.connect();
    publisher.send({ op: 'pub', topic: 'ok/1', text: 'still here' });
    expect(await bystander.next()).toMatchObject({ text: 'still here' });
  });

  it('rejects a topic whose subject would be too long', async () => {
    const edge = await start();
    const client = await edge.connect();
    const reply = await client.request({ op: 'pub', id: 1, topic: 'x'.repeat(4000), text: '' });
    expect(reply).toMatchObject({ code: 'PM_WS_TOPIC_INVALID' });
    expect(String(reply.message)).toContain('bytes');
  });

  it('closes only the client that sent an oversized frame, with 1009', async () => {
    const edge = await start({ env: { WS_MAX_FRAME_SIZE: '1024' } });
    const bystander = await subscribed(edge, 'big/#');
    const offender = await edge.connect();
    offender.send({ op: 'pub', topic: 'big/1', text: 'x'.repeat(2000) });
    expect((await offender.closed).code).toBe(1009);
    const publisher = await edge.connect();
    publisher.send({ op: 'pub', topic: 'big/2', text: 'x'.repeat(900) });
    expect(await bystander.next()).toMatchObject({ topic: 'big/2' });
    await waitFor(
      async () =>
        /protomesh_protocol_errors_total\{[^}]*code="PM_WS_FRAME_TOO_LARGE"[^}]*\} 1/.test(await edge.metrics.render()),
      'the 1009 close to be counted',
    );
  });

  it('enforces the per-connection subscription limit', async () => {
    const edge = await start({ maxSubscriptions: 2 });
    const client = await subscribed(edge, 'a', 'b');
    expect(await client.request({ op: 'sub', id: 'c', filter: 'c' })).toMatchObject({
      code: 'PM_WS_SUBSCRIPTION_LIMIT',
    });
    expect(await client.request({ op: 'sub', id: 'again', filter: 'a' })).toMatchObject({ op: 'ok', id: 'again' });
    expect(await client.request({ op: 'unsub', id: 'u', filter: 'a' })).toEqual({ op: 'ok', id: 'u' });
    expect(await client.request({ op: 'sub', id: 'c2', filter: 'c' })).toMatchObject({ op: 'ok', id: 'c2' });
  });
});

describe('backpressure', () => {
  it('closes a client that stops reading with 4008, and only that client', async () => {
    const edge = await start({ maxBufferedBytes: 64 * 1024 });
    const slow = await subscribed(edge, 'flood');
    const fast = await subscribed(edge, 'flood');
    slow.ws.pause();
    const publisher = await edge.connect();
    const chunk = 'x'.repeat(16 * 1024);
    // One message at a time, so the reading client never has more than one queued while
    // the paused one piles up 40 × 16 KiB.
    for (let sent = 0; sent < 40; sent++) {
      publisher.send({ op: 'pub', topic: 'flood', text: chunk });
      expect(await fast.next()).toMatchObject({ op: 'msg', topic: 'flood' });
    }
    await waitFor(
      async () => /protomesh_ws_slow_consumers_total\{[^}]*\} 1/.test(await edge.metrics.render()),
      'the slow consumer to be dropped',
    );
    // docs/telemetry.md: the cross-tier counter the dashboard reads, beside the ws one.
    expect(await edge.metrics.render()).toMatch(/protomesh_slow_consumers_dropped_total\{tier="ws"\} 1/);
    slow.ws.resume();
    const closed = await slow.closed;
    expect(closed.code).toBe(4008);
    expect(closed.reason).toContain('PM_WS_SLOW_CONSUMER');
    expect(fast.ws.readyState).toBe(fast.ws.OPEN);
    publisher.send({ op: 'pub', topic: 'flood', text: 'after' });
    expect(await fast.next()).toMatchObject({ text: 'after' });
  });
});

describe('graceful close', () => {
  it('acknowledges in-flight QoS 1 publishes, then closes every client with 1012', async () => {
    let gate: ReturnType<typeof gatedAppend> | undefined;
    const edge = await start({
      wrap: (backbone: Backbone) => {
        gate = gatedAppend(backbone);
        return gate.backbone;
      },
    });
    const publisher = await edge.connect();
    const idle = await edge.connect();
    publisher.send({ op: 'pub', id: 'inflight', topic: 'a', qos: 1, text: 'x' });
    await waitFor(() => gate!.waiting === 1, 'append to be waiting');
    const closing = edge.app.close();
    // A request during the drain is not processed.
    await sleep(20);
    expect(await publisher.request({ op: 'pub', id: 'late', topic: 'a', text: 'y' })).toMatchObject({
      op: 'error',
      id: 'late',
      code: 'PM_WS_SHUTTING_DOWN',
    });
    gate!.release();
    expect(await publisher.next()).toEqual({ op: 'ok', id: 'inflight', seq: 1 });
    const [a, b] = await Promise.all([publisher.closed, idle.closed]);
    expect(a).toEqual({ code: 1012, reason: 'service restart' });
    expect(b.code).toBe(1012);
    await closing;
  });
});

describe('metrics', () => {
  it('counts connections, messages and bytes with tier and qos attributes', async () => {
    const edge = await start();
    const subscriber = await subscribed(edge, 'm/#');
    const publisher = await edge.connect();
    await publisher.request({ op: 'pub', id: 1, topic: 'm/1', qos: 1, text: 'abcd' });
    await subscriber.next();
    const text = await edge.metrics.render();
    expect(text).toContain('protomesh_connections{tier="ws",protocol="ws",version="v1"} 2');
    expect(text).toMatch(/protomesh_messages_in_total\{[^}]*qos="1"[^}]*\} 1/);
    expect(text).toMatch(/protomesh_messages_out_total\{[^}]*qos="1"[^}]*\} 1/);
    expect(text).toMatch(/protomesh_bytes_in_total\{[^}]*tier="ws"[^}]*\} 4/);
    await publisher.close();
    await waitFor(
      async () =>
        (await edge.metrics.render()).includes('protomesh_connections{tier="ws",protocol="ws",version="v1"} 1'),
      'the connection gauge to drop',
    );
  });
});

// Limits that need real sockets: permessage-deflate with a cap on the decompressed size,
// server pings and the idle timeout (RFC 6455 §5.5.2, §7.4).
import { type NatsServerHandle, startNatsServer, uniqueName, waitFor } from '@protomesh/test-support';
import { SUBPROTOCOL } from '@protomesh/ws-edge';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { TestClient } from '../support/client.js';
import { Replicas } from '../support/replicas.js';

let nats: NatsServerHandle;
let replicas: Replicas;
const extra: TestClient[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  replicas = new Replicas(nats.url);
});

afterEach(async () => {
  await Promise.all(extra.splice(0).map((client) => client.close()));
  await replicas.close();
});

afterAll(async () => {
  await nats?.stop();
});

async function open(url: string, options: WebSocket.ClientOptions): Promise<TestClient> {
  const ws = new WebSocket(url, SUBPROTOCOL, options);
  const client = new TestClient(ws);
  extra.push(client);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return client;
}

describe('permessage-deflate (RFC 7692)', () => {
  it('compresses when enabled, and caps the decompressed size with 1009 [RFC 7692 §8.1]', async () => {
    const mesh = await replicas.start(uniqueName(), { WS_COMPRESSION: 'true', WS_MAX_FRAME_SIZE: '64KiB' });
    const url = replicas.url(mesh);
    const subscriber = await open(url, { perMessageDeflate: true });
    expect(subscriber.ws.extensions).toContain('permessage-deflate');
    expect(await subscriber.request({ op: 'sub', id: 1, filter: 'z/#' })).toMatchObject({ op: 'ok' });
    const publisher = await open(url, { perMessageDeflate: true });
    const big = 'a'.repeat(40 * 1024);
    expect(await publisher.request({ op: 'pub', id: 1, topic: 'z/1', text: big })).toEqual({ op: 'ok', id: 1 });
    expect((await subscriber.nextMsg()).text).toBe(big);

    // 1 MiB of zeros compresses to about 1 KiB on the wire, but inflates past the 64 KiB limit.
    const bomb = await open(url, { perMessageDeflate: true });
    bomb.send({ op: 'pub', topic: 'z/2', text: '0'.repeat(1024 * 1024) });
    expect((await bomb.closed).code).toBe(1009);
    // Only the offender is closed.
    publisher.send({ op: 'pub', topic: 'z/3', text: 'after' });
    expect(await subscriber.nextMsg()).toMatchObject({ topic: 'z/3', text: 'after' });
  });

  it('is not negotiated when disabled', async () => {
    const mesh = await replicas.start(uniqueName());
    const client = await open(replicas.url(mesh), { perMessageDeflate: true });
    expect(client.ws.extensions).toBe('');
  });
});

describe('heartbeats', () => {
  it('pings quiet clients, keeps those that answer, closes silent ones with 4408 [RFC 6455 §5.5.2]', async () => {
    const mesh = await replicas.start(uniqueName(), { WS_PING_INTERVAL: '100ms', WS_IDLE_TIMEOUT: '400ms' });
    const url = replicas.url(mesh);
    const lively = await open(url, {});
    let pings = 0;
    lively.ws.on('ping', () => {
      pings += 1;
    });
    const silent = await open(url, { autoPong: false });
    const closed = await silent.closed;
    expect(closed.code).toBe(4408);
    expect(closed.reason).toContain('PM_WS_IDLE_TIMEOUT');
    // The client that answers pings (automatically, as browsers do) is still open.
    await waitFor(() => pings >= 5, 'five pings');
    expect(lively.ws.readyState).toBe(WebSocket.OPEN);
    expect(await lively.request({ op: 'ping', id: 'p' })).toEqual({ op: 'pong', id: 'p' });
  });
});

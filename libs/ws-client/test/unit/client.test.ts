import {
  CLOSE_CODES,
  decodeFrame,
  encodeBinary,
  fromBase64,
  NO_WEBSOCKET,
  ProtomeshClient,
  shouldReconnect,
  toBase64,
  tryText,
  type WebSocketLike,
} from '@protomesh/ws-client';
import { describe, expect, it } from 'vitest';

/** A WebSocket stand-in that records what the client does and closes when told to. */
class FakeSocket implements WebSocketLike {
  static created: FakeSocket[] = [];
  readyState = 0;
  binaryType = 'blob';
  readonly sent: Array<string | Uint8Array> = [];
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { readonly data: unknown }) => void) | null = null;
  onclose: ((event: { readonly code: number; readonly reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  constructor(
    readonly url: string,
    readonly protocols?: string | string[],
  ) {
    FakeSocket.created.push(this);
  }

  send(data: string | Uint8Array): void {
    this.sent.push(data);
  }

  close(code = 1000, reason = ''): void {
    this.drop(code, reason);
  }

  drop(code: number, reason = ''): void {
    this.readyState = 3;
    queueMicrotask(() => this.onclose?.({ code, reason }));
  }
}

describe('frames', () => {
  it('encodes and decodes the binary form (uint32 BE length, JSON header, raw payload)', () => {
    const payload = new Uint8Array([0, 255, 195, 40]);
    const frame = encodeBinary({ op: 'pub', topic: 'a' }, payload);
    expect(new DataView(frame.buffer).getUint32(0)).toBe(JSON.stringify({ op: 'pub', topic: 'a' }).length);
    const decoded = decodeFrame(frame.buffer);
    expect(decoded.fields).toEqual({ op: 'pub', topic: 'a' });
    expect([...decoded.payload!]).toEqual([...payload]);
    expect(decodeFrame('{"op":"ok","id":1}')).toEqual({ fields: { op: 'ok', id: 1 }, payload: undefined });
  });

  it('base64 round-trips any bytes without Buffer; tryText rejects bytes that are not UTF-8', () => {
    const bytes = new Uint8Array(70_000).map((_, i) => (i * 7) % 256);
    expect([...fromBase64(toBase64(bytes))]).toEqual([...bytes]);
    expect(toBase64(new Uint8Array([0xff, 0]))).toBe(Buffer.from([0xff, 0]).toString('base64'));
    expect(tryText(new Uint8Array([0xc3, 0x28]))).toBeUndefined();
    expect(tryText(new TextEncoder().encode('\uFEFFok'))).toBe('\uFEFFok');
  });
});

describe('close codes', () => {
  it('reconnects on restart, slow consumer, idle timeout and dropped connections; stops on final codes', () => {
    expect([1001, 1011, 1012, 4008, 4408, 1006, 1005, 4999].map(shouldReconnect)).toEqual(Array(8).fill(true));
    expect([1000, 1002, 1007, 1009, 4400, 4401].map(shouldReconnect)).toEqual(Array(6).fill(false));
    expect(CLOSE_CODES.map((entry) => entry.code)).toEqual([...CLOSE_CODES.map((entry) => entry.code)].sort());
  });
});

describe('ProtomeshClient', () => {
  it('needs a WebSocket implementation when the platform has none', () => {
    const global = globalThis as { WebSocket?: unknown };
    const saved = global.WebSocket;
    global.WebSocket = undefined;
    try {
      expect(() => new ProtomeshClient({ url: 'ws://x' })).toThrow(expect.objectContaining({ code: NO_WEBSOCKET }));
    } finally {
      global.WebSocket = saved;
    }
  });

  it('reconnects with exponential backoff and jitter, rotating through the URLs, until a final close', async () => {
    FakeSocket.created = [];
    const client = new ProtomeshClient({
      url: ['ws://a/ws', 'ws://b/ws'],
      WebSocket: FakeSocket,
      reconnect: { initialDelayMs: 1, maxDelayMs: 8, factor: 2, jitter: 0.5 },
    });
    const delays: Array<[number, number, string]> = [];
    const closes: Array<[number, boolean]> = [];
    client.on('reconnecting', (event) => delays.push([event.attempt, event.delayMs, event.url]));
    client.on('close', (event) => closes.push([event.code, event.reconnect]));
    const connecting = client.connect();
    for (let i = 0; i < 6; i++) {
      await waitUntil(() => FakeSocket.created.length === i + 1);
      const socket = FakeSocket.created[i]!;
      expect(socket.protocols).toBe('protomesh.v1');
      expect(socket.binaryType).toBe('arraybuffer');
      socket.drop(i === 5 ? 4400 : 1006);
    }
    await expect(connecting).rejects.toMatchObject({ code: 'PM_WS_CLIENT_CLOSED' });
    expect(FakeSocket.created.map((s) => s.url)).toEqual([
      'ws://a/ws',
      'ws://b/ws',
      'ws://a/ws',
      'ws://b/ws',
      'ws://a/ws',
      'ws://b/ws',
    ]);
    expect(closes).toEqual([
      [1006, true],
      [1006, true],
      [1006, true],
      [1006, true],
      [1006, true],
      [4400, false],
    ]);
    // Base delays 1, 2, 4, 8, 8 ms (capped), each reduced by up to 50 % at random.
    const bases = [1, 2, 4, 8, 8];
    delays.forEach(([attempt, delay], i) => {
      expect(attempt).toBe(i + 1);
      expect(delay).toBeGreaterThanOrEqual(Math.floor(bases[i]! * 0.5));
      expect(delay).toBeLessThanOrEqual(bases[i]!);
    });
    expect(client.state).toBe('closed');
  });

  it('sends connect with its client id first, then resubscribes and resends unacked QoS 1 publishes', async () => {
    FakeSocket.created = [];
    const client = new ProtomeshClient({
      url: 'ws://a/ws',
      WebSocket: FakeSocket,
      clientId: 'fixed-id',
      reconnect: { initialDelayMs: 1 },
    });
    const opening = client.connect();
    await waitUntil(() => FakeSocket.created.length === 1);
    const first = FakeSocket.created[0]!;
    first.readyState = 1;
    first.onopen?.({});
    await waitUntil(() => first.sent.length === 1);
    const connect = JSON.parse(first.sent[0] as string);
    expect(connect).toMatchObject({ op: 'connect', client: 'fixed-id', binary: true });
    first.onmessage?.({ data: JSON.stringify({ op: 'ok', id: connect.id, conn: 'c1' }) });
    await opening;
    const sub = client.subscribe('a/#');
    const published = client.publish('a/1', new Uint8Array([1, 2, 255]), { qos: 1 });
    await waitUntil(() => first.sent.length === 3);
    const subRequest = JSON.parse(first.sent[1] as string);
    expect(subRequest).toMatchObject({ op: 'sub', filter: 'a/#' });
    first.onmessage?.({ data: JSON.stringify({ op: 'ok', id: subRequest.id, seq: 10 }) });
    expect(await sub.ready).toEqual({ seq: 10, recovered: undefined });
    const pubFrame = decodeFrame((first.sent[2] as Uint8Array).buffer);
    expect(pubFrame.fields).toMatchObject({ op: 'pub', topic: 'a/1', qos: 1 });
    expect(pubFrame.fields.msgId).toBe(pubFrame.fields.id);
    first.onmessage?.({ data: JSON.stringify({ op: 'msg', sub: 'a/#', topic: 'a/2', qos: 1, seq: 12, text: 'x' }) });
    expect(sub.position).toBe(12);

    // The connection drops before the publish was acked.
    first.drop(1012);
    await waitUntil(() => FakeSocket.created.length === 2);
    const second = FakeSocket.created[1]!;
    second.readyState = 1;
    second.onopen?.({});
    await waitUntil(() => second.sent.length === 1);
    const reconnect = JSON.parse(second.sent[0] as string);
    expect(reconnect.client).toBe('fixed-id');
    second.onmessage?.({ data: JSON.stringify({ op: 'ok', id: reconnect.id, conn: 'c2' }) });
    await waitUntil(() => second.sent.length === 3);
    expect(JSON.parse(second.sent[1] as string)).toMatchObject({ op: 'sub', filter: 'a/#', since: 12 });
    const resent = decodeFrame((second.sent[2] as Uint8Array).buffer);
    expect(resent.fields).toEqual(pubFrame.fields);
    second.onmessage?.({ data: JSON.stringify({ op: 'ok', id: resent.fields.id, seq: 11, duplicate: true }) });
    expect(await published).toEqual({ seq: 11, duplicate: true });
    await client.close();
    expect(client.state).toBe('closed');
  });
});

async function waitUntil(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 2));
  expect(check()).toBe(true);
}

import { type Server, type Socket, connect as tcpConnect } from 'node:net';
import { silentLogger } from '@protomesh/telemetry';
import { waitFor } from '@protomesh/test-support';
import { generate } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTcpListener, createWsListener } from '../../src/transports/listeners.js';
import { parseProxyHeader } from '../../src/transports/proxy-protocol.js';
import { type Harness, startHarness } from '../helpers/harness.js';

let harness: Harness | undefined;
const closers: Array<() => unknown> = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
  await harness?.close();
  harness = undefined;
});

const connectBytes = (clientId: string) =>
  generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 0 });

async function listenTcp(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as { port: number }).port;
}

async function open(port: number): Promise<Socket> {
  const socket = tcpConnect(port, '127.0.0.1');
  closers.push(() => socket.destroy());
  await new Promise((resolve) => socket.once('connect', resolve));
  return socket;
}

function v2Header(ip: number[], family: 'tcp4' | 'tcp6' = 'tcp4'): Buffer {
  const signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
  const body = family === 'tcp4' ? Buffer.from([...ip, 10, 0, 0, 1, 0x15, 0xb3, 0x07, 0x5b]) : Buffer.alloc(36);
  if (family === 'tcp6') Buffer.from(ip).copy(body, 0);
  return Buffer.concat([
    signature,
    Buffer.from([0x21, family === 'tcp4' ? 0x11 : 0x21]),
    Buffer.from([0, body.length]),
    body,
  ]);
}

describe('PROXY protocol', () => {
  it('parses v1 and v2 headers (IPv4, IPv6, LOCAL, UNKNOWN) and refuses others', () => {
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 5555 1883\r\nrest'))).toEqual({
      kind: 'ok',
      length: 43,
      address: '203.0.113.7',
    });
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).toMatchObject({ kind: 'ok', address: undefined });
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 1.2'))).toEqual({ kind: 'more' });
    expect(parseProxyHeader(v2Header([198, 51, 100, 9]))).toMatchObject({
      kind: 'ok',
      length: 28,
      address: '198.51.100.9',
    });
    const v6 = [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1];
    expect(parseProxyHeader(v2Header(v6, 'tcp6'))).toMatchObject({ kind: 'ok', address: '2001:db8::1' });
    const local = v2Header([1, 2, 3, 4]);
    local[12] = 0x20;
    expect(parseProxyHeader(local)).toMatchObject({ kind: 'ok', address: undefined });
    expect(parseProxyHeader(connectBytes('x'))).toMatchObject({ kind: 'invalid' });
    expect(parseProxyHeader(Buffer.from(`PROXY ${'x'.repeat(120)}`))).toMatchObject({ kind: 'invalid' });
  });

  it('takes the client address from a v1 or v2 header (in the same segment as CONNECT) and refuses a connection without one', async () => {
    harness = await startHarness();
    const h = harness;
    const port = await listenTcp(createTcpListener(h.broker, { proxyProtocol: true, logger: silentLogger() }));
    const v1 = await open(port);
    v1.write(
      Buffer.concat([Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 5555 1883\r\n'), connectBytes('behind-lb-1')]),
    );
    await waitFor(() => h.broker.clientAddress('behind-lb-1'), 'the v1 client');
    expect(h.broker.clientAddress('behind-lb-1')).toBe('203.0.113.7');
    const v2 = await open(port);
    v2.write(v2Header([198, 51, 100, 9]));
    v2.write(connectBytes('behind-lb-2'));
    await waitFor(() => h.broker.clientAddress('behind-lb-2'), 'the v2 client');
    expect(h.broker.clientAddress('behind-lb-2')).toBe('198.51.100.9');
    const bare = await open(port);
    const closed = new Promise((resolve) => bare.once('close', resolve));
    bare.write(connectBytes('no-header'));
    await closed;
    expect(h.broker.clientAddress('no-header')).toBeUndefined();
  });
});

describe('MQTT over WebSocket', () => {
  async function wsListener(trustForwardedFor: boolean) {
    harness ??= await startHarness();
    const h = harness;
    const listener = createWsListener(h.broker, {
      path: '/mqtt',
      trustForwardedFor,
      maxPayload: 1 << 20,
      logger: silentLogger(),
    });
    await new Promise<void>((resolve) => listener.server.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => listener.server.close(resolve)));
    closers.push(() => listener.close());
    return { h, url: `ws://127.0.0.1:${(listener.server.address() as { port: number }).port}/mqtt` };
  }

  async function wsConnect(url: string, protocols: string[], headers: Record<string, string> = {}) {
    const ws = new WebSocket(url, protocols, { headers });
    closers.push(() => ws.terminate());
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return ws;
  }

  it('[MQTT-6.0.0-3] [MQTT-6.0.0-4] answers with the MQTT subprotocol offered (mqtt, mqttv3.1)', async () => {
    const { url } = await wsListener(false);
    expect((await wsConnect(url, ['mqtt'])).protocol).toBe('mqtt');
    expect((await wsConnect(url, ['mqttv3.1'])).protocol).toBe('mqttv3.1');
  });

  it('takes the client address from X-Forwarded-For only when trusted', async () => {
    const trusted = await wsListener(true);
    const ws = await wsConnect(trusted.url, ['mqtt'], { 'x-forwarded-for': '192.0.2.44, 10.0.0.2' });
    ws.send(connectBytes('via-proxy'));
    await waitFor(() => trusted.h.broker.clientAddress('via-proxy'), 'the client');
    expect(trusted.h.broker.clientAddress('via-proxy')).toBe('192.0.2.44');
    const untrusted = await wsListener(false);
    const direct = await wsConnect(untrusted.url, ['mqtt'], { 'x-forwarded-for': '192.0.2.44' });
    direct.send(connectBytes('direct'));
    await waitFor(() => untrusted.h.broker.clientAddress('direct'), 'the client');
    expect(untrusted.h.broker.clientAddress('direct')).toBe('127.0.0.1');
  });

  it('[MQTT-6.0.0-1] closes a connection that sends a text frame (1003)', async () => {
    const { url } = await wsListener(false);
    const ws = await wsConnect(url, ['mqtt']);
    const code = new Promise((resolve) => ws.once('close', (c) => resolve(c)));
    ws.send('not binary');
    expect(await code).toBe(1003);
  });
});

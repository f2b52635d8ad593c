import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { waitFor } from '@protomesh/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, type Replica } from '../helpers/cluster.js';
import { TestClient } from '../helpers/mqtt-test-client.js';

const run = promisify(execFile);

let cluster: Cluster;
let dir: string;
let secure: Replica;
let mutual: Replica;
let ws: Replica;
let proxied: Replica;

/** A CA, a server certificate for 127.0.0.1 / localhost and a client certificate, made with openssl. */
async function makeCertificates(at: string): Promise<void> {
  const openssl = (...args: string[]) => run('openssl', args, { cwd: at });
  await openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '1',
    '-subj',
    '/CN=test-ca',
  );
  await writeFile(join(at, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const name of ['server', 'client']) {
    await openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${name}`,
    );
    await openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '1',
      ...(name === 'server' ? ['-extfile', 'server.ext'] : []),
    );
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mqtt-edge-tls-'));
  await makeCertificates(dir);
  cluster = await Cluster.start();
  const tls = {
    MQTT_TLS_PORT: '0',
    MQTT_TLS_CERT_FILE: join(dir, 'server.crt'),
    MQTT_TLS_KEY_FILE: join(dir, 'server.key'),
  };
  secure = await cluster.replica(tls);
  mutual = await cluster.replica({ ...tls, MQTT_TLS_CA_FILE: join(dir, 'ca.crt') });
  ws = await cluster.replica({ MQTT_WS_ENABLED: 'true', MQTT_WS_PORT: '0', MQTT_WS_PATH: '/mqtt' });
  proxied = await cluster.replica({ ...tls, MQTT_PROXY_PROTOCOL: 'true' });
}, 60_000);
afterAll(async () => {
  await cluster?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('transports', () => {
  it('mqtts: MQTT.js over TLS (v4 and v5) reaches a plain TCP subscriber on another replica', async () => {
    const ca = await readFile(join(dir, 'ca.crt'));
    const port = secure.running.services[0]!.ports.mqtts!;
    expect(secure.running.services[0]!.endpoints.mqtts).toMatch(/^mqtts:\/\//);
    const sub = await cluster.client(ws.url, { protocolVersion: 4 });
    const got: string[] = [];
    sub.on('message', (topic, payload) => got.push(`${topic}=${payload.toString()}`));
    await sub.subscribeAsync('secure/#', { qos: 1 });
    for (const protocolVersion of [4, 5] as const) {
      const client = await cluster.client(`mqtts://127.0.0.1:${port}`, {
        protocolVersion,
        ca,
        servername: 'localhost',
      });
      await client.publishAsync(`secure/${protocolVersion}`, 'over tls', { qos: 1 });
    }
    await waitFor(() => got.length === 2, 'two messages');
    expect(got.sort()).toEqual(['secure/4=over tls', 'secure/5=over tls']);
  });

  it('mqtts with MQTT_TLS_CA_FILE: a client certificate is required', async () => {
    const ca = await readFile(join(dir, 'ca.crt'));
    const port = mutual.running.services[0]!.ports.mqtts!;
    const withCert = await cluster.client(`mqtts://127.0.0.1:${port}`, {
      protocolVersion: 5,
      ca,
      cert: await readFile(join(dir, 'client.crt')),
      key: await readFile(join(dir, 'client.key')),
    });
    expect(withCert.connected).toBe(true);
    await expect(
      cluster.client(`mqtts://127.0.0.1:${port}`, { protocolVersion: 5, ca, connectTimeout: 3_000 }),
    ).rejects.toThrow();
  });

  it('mosquitto_pub --cafile publishes over TLS', async () => {
    const sub = await cluster.client(secure.url, { protocolVersion: 5 });
    const got: string[] = [];
    sub.on('message', (_topic, payload) => got.push(payload.toString()));
    await sub.subscribeAsync('mosq-tls', { qos: 1 });
    const port = secure.running.services[0]!.ports.mqtts!;
    await run('/usr/bin/mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '--cafile',
      join(dir, 'ca.crt'),
      '-t',
      'mosq-tls',
      '-m',
      'hello',
      '-q',
      '1',
    ]);
    await waitFor(() => got.length === 1, 'the message');
    expect(got).toEqual(['hello']);
  });

  it('MQTT over WebSocket: MQTT.js ws:// (v4 and v5) with persistent sessions, across to TCP on another replica', async () => {
    const port = ws.running.services[0]!.ports.ws!;
    const url = `ws://127.0.0.1:${port}/mqtt`;
    expect(ws.running.services[0]!.endpoints.ws).toBe(url);
    const received: string[] = [];
    const wsSub = await cluster.client(url, {
      protocolVersion: 5,
      clientId: 'ws-sub',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    wsSub.on('message', (topic) => received.push(topic));
    await wsSub.subscribeAsync('web/#', { qos: 1 });
    const tcpPub = await cluster.client(secure.url, { protocolVersion: 4 });
    await tcpPub.publishAsync('web/1', 'x', { qos: 1 });
    await waitFor(() => received.includes('web/1'), 'web/1 over WebSocket');
    const wsPub = await cluster.client(url, { protocolVersion: 4 });
    await wsPub.publishAsync('web/2', 'y', { qos: 1 });
    await waitFor(() => received.includes('web/2'), 'web/2 over WebSocket');
  });

  it('PROXY protocol in front of TCP and TLS: the header, then MQTT (or the TLS handshake), is served', async () => {
    const header = Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 5555 1883\r\n');
    const connect = (client: TestClient) =>
      client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: '', clean: true, keepalive: 0 });
    // Plain TCP.
    const plain = tcpConnect(proxied.port, '127.0.0.1');
    await new Promise((resolve) => plain.once('connect', resolve));
    plain.write(header);
    const overTcp = new TestClient(plain, 5);
    connect(overTcp);
    expect((await overTcp.next('connack', 5_000)).reasonCode).toBe(0);
    plain.destroy();
    // TLS after the header.
    const raw = tcpConnect(proxied.running.services[0]!.ports.mqtts!, '127.0.0.1');
    await new Promise((resolve) => raw.once('connect', resolve));
    raw.write(header);
    const secure = tlsConnect({ socket: raw, ca: await readFile(join(dir, 'ca.crt')), servername: 'localhost' });
    await new Promise((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    const overTls = new TestClient(secure, 5);
    connect(overTls);
    expect((await overTls.next('connack', 5_000)).reasonCode).toBe(0);
    secure.destroy();
    // Without the header the connection is closed.
    const bare = tcpConnect(proxied.port, '127.0.0.1');
    const closed = new Promise((resolve) => bare.once('close', resolve));
    await new Promise((resolve) => bare.once('connect', resolve));
    const noHeader = new TestClient(bare, 5);
    connect(noHeader);
    await closed;
    expect(noHeader.received).toEqual([]);
  });
});

import { execFile } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { promisify } from 'node:util';
import { waitFor } from '@protomesh/test-support';
import type { IConnackPacket } from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Reason } from '../../src/index.js';
import { Cluster, type Replica } from '../helpers/cluster.js';
import { TestClient } from '../helpers/mqtt-test-client.js';

const run = promisify(execFile);

let cluster: Cluster;
let a: Replica;
let b: Replica;
const raw: TestClient[] = [];

beforeAll(async () => {
  cluster = await Cluster.start();
  a = await cluster.replica();
  b = await cluster.replica();
});
afterAll(async () => {
  for (const client of raw) client.stream.destroy();
  await cluster?.close();
});

/** A scripted client over a real TCP socket. */
async function rawConnect(
  replica: Replica,
  clientId: string,
  properties: { sessionExpiryInterval?: number } = { sessionExpiryInterval: 300 },
): Promise<{ client: TestClient; connack: IConnackPacket }> {
  const socket = tcpConnect(replica.port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const client = new TestClient(socket, 5);
  raw.push(client);
  client.send({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 5,
    clientId,
    clean: false,
    keepalive: 0,
    properties,
  });
  return { client, connack: await client.next('connack', 5_000) };
}

describe('persistent sessions across two replicas on NATS', () => {
  it('[MQTT-3.1.2-4] a 3.1.1 clean-session-0 client resumes on the other replica: session present, every QoS 1 and 2 message', async () => {
    const sub = await cluster.client(a.url, { protocolVersion: 4, clientId: 'fleet-sub', clean: false });
    await sub.subscribeAsync('fleet/#', { qos: 2 });
    await sub.endAsync();
    const pub = await cluster.client(b.url, { protocolVersion: 5 });
    for (let i = 0; i < 50; i++) await pub.publishAsync(`fleet/q1/${i % 5}`, `q1-${i}`, { qos: 1 });
    for (let i = 0; i < 20; i++) await pub.publishAsync(`fleet/q2/${i % 5}`, `q2-${i}`, { qos: 2 });
    const received: string[] = [];
    const again = cluster.track(
      (await import('mqtt')).default.connect(b.url, {
        protocolVersion: 4,
        clientId: 'fleet-sub',
        clean: false,
        reconnectPeriod: 0,
      }),
    );
    again.on('message', (_topic, payload) => received.push(payload.toString()));
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve) => again.once('connect', resolve));
    expect(connack.sessionPresent).toBe(true);
    await waitFor(() => new Set(received).size === 70, '70 messages');
    // QoS 2 exactly once; QoS 1 at least once (a redelivery may repeat one).
    expect(received.filter((m) => m.startsWith('q2-')).sort()).toEqual(
      Array.from({ length: 20 }, (_, i) => `q2-${i}`).sort(),
    );
  });

  it('[MQTT-3.1.2-23] an MQTT 5 session expires on time, whichever replica the client returns to', async () => {
    const first = await cluster.client(a.url, {
      protocolVersion: 5,
      clientId: 'short-lived',
      clean: false,
      properties: { sessionExpiryInterval: 1 },
    });
    await first.subscribeAsync('short/#', { qos: 1 });
    await first.endAsync();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const mqtt = (await import('mqtt')).default;
    const again = cluster.track(
      mqtt.connect(b.url, { protocolVersion: 5, clientId: 'short-lived', clean: false, reconnectPeriod: 0 }),
    );
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve) => again.once('connect', resolve));
    expect(connack.sessionPresent).toBe(false);
  });

  it('[MQTT-3.1.4-3] takeover across replicas: the old connection gets 0x8E and no message is lost', async () => {
    const options = {
      protocolVersion: 5 as const,
      clientId: 'twin-device',
      clean: false,
      properties: { sessionExpiryInterval: 300 },
    };
    const first = await cluster.client(a.url, options);
    const seen = new Set<string>();
    let disconnectReason: number | undefined;
    first.on('message', (_t, payload) => seen.add(payload.toString()));
    first.on('disconnect', (packet) => {
      disconnectReason = packet.reasonCode;
    });
    await first.subscribeAsync('twin/#', { qos: 1 });
    const pub = await cluster.client(b.url, { protocolVersion: 4 });
    const total = 300;
    let published = 0;
    const flow = (async () => {
      for (; published < total; published++)
        await pub.publishAsync(`twin/${published % 3}`, String(published), { qos: 1 });
    })();
    await waitFor(() => published >= 100, '100 messages published');
    const second = await cluster.client(b.url, options);
    second.on('message', (_t, payload) => seen.add(payload.toString()));
    await flow;
    await waitFor(() => disconnectReason !== undefined, 'the DISCONNECT of the old connection');
    expect(disconnectReason).toBe(Reason.SessionTakenOver);
    await waitFor(() => seen.size === total, `all ${total} messages (have ${seen.size})`);
  });

  it('QoS 2 in: a PUBLISH resent (DUP) on the other replica after a reconnect is delivered once', async () => {
    const sub = await cluster.client(a.url, { protocolVersion: 5 });
    const got: string[] = [];
    sub.on('message', (topic, payload) => got.push(`${topic}=${payload.toString()}`));
    await sub.subscribeAsync('once/#', { qos: 2 });
    const first = await rawConnect(a, 'qos2-sender');
    first.client.send({
      cmd: 'publish',
      topic: 'once/x',
      payload: 'one',
      qos: 2,
      messageId: 42,
      retain: false,
      dup: false,
    });
    expect((await first.client.next('pubrec', 5_000)).messageId).toBe(42);
    first.client.stream.destroy();
    const second = await rawConnect(b, 'qos2-sender');
    expect(second.connack.sessionPresent).toBe(true);
    second.client.send({
      cmd: 'publish',
      topic: 'once/x',
      payload: 'one',
      qos: 2,
      messageId: 42,
      retain: false,
      dup: true,
    });
    expect((await second.client.next('pubrec', 5_000)).messageId).toBe(42);
    second.client.send({ cmd: 'pubrel', messageId: 42 });
    expect((await second.client.next('pubcomp', 5_000)).reasonCode).toBe(Reason.Success);
    second.client.send({
      cmd: 'publish',
      topic: 'once/probe',
      payload: 'p',
      qos: 1,
      messageId: 43,
      retain: false,
      dup: false,
    });
    await second.client.next('puback', 5_000);
    await waitFor(() => got.includes('once/probe=p'), 'the probe');
    expect(got).toEqual(['once/x=one', 'once/probe=p']);
  });

  it('QoS 2 out: PUBREC on one replica, then PUBREL (not the message) from the other after a reconnect', async () => {
    const first = await rawConnect(a, 'qos2-receiver');
    first.client.send({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [{ topic: 'out2/#', qos: 2, nl: false, rap: false, rh: 0 }],
    });
    await first.client.next('suback', 5_000);
    const pub = await cluster.client(b.url, { protocolVersion: 5 });
    await pub.publishAsync('out2/a', 'A', { qos: 2 });
    await pub.publishAsync('out2/b', 'B', { qos: 2 });
    const ma = await first.client.next('publish', 5_000);
    const mb = await first.client.next('publish', 5_000);
    first.client.send({ cmd: 'pubrec', messageId: ma.messageId! });
    await first.client.next('pubrel', 5_000);
    first.client.stream.destroy();
    const second = await rawConnect(b, 'qos2-receiver');
    expect(second.connack.sessionPresent).toBe(true);
    expect((await second.client.next('pubrel', 5_000)).messageId).toBe(ma.messageId);
    second.client.send({ cmd: 'pubcomp', messageId: ma.messageId! });
    const again = await second.client.next('publish', 5_000);
    expect(again).toMatchObject({ topic: 'out2/b', dup: true, messageId: mb.messageId });
  });

  it('interoperates with mosquitto_sub -c: a persistent subscription on one replica is resumed on the other', async () => {
    const args = (port: number) => [
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-c',
      '-i',
      'mosq-persistent',
      '-q',
      '1',
      '-t',
      'mosq-p/#',
    ];
    await run('/usr/bin/mosquitto_sub', [...args(a.port), '-E']);
    await run('/usr/bin/mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(b.port),
      '-t',
      'mosq-p/1',
      '-m',
      'while away',
      '-q',
      '1',
    ]);
    const { stdout } = await run('/usr/bin/mosquitto_sub', [...args(b.port), '-C', '1', '-v', '-W', '10']);
    expect(stdout.trim()).toBe('mosq-p/1 while away');
  });
});

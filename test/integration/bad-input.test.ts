// Bad input closes only the offending connection; clients beside it keep receiving (issue 2).
import { createConnection } from 'node:net';
import { startBridge } from '@protomesh/bridge';
import { startMqttEdge } from '@protomesh/mqtt-edge';
import { type NatsServerHandle, startInProcess, startNatsServer, uniqueName, waitFor } from '@protomesh/test-support';
import { startWsEdge } from '@protomesh/ws-edge';
import mqtt from 'mqtt';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TestWsClient } from '../helpers/ws-client.js';

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

/** Sends raw bytes on a fresh TCP connection and resolves when the server closes it. */
function sendRawAndWaitForClose(port: number, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = createConnection({ host: '127.0.0.1', port }, () => socket.write(bytes));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.on('error', () => {});
    setTimeout(() => reject(new Error('server did not close the malformed connection')), 10_000).unref();
  });
}

it('malformed MQTT bytes and malformed WebSocket frames close only the offending connection', async () => {
  const prefix = uniqueName();
  const mesh = await startInProcess(
    [
      { name: 'mqtt-edge', start: startMqttEdge },
      { name: 'ws-edge', start: startWsEdge },
      { name: 'bridge', start: startBridge },
    ],
    { prefix, natsUrl: nats.url, env: { MQTT_ALLOW_ANONYMOUS: 'true', WS_ALLOW_ANONYMOUS: 'true' } },
  );
  const mqttPort = mesh.services[0]!.ports.mqtt!;
  const wsUrl = `ws://127.0.0.1:${mesh.services[1]!.ports.ws}/ws`;
  const mqttSubscriber = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
    protocolVersion: 5,
    reconnectPeriod: 0,
  });
  const wsSubscriber = await TestWsClient.connect(wsUrl);
  const publisher = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { protocolVersion: 4, reconnectPeriod: 0 });
  try {
    const mqttReceived: string[] = [];
    mqttSubscriber.on('message', (_topic, payload) => mqttReceived.push(payload.toString()));
    await mqttSubscriber.subscribeAsync('bad/#', { qos: 1 });
    await wsSubscriber.subscribe('bad/#');

    let n = 0;
    const publishSome = async (count: number) => {
      for (let i = 0; i < count; i++) await publisher.publishAsync('bad/input', String(n++), { qos: 1 });
    };
    await publishSome(20);

    // Garbage instead of CONNECT; then a valid CONNECT followed by a packet with a reserved type 0.
    await sendRawAndWaitForClose(mqttPort, Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    // CONNECT: 'MQTT' level 5, clean start, keep alive 60 s, no properties, client id 'bad'.
    const v5Connect = Buffer.from([0x10, 16, 0, 4, 0x4d, 0x51, 0x54, 0x54, 5, 0x02, 0, 60, 0, 0, 3, 0x62, 0x61, 0x64]);
    const reply = await sendRawAndWaitForClose(mqttPort, Buffer.concat([v5Connect, Buffer.from([0x00, 0x00])]));
    expect(reply[0]).toBe(0x20); // CONNACK first
    const disconnectAt = reply.indexOf(0xe0, 2);
    expect(disconnectAt, 'MQTT 5 DISCONNECT before the close').toBeGreaterThan(0);
    expect([0x81, 0x82]).toContain(reply[disconnectAt + 2]); // malformed packet / protocol error

    // WebSocket: two malformed frames close that client with the documented code.
    const offender = await TestWsClient.connect(wsUrl);
    offender.sendRaw('{not json');
    await waitFor(() => offender.errors.length === 1, 'first error frame');
    expect(offender.errors[0]!.code).toBe('PM_WS_MALFORMED_FRAME');
    offender.sendRaw('[]');
    await waitFor(() => offender.closed, 'offender closed');
    expect(offender.closed!.code).toBe(4400);

    await publishSome(20);
    await waitFor(
      () => mqttReceived.length >= 40 && wsSubscriber.messages.length >= 40,
      'deliveries after the bad input',
    );
    expect(mqttReceived).toEqual(Array.from({ length: 40 }, (_, i) => String(i)));
    expect(wsSubscriber.messages.map((m) => m.text)).toEqual(Array.from({ length: 40 }, (_, i) => String(i)));
    expect(mqttSubscriber.connected).toBe(true);
    expect(wsSubscriber.closed).toBeUndefined();
  } finally {
    await publisher.endAsync();
    await mqttSubscriber.endAsync();
    await wsSubscriber.close();
    await mesh.stop();
  }
});

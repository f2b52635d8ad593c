// Payloads cross the mesh byte-exact between a real MQTT.js client (mqtt-edge) and WebSocket
// clients (ws-edge), through the bridge, on real NATS, with the content type both ways.
import { randomBytes } from 'node:crypto';
import { type NatsServerHandle, startNatsServer, uniqueName, waitFor } from '@protomesh/test-support';
import { binaryFrame } from '@protomesh/ws-edge';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Frame, TestClient } from '../support/client.js';
import { Replicas } from '../support/replicas.js';
import { type Siblings, startSiblings } from '../support/siblings.js';

let nats: NatsServerHandle;
let replicas: Replicas;
let siblings: Siblings | undefined;
const mqttClients: MqttClient[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  replicas = new Replicas(nats.url);
});

afterEach(async () => {
  await Promise.all(mqttClients.splice(0).map((client) => client.endAsync()));
  await replicas.close();
  await siblings?.stop();
  siblings = undefined;
});

afterAll(async () => {
  await nats?.stop();
});

interface MqttMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly contentType: string | undefined;
}

async function mqttClient(url: string, received: MqttMessage[]): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
  mqttClients.push(client);
  client.on('message', (topic, payload, packet) => {
    received.push({ topic, payload: Buffer.from(payload), contentType: packet.properties?.contentType });
  });
  return client;
}

async function wsSubscriber(url: string, filter: string, binary: boolean): Promise<TestClient> {
  const client = await replicas.client(url);
  await client.request({ op: 'connect', id: 'c', binary });
  expect(await client.request({ op: 'sub', id: 's', filter })).toMatchObject({ op: 'ok' });
  return client;
}

/** The payload bytes of a delivery, whichever form it came in. */
function bytesOf(frame: Frame): Buffer {
  if (frame.binary) return frame.payload as Buffer;
  if (typeof frame.b64 === 'string') return Buffer.from(frame.b64, 'base64');
  return Buffer.from(frame.text as string, 'utf8');
}

describe('payloads across the bridge (MQTT ↔ WebSocket)', () => {
  it('carries binary, text and JSON payloads byte-exact with their content type, both ways', async () => {
    const prefix = uniqueName();
    siblings = await startSiblings(nats.url, prefix);
    const edge = await replicas.start(prefix);
    const wsUrl = replicas.url(edge);

    const binaryWs = await wsSubscriber(wsUrl, 'lab/#', true);
    const b64Ws = await wsSubscriber(wsUrl, 'lab/#', false);
    const fromWs: MqttMessage[] = [];
    const device = await mqttClient(siblings.mqttUrl, fromWs);
    await device.subscribeAsync('app/#', { qos: 1 });

    // MQTT → WebSocket.
    const samples: Array<{ topic: string; payload: Buffer; contentType?: string }> = [
      {
        topic: 'lab/cam',
        payload: Buffer.concat([Buffer.from([0xff, 0xd8, 0x00, 0xc3, 0x28]), randomBytes(2000)]),
        contentType: 'image/jpeg',
      },
      { topic: 'lab/text', payload: Buffer.from('\uFEFFgrüße 🌡 21.5\r\n\u0000', 'utf8'), contentType: 'text/plain' },
      { topic: 'lab/json', payload: Buffer.from('{"t":21.5,"ok":true}'), contentType: 'application/json' },
      { topic: 'lab/empty', payload: Buffer.alloc(0) },
    ];
    for (const sample of samples) {
      await device.publishAsync(sample.topic, sample.payload, {
        qos: 1,
        properties: sample.contentType ? { contentType: sample.contentType } : {},
      });
    }
    const forms: string[][] = [];
    for (const client of [binaryWs, b64Ws]) {
      const form: string[] = [];
      for (const sample of samples) {
        const frame = await client.nextMsg(10_000);
        expect(frame.topic).toBe(sample.topic);
        expect(frame.origin).toBe('mqtt');
        expect(frame.contentType).toBe(sample.contentType);
        expect(bytesOf(frame)).toEqual(sample.payload);
        form.push(frame.binary ? 'binary' : typeof frame.b64 === 'string' ? 'b64' : 'text');
      }
      forms.push(form);
    }
    // The binary form is used only for payloads that are not UTF-8, and only when asked for.
    expect(forms).toEqual([
      ['binary', 'text', 'text', 'text'],
      ['b64', 'text', 'text', 'text'],
    ]);

    // WebSocket → MQTT: a binary frame, a b64 text frame, text and data.
    const publisher = await replicas.client(wsUrl);
    const raw = Buffer.concat([Buffer.from([0x00, 0xff, 0xfe]), randomBytes(500)]);
    publisher.sendRaw(
      binaryFrame({ op: 'pub', id: 1, topic: 'app/raw', qos: 1, contentType: 'application/x-raw' }, raw),
      true,
    );
    expect(await publisher.next()).toMatchObject({ op: 'ok', id: 1 });
    const b64 = randomBytes(64);
    await publisher.request({ op: 'pub', id: 2, topic: 'app/b64', qos: 1, b64: b64.toString('base64') });
    await publisher.request({ op: 'pub', id: 3, topic: 'app/text', qos: 1, text: 'héllo\u0000' });
    await publisher.request({ op: 'pub', id: 4, topic: 'app/data', qos: 1, data: { a: [1, 'é'] } });
    await waitFor(() => fromWs.length >= 4, 'four messages at the MQTT client', 10_000);
    expect(fromWs).toEqual([
      { topic: 'app/raw', payload: raw, contentType: 'application/x-raw' },
      { topic: 'app/b64', payload: b64, contentType: undefined },
      { topic: 'app/text', payload: Buffer.from('héllo\u0000'), contentType: undefined },
      { topic: 'app/data', payload: Buffer.from('{"a":[1,"é"]}'), contentType: 'application/json' },
    ]);
  });
});

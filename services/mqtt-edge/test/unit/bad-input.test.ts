import { Buffer } from 'node:buffer';
import { waitFor } from '@protomesh/test-support';
import { generate } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { Reason } from '../../src/index.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { type Harness, startHarness } from '../helpers/harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function start(options: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  harness = await startHarness(options);
  return harness;
}

/** A Variable Byte Integer (MQTT 5 §1.5.5). */
function varint(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return out;
}

describe('bad input closes only the offending connection', () => {
  it('closes on a malformed packet (MQTT 5: DISCONNECT 0x81) and counts it; a neighbour keeps working', async () => {
    const h = await start();
    const { client: neighbour } = await h.connect({ version: 4 });
    const { client } = await h.connect({ version: 5 });
    // SUBSCRIBE (flags 0x2) whose topic length runs past the end of the packet.
    client.write([0x82, 0x06, 0x00, 0x01, 0x00, 0x00, 0x09, 0x61]);
    expect(await client.waitClosed()).toEqual([
      expect.objectContaining({ cmd: 'disconnect', reasonCode: Reason.MalformedPacket }),
    ]);
    neighbour.send({ cmd: 'pingreq' });
    expect((await neighbour.next()).cmd).toBe('pingresp');
    expect(await h.metrics.render()).toMatch(
      /protomesh_protocol_errors_total\{[^}]*code="PM_MQTT_MALFORMED_PACKET"[^}]*\} 1/,
    );
  });

  it('answers CONNECT first when a malformed packet follows it in the same segment (CONNACK, then DISCONNECT 0x81)', async () => {
    const h = await start();
    const client = h.open(5);
    // CONNECT 'MQTT' level 5, clean start, client id 'bad', then a packet of reserved type 0.
    client.write([0x10, 16, 0, 4, 0x4d, 0x51, 0x54, 0x54, 5, 0x02, 0, 60, 0, 0, 3, 0x62, 0x61, 0x64, 0x00, 0x00]);
    expect(await client.waitClosed()).toEqual([
      expect.objectContaining({ cmd: 'connack', reasonCode: 0 }),
      expect.objectContaining({ cmd: 'disconnect', reasonCode: Reason.MalformedPacket }),
    ]);
  });

  it('[MQTT-2.2.2-2] closes on reserved header flags', async () => {
    const h = await start();
    const { client } = await h.connect({ version: 4 });
    client.write([0xc3, 0x00]); // PINGREQ with flags 0b0011
    expect(await client.waitClosed()).toEqual([]);
  });

  it('closes on garbage before CONNECT without a reply', async () => {
    const h = await start();
    const client = h.open(4);
    client.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(await client.waitClosed()).toEqual([]);
  });

  it('closes on a Remaining Length longer than four bytes', async () => {
    const h = await start();
    const { client } = await h.connect({ version: 5 });
    client.write([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect(await client.waitClosed()).toEqual([expect.objectContaining({ reasonCode: Reason.MalformedPacket })]);
  });

  it('refuses a packet over the maximum size from its fixed header alone (MQTT 5: DISCONNECT 0x95)', async () => {
    const h = await start({ maxPacketSize: 64 * 1024 });
    const { client } = await h.connect({ version: 5 });
    // Only the fixed header of a 10 MB PUBLISH is sent: the broker must not wait for the rest.
    client.write([0x30, ...varint(10_000_000)]);
    expect(await client.waitClosed()).toEqual([
      expect.objectContaining({ cmd: 'disconnect', reasonCode: Reason.PacketTooLarge }),
    ]);
    expect(await h.metrics.render()).toMatch(/code="PM_MQTT_PACKET_TOO_LARGE"/);
  });

  it('refuses an oversize MQTT 3.1.1 packet by closing', async () => {
    const h = await start({ maxPacketSize: 1024 });
    const { client } = await h.connect({ version: 4 });
    client.send({ cmd: 'publish', topic: 'big', payload: Buffer.alloc(2_000), qos: 0, retain: false, dup: false });
    expect(await client.waitClosed()).toEqual([]);
  });

  it('accepts a packet of exactly the maximum size, split into one-byte chunks', async () => {
    const h = await start({ maxPacketSize: 300 });
    const { client: sub } = await h.connect({ version: 4 });
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'edge', qos: 0 }] });
    await sub.next('suback');
    const { client } = await h.connect({ version: 4 });
    const bytes = generate({
      cmd: 'publish',
      topic: 'edge',
      payload: Buffer.alloc(291, 7),
      qos: 0,
      retain: false,
      dup: false,
    });
    expect(bytes.length).toBe(300);
    for (const byte of bytes) client.write([byte]);
    const got = await sub.next('publish');
    expect(got.payload.length).toBe(291);
  });

  it('treats server-to-client packets from a client as protocol errors (MQTT 5: DISCONNECT 0x82)', async () => {
    const h = await start();
    const { client } = await h.connect({ version: 5 });
    client.send({ cmd: 'pingresp' });
    expect(await client.waitClosed()).toEqual([expect.objectContaining({ reasonCode: Reason.ProtocolError })]);
  });

  it('[MQTT-2.2.1-3] treats a QoS 1 PUBLISH with packet identifier 0 as a protocol error', async () => {
    const h = await start();
    const { client } = await h.connect({ version: 4 });
    client.write([0x32, 0x05, 0x00, 0x01, 0x74, 0x00, 0x00]);
    expect(await client.waitClosed()).toEqual([]);
  });

  it('[MQTT-3.3.4-6] closes an MQTT 5 client that sends a Subscription Identifier in PUBLISH (0x82)', async () => {
    const h = await start();
    const { client } = await h.connect({ version: 5 });
    client.send({
      cmd: 'publish',
      topic: 'x',
      payload: 'y',
      qos: 0,
      retain: false,
      dup: false,
      properties: { subscriptionIdentifier: 4 },
    });
    expect(await client.waitClosed()).toEqual([expect.objectContaining({ reasonCode: Reason.ProtocolError })]);
  });

  it('[MQTT-3.8.3-4] closes an MQTT 5 client that asks for No Local on a shared subscription (0x82)', async () => {
    const h = await start();
    const { client } = await h.connect({ version: 5 });
    client.send({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [{ topic: '$share/g/x', qos: 0, nl: true, rap: false, rh: 0 }],
    });
    expect(await client.waitClosed()).toEqual([expect.objectContaining({ reasonCode: Reason.ProtocolError })]);
  });
});

describe('backpressure', () => {
  it('drops QoS 0 deliveries to a client that stops reading, then closes it as slow', async () => {
    const h = await start({ maxBufferedBytes: 64 * 1024 });
    // A raw client that connects and subscribes, then never reads again.
    const [serverSide, clientSide] = duplexPair();
    h.broker.handle(serverSide);
    clientSide.write(
      generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'slow', clean: true, keepalive: 0 }),
    );
    clientSide.write(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood', qos: 1 }] }));
    const { client: pub } = await h.connect({ version: 4 });
    const chunk = Buffer.alloc(8 * 1024);
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (let i = 0; i < 100; i++)
      pub.send({ cmd: 'publish', topic: 'flood', payload: chunk, qos: 0, retain: false, dup: false });
    await waitFor(
      async () =>
        /protomesh_messages_dropped_total\{[^}]*reason="backpressure"[^}]*\} \d+/.test(await h.metrics.render()),
      'QoS 0 deliveries dropped',
    );
    expect(serverSide.destroyed).toBe(false);
    // QoS 1 deliveries cannot be dropped: once one finds the buffer over the limit, the client is closed.
    for (let id = 5; id < 15; id++) {
      pub.send({ cmd: 'publish', topic: 'flood', payload: chunk, qos: 1, messageId: id, retain: false, dup: false });
      await pub.next('puback');
    }
    // The client never reads, so only the broker's side shows the close.
    await waitFor(() => serverSide.destroyed, 'the slow client closed');
    expect(await h.metrics.render()).toMatch(/protomesh_slow_clients_closed_total\{[^}]*\} 1/);
    expect(await h.metrics.render()).toMatch(/protomesh_slow_consumers_dropped_total\{[^}]*\} 1/);
  });
});

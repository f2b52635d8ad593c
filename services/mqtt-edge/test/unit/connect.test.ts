import { afterEach, describe, expect, it } from 'vitest';
import { ConnectReturn, Reason } from '../../src/index.js';
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

describe('CONNECT / CONNACK', () => {
  it('accepts MQTT 3.1.1 with return code 0 and session present 0', async () => {
    const h = await start();
    const { connack } = await h.connect({ version: 4, clientId: 'dev-1', clean: false });
    expect(connack.returnCode).toBe(ConnectReturn.Accepted);
    expect(connack.sessionPresent).toBe(false);
  });

  it('accepts MQTT 3.1 (protocol level 3, MQIsdp)', async () => {
    const h = await start();
    const { connack } = await h.connect({ version: 3, clientId: 'old-client' });
    expect(connack.returnCode).toBe(ConnectReturn.Accepted);
  });

  it('accepts MQTT 5 and announces what the broker supports', async () => {
    const h = await start({ maxPacketSize: 65_536 });
    const { connack } = await h.connect({ version: 5, clientId: 'dev-5' });
    expect(connack.reasonCode).toBe(Reason.Success);
    expect(connack.sessionPresent).toBe(false);
    expect(connack.properties).toMatchObject({
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      sharedSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      topicAliasMaximum: 64,
      maximumPacketSize: 65_536,
    });
    // The default Receive Maximum (65,535) is not sent.
    expect(connack.properties?.receiveMaximum).toBeUndefined();
    // QoS 2 is supported in both directions, so Maximum QoS is omitted.
    expect(connack.properties?.maximumQoS).toBeUndefined();
    expect(connack.properties?.assignedClientIdentifier).toBeUndefined();
  });

  it('[MQTT-3.1.3-6] assigns a client identifier to an MQTT 5 client that sent an empty one', async () => {
    const h = await start();
    const first = await h.connect({ version: 5, clientId: '' });
    const second = await h.connect({ version: 5, clientId: '' });
    const a = first.connack.properties?.assignedClientIdentifier;
    const b = second.connack.properties?.assignedClientIdentifier;
    expect(a).toMatch(/^pm-/);
    expect(b).toMatch(/^pm-/);
    expect(a).not.toBe(b);
  });

  it('[MQTT-3.1.3-8] refuses an empty 3.1.1 client id with clean session 0 (0x02) and closes', async () => {
    const h = await start();
    const client = h.open(4);
    // mqtt-packet will not encode this CONNECT: "MQTT", level 4, flags 0x00, keep alive 0, client id "".
    client.write([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00]);
    const connack = await client.next('connack');
    expect(connack.returnCode).toBe(ConnectReturn.IdentifierRejected);
    await client.waitClosed();
  });

  it('accepts an empty 3.1.1 client id with clean session 1', async () => {
    const h = await start();
    const { connack } = await h.connect({ version: 4, clientId: '', clean: true });
    expect(connack.returnCode).toBe(ConnectReturn.Accepted);
  });

  it('[MQTT-3.2.2-?] caps a Session Expiry Interval above MQTT_MAX_SESSION_EXPIRY and says so in CONNACK', async () => {
    const h = await start({ maxSessionExpiry: 600 });
    const { connack } = await h.connect({
      version: 5,
      clientId: 'keeper',
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
    });
    expect(connack.reasonCode).toBe(Reason.Success);
    expect(connack.sessionPresent).toBe(false);
    expect(connack.properties?.sessionExpiryInterval).toBe(600);
    const within = await h.connect({ version: 5, clientId: 'short', properties: { sessionExpiryInterval: 60 } });
    expect(within.connack.properties?.sessionExpiryInterval).toBeUndefined();
  });

  it('caps the keep alive of an MQTT 5 client with Server Keep Alive', async () => {
    const h = await start({ maxKeepalive: 30 });
    const capped = await h.connect({ version: 5, keepalive: 600 });
    expect(capped.connack.properties?.serverKeepAlive).toBe(30);
    const zero = await h.connect({ version: 5, keepalive: 0 });
    expect(zero.connack.properties?.serverKeepAlive).toBe(30);
    const within = await h.connect({ version: 5, keepalive: 20 });
    expect(within.connack.properties?.serverKeepAlive).toBeUndefined();
  });

  it('refuses every client when anonymous access is off (0x05 / 0x87)', async () => {
    const h = await start({ allowAnonymous: false });
    const v4 = await h.connect({ version: 4 });
    expect(v4.connack.returnCode).toBe(ConnectReturn.NotAuthorized);
    await v4.client.waitClosed();
    const v5 = await h.connect({ version: 5, username: 'someone' });
    expect(v5.connack.reasonCode).toBe(Reason.NotAuthorized);
    await v5.client.waitClosed();
  });

  it('refuses MQTT 5 enhanced authentication with 0x8C', async () => {
    const h = await start();
    const { client, connack } = await h.connect({ version: 5, properties: { authenticationMethod: 'SCRAM-SHA-1' } });
    expect(connack.reasonCode).toBe(Reason.BadAuthenticationMethod);
    await client.waitClosed();
  });

  it('[MQTT-3.1.2-2] refuses an unknown older protocol level with the 3.1.1 CONNACK 0x01', async () => {
    const h = await start();
    const client = h.open(4);
    // CONNECT, protocol name "MQTT", level 2, flags 0x02, keep alive 0, client id "x".
    client.write([0x10, 0x0d, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x02, 0x02, 0x00, 0x00, 0x00, 0x01, 0x78]);
    const connack = await client.next('connack');
    expect(connack.returnCode).toBe(ConnectReturn.UnacceptableProtocolVersion);
    await client.waitClosed();
  });

  it('[MQTT-3.1.2-2] refuses a newer protocol level with the MQTT 5 CONNACK 0x84', async () => {
    const h = await start();
    const client = h.open(5);
    // CONNECT, "MQTT", level 6, flags 0x02, keep alive 0, properties 0, client id "x".
    client.write([0x10, 0x0e, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x06, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x78]);
    const connack = await client.next('connack');
    expect(connack.reasonCode).toBe(Reason.UnsupportedProtocolVersion);
    await client.waitClosed();
  });

  it('[MQTT-3.1.0-1] closes a connection whose first packet is not CONNECT, without a reply', async () => {
    const h = await start();
    const client = h.open(4);
    client.send({ cmd: 'pingreq' });
    expect(await client.waitClosed()).toEqual([]);
    expect(await h.metrics.render()).toMatch(
      /protomesh_protocol_errors_total\{[^}]*code="PM_MQTT_PROTOCOL_ERROR"[^}]*\} 1/,
    );
  });

  it('[MQTT-3.1.0-1] closes a connection that sends no CONNECT within the connect timeout', async () => {
    const h = await start({ connectTimeoutMs: 150 });
    const client = h.open(4);
    const started = Date.now();
    await client.waitClosed();
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });

  it('[MQTT-3.1.0-2] treats a second CONNECT as a protocol error (MQTT 5: DISCONNECT 0x82)', async () => {
    const h = await start();
    const { client } = await h.connect({ version: 5, clientId: 'twice' });
    client.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 5,
      clientId: 'twice',
      clean: true,
      keepalive: 0,
    });
    const rest = await client.waitClosed();
    expect(rest).toEqual([expect.objectContaining({ cmd: 'disconnect', reasonCode: Reason.ProtocolError })]);
  });

  it('[MQTT-3.1.0-2] closes an MQTT 3.1.1 connection that sends a second CONNECT', async () => {
    const h = await start();
    const { client } = await h.connect({ version: 4, clientId: 'twice-4' });
    client.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clientId: 'twice-4',
      clean: true,
      keepalive: 0,
    });
    expect(await client.waitClosed()).toEqual([]);
  });

  it('[MQTT-3.1.4-3] a second connection with the same client id takes over (MQTT 5: DISCONNECT 0x8E)', async () => {
    const h = await start();
    const first = await h.connect({ version: 5, clientId: 'same' });
    const second = await h.connect({ version: 5, clientId: 'same' });
    expect(second.connack.reasonCode).toBe(Reason.Success);
    const rest = await first.client.waitClosed();
    expect(rest).toEqual([expect.objectContaining({ cmd: 'disconnect', reasonCode: Reason.SessionTakenOver })]);
    second.client.send({ cmd: 'pingreq' });
    await second.client.next('pingresp');
    expect(second.client.isClosed).toBe(false);
  });

  it('[MQTT-3.1.4-3] takes over an MQTT 3.1.1 connection by closing it', async () => {
    const h = await start();
    const first = await h.connect({ version: 4, clientId: 'same-4' });
    await h.connect({ version: 4, clientId: 'same-4' });
    expect(await first.client.waitClosed()).toEqual([]);
  });

  it('counts open connections by protocol version', async () => {
    const h = await start();
    await h.connect({ version: 4 });
    const { client } = await h.connect({ version: 5 });
    const text = await h.metrics.render();
    expect(text).toMatch(/protomesh_connections\{[^}]*version="3\.1\.1"[^}]*\} 1/);
    expect(text).toMatch(/protomesh_connections\{[^}]*version="5\.0"[^}]*\} 1/);
    client.send({ cmd: 'disconnect', reasonCode: 0 });
    await client.waitClosed();
    expect(await h.metrics.render()).toMatch(/protomesh_connections\{[^}]*version="5\.0"[^}]*\} 0/);
  });
});

describe('keep alive', () => {
  it('[MQTT-3.1.2-22] closes an MQTT 5 client silent for 1.5 x keep alive with DISCONNECT 0x8D', async () => {
    const h = await start();
    const { client } = await h.connect({ version: 5, keepalive: 1 });
    const started = Date.now();
    const rest = await client.waitClosed(4_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_300);
    expect(rest).toEqual([expect.objectContaining({ cmd: 'disconnect', reasonCode: Reason.KeepAliveTimeout })]);
    expect(await h.metrics.render()).toMatch(/code="PM_MQTT_KEEPALIVE_TIMEOUT"/);
  });

  it('[MQTT-3.1.2-24] (v3.1.1) keeps a pinging client and closes a silent one', async () => {
    const h = await start();
    const pinging = await h.connect({ version: 4, keepalive: 1 });
    const silent = await h.connect({ version: 4, keepalive: 1 });
    const timer = setInterval(() => pinging.client.send({ cmd: 'pingreq' }), 400);
    try {
      expect(await silent.client.waitClosed(4_000)).toEqual([]);
      expect(pinging.client.isClosed).toBe(false);
      expect(pinging.client.unread().some((p) => p.cmd === 'pingresp')).toBe(true);
    } finally {
      clearInterval(timer);
    }
  });
});

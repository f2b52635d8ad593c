import { layoutStem } from '@protomesh/backbone';
import { waitFor } from '@protomesh/test-support';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectReturn, Reason } from '../../src/index.js';
import { sessionConsumerName } from '../../src/session/record.js';
import { type Harness, startHarness } from '../helpers/harness.js';
import { publish, publishAcked, receive, subscribe } from '../helpers/packets.js';

let harness: Harness | undefined;

/** The durable consumer names of a stored session. */
async function sessionConsumers(h: Harness, clientId: string): Promise<string[]> {
  const kv = await h.backbone.kv(h.layout.buckets.sessions);
  const entry = await kv.get(`s.${clientId}`);
  if (!entry) return [];
  const record = JSON.parse(new TextDecoder().decode(entry.value)) as {
    gen: string;
    subs: Record<string, { from?: Record<string, number> }>;
  };
  return Object.values(record.subs).flatMap((sub) =>
    Object.keys(sub.from ?? {}).map((subject) => sessionConsumerName(layoutStem(h.prefix), record.gen, subject)),
  );
}
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

/** An MQTT 5 connection that keeps its session (Clean Start 0, Session Expiry 60 s). */
function persistentV5(h: Harness, clientId: string) {
  return h.connect({ version: 5, clientId, clean: false, properties: { sessionExpiryInterval: 60 } });
}

async function start(options: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  harness = await startHarness(options);
  return harness;
}

describe('persistent sessions', () => {
  it('[MQTT-3.1.2-4] [MQTT-3.2.2-2] 3.1.1 clean session 0: subscriptions and QoS 1/2 messages survive a disconnect', async () => {
    const h = await start();
    const first = await h.connect({ version: 4, clientId: 'meter-1', clean: false });
    expect(first.connack.sessionPresent).toBe(false);
    expect(await subscribe(first.client, 'meters/1/#', 2)).toEqual([2]);
    first.client.end();
    await first.client.waitClosed();

    const { client: pub } = await h.connect({ version: 5 });
    await publishAcked(pub, 'meters/1/kwh', 'a');
    publish(pub, 'meters/1/kwh', 'b', 2);
    await pub.next('pubrec');
    publish(pub, 'meters/1/kwh', 'dropped: qos 0 is not kept', 0);

    const again = await h.connect({ version: 4, clientId: 'meter-1', clean: false });
    expect(again.connack.sessionPresent).toBe(true);
    const a = await receive(again.client);
    const b = await receive(again.client);
    expect([a.payload.toString(), a.qos, b.payload.toString(), b.qos]).toEqual(['a', 1, 'b', 2]);
    // The subscription itself survived: live messages keep coming.
    await publishAcked(pub, 'meters/1/volts', 'c');
    expect((await receive(again.client)).payload.toString()).toBe('c');
  });

  it('[MQTT-3.1.2-4] [MQTT-3.1.2-6] clean session 1 / Clean Start 1 discards the stored session', async () => {
    const h = await start();
    const first = await persistentV5(h, 'fresh');
    await subscribe(first.client, 'fresh/#', 1);
    const durables = await sessionConsumers(h, 'fresh');
    expect(durables).toHaveLength(2); // fresh and fresh.>
    for (const durable of durables)
      expect(await h.backbone.consumerState(h.layout.streams.mqtt.name, durable)).toBeDefined();
    first.client.end();
    await first.client.waitClosed();
    const { client: pub } = await h.connect({ version: 4 });
    await publishAcked(pub, 'fresh/1', 'old');
    const clean = await h.connect({
      version: 5,
      clientId: 'fresh',
      clean: true,
      properties: { sessionExpiryInterval: 60 },
    });
    expect(clean.connack.sessionPresent).toBe(false);
    await publishAcked(pub, 'fresh/2', 'new');
    await subscribe(clean.client, 'probe', 0);
    publish(pub, 'probe', 'p');
    expect((await clean.client.next('publish')).topic).toBe('probe');
    // The old session's durable consumers are gone.
    for (const durable of durables)
      expect(await h.backbone.consumerState(h.layout.streams.mqtt.name, durable)).toBeUndefined();
  });

  it('[MQTT-3.1.2-23] MQTT 5: the session ends when its Session Expiry Interval has passed', async () => {
    const h = await start();
    const first = await h.connect({
      version: 5,
      clientId: 'brief',
      clean: false,
      properties: { sessionExpiryInterval: 1 },
    });
    await subscribe(first.client, 'brief/#', 1);
    first.client.end();
    await first.client.waitClosed();
    const { client: pub } = await h.connect({ version: 4 });
    await publishAcked(pub, 'brief/x', 'too late');
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const again = await h.connect({
      version: 5,
      clientId: 'brief',
      clean: false,
      properties: { sessionExpiryInterval: 1 },
    });
    expect(again.connack.sessionPresent).toBe(false);
    await subscribe(again.client, 'probe', 0);
    publish(pub, 'probe', 'p');
    expect((await again.client.next('publish')).topic).toBe('probe');
  });

  it('MQTT 5 Session Expiry Interval 0 (the default) ends the session with the connection', async () => {
    const h = await start();
    const first = await h.connect({ version: 5, clientId: 'zero', clean: false });
    await subscribe(first.client, 'zero/#', 1);
    first.client.end();
    await first.client.waitClosed();
    const again = await h.connect({ version: 5, clientId: 'zero', clean: false });
    expect(again.connack.sessionPresent).toBe(false);
  });

  it('a session resumed with Session Expiry 0 delivers what was queued, then ends with the connection', async () => {
    const h = await start();
    const first = await persistentV5(h, 'last-visit');
    await subscribe(first.client, 'visit', 1);
    const durables = await sessionConsumers(h, 'last-visit');
    first.client.end();
    await first.client.waitClosed();
    const { client: pub } = await h.connect({ version: 4 });
    await publishAcked(pub, 'visit', 'queued');
    const last = await h.connect({ version: 5, clientId: 'last-visit', clean: false });
    expect(last.connack.sessionPresent).toBe(true);
    expect((await receive(last.client)).payload.toString()).toBe('queued');
    last.client.end();
    await last.client.waitClosed();
    await waitFor(async () => {
      const states = await Promise.all(durables.map((d) => h.backbone.consumerState(h.layout.streams.mqtt.name, d)));
      return states.every((state) => state === undefined);
    }, 'the consumers to be deleted');
    const again = await persistentV5(h, 'last-visit');
    expect(again.connack.sessionPresent).toBe(false);
  });

  it('the sweeper deletes an expired session and its durable consumers', async () => {
    const h = await start({ sweepIntervalMs: 100 });
    const first = await h.connect({
      version: 5,
      clientId: 'swept',
      clean: false,
      properties: { sessionExpiryInterval: 1 },
    });
    await subscribe(first.client, 'swept', 1);
    const kv = await h.backbone.kv(h.layout.buckets.sessions);
    const [durable] = await sessionConsumers(h, 'swept');
    expect(await h.backbone.consumerState(h.layout.streams.mqtt.name, durable!)).toBeDefined();
    first.client.end();
    await first.client.waitClosed();
    await waitFor(async () => (await kv.get('s.swept')) === undefined, 'the record to go', 5_000);
    await waitFor(
      async () => (await h.backbone.consumerState(h.layout.streams.mqtt.name, durable!)) === undefined,
      'the consumer to go',
    );
  });

  it('[MQTT-4.4.0-1] resends an unacknowledged QoS 1 message with DUP when the session resumes', async () => {
    const h = await start();
    const first = await h.connect({ version: 4, clientId: 'dup-1', clean: false });
    await subscribe(first.client, 'dup/1', 1);
    const { client: pub } = await h.connect({ version: 4 });
    await publishAcked(pub, 'dup/1', 'once');
    const unacked = await first.client.next('publish');
    expect(unacked.dup).toBe(false);
    first.client.end(); // no PUBACK
    await first.client.waitClosed();
    const again = await h.connect({ version: 4, clientId: 'dup-1', clean: false });
    const resent = await again.client.next('publish');
    expect(resent).toMatchObject({ topic: 'dup/1', qos: 1, dup: true });
    expect(resent.payload.toString()).toBe('once');
    // docs/telemetry.md: a JetStream redelivery is counted.
    expect(await h.metrics.render()).toMatch(
      /protomesh_jetstream_redeliveries_total\{[^}]*consumer="session"[^}]*\} 1/,
    );
  });

  it('[MQTT-4.4.0-1] a resent QoS 1 message keeps its packet identifier', async () => {
    const h = await start();
    const first = await h.connect({
      version: 5,
      clientId: 'dup-ids',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    await subscribe(first.client, 'ids/#', 1);
    const { client: pub } = await h.connect({ version: 5 });
    for (const n of [1, 2, 3]) await publishAcked(pub, `ids/${n}`, String(n));
    const got = [
      await first.client.next('publish'),
      await first.client.next('publish'),
      await first.client.next('publish'),
    ];
    // Acknowledge the first two only: a fresh sequential allocation would give the third identifier 1.
    first.client.send({ cmd: 'puback', messageId: got[0]!.messageId! });
    first.client.send({ cmd: 'puback', messageId: got[1]!.messageId! });
    await publishAcked(pub, 'ids/sync', 'sync');
    expect((await first.client.next('publish')).topic).toBe('ids/sync');
    first.client.end();
    await first.client.waitClosed();
    const again = await h.connect({
      version: 5,
      clientId: 'dup-ids',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    const resent = [await again.client.next('publish'), await again.client.next('publish')];
    expect(resent.map((p) => p.topic)).toEqual(['ids/3', 'ids/sync']);
    expect(resent[0]).toMatchObject({ dup: true, messageId: got[2]!.messageId });
    expect(new Set(resent.map((p) => p.messageId)).size).toBe(2);
  });

  it('[MQTT-4.4.0-1] QoS 2 out: an unanswered PUBLISH comes back with its packet identifier and DUP; after PUBREC only PUBREL', async () => {
    const h = await start();
    const first = await persistentV5(h, 'q2');
    await subscribe(first.client, 'q2/#', 2);
    const { client: pub } = await h.connect({ version: 5 });
    publish(pub, 'q2/a', 'A', 2);
    publish(pub, 'q2/b', 'B', 2);
    const a = await first.client.next('publish');
    const b = await first.client.next('publish');
    first.client.send({ cmd: 'pubrec', messageId: a.messageId! }); // A: received, PUBREL pending
    expect((await first.client.next('pubrel')).messageId).toBe(a.messageId);
    first.client.end(); // B: never answered
    await first.client.waitClosed();

    const again = await persistentV5(h, 'q2');
    expect(again.connack.sessionPresent).toBe(true);
    const pubrel = await again.client.next('pubrel');
    expect(pubrel.messageId).toBe(a.messageId);
    again.client.send({ cmd: 'pubcomp', messageId: a.messageId! });
    const resent = await again.client.next('publish');
    expect(resent).toMatchObject({ topic: 'q2/b', qos: 2, dup: true, messageId: b.messageId });
    again.client.send({ cmd: 'pubrec', messageId: resent.messageId! });
    expect((await again.client.next('pubrel')).messageId).toBe(b.messageId);
    again.client.send({ cmd: 'pubcomp', messageId: resent.messageId! });
    // Nothing else: a probe is the next packet.
    await subscribe(again.client, 'probe', 0);
    publish(pub, 'probe', 'p');
    expect((await again.client.next('publish')).topic).toBe('probe');
  });

  it('QoS 2 in: a PUBLISH resent after a reconnect is acknowledged, not stored twice, and PUBREL completes it', async () => {
    const h = await start();
    const { client: sub } = await h.connect({ version: 4 });
    await subscribe(sub, 'in2/#', 2);
    const first = await persistentV5(h, 'sender');
    first.client.send({
      cmd: 'publish',
      topic: 'in2/x',
      payload: 'exactly once',
      qos: 2,
      messageId: 77,
      retain: false,
      dup: false,
    });
    expect((await first.client.next('pubrec')).messageId).toBe(77);
    first.client.end(); // PUBREL never sent on this connection
    await first.client.waitClosed();
    const again = await persistentV5(h, 'sender');
    again.client.send({
      cmd: 'publish',
      topic: 'in2/x',
      payload: 'exactly once',
      qos: 2,
      messageId: 77,
      retain: false,
      dup: true,
    });
    expect((await again.client.next('pubrec')).messageId).toBe(77);
    again.client.send({ cmd: 'pubrel', messageId: 77 });
    expect(await again.client.next('pubcomp')).toMatchObject({ messageId: 77, reasonCode: Reason.Success });
    // The identifier is free again: a new message with id 77 is a new message.
    again.client.send({
      cmd: 'publish',
      topic: 'in2/x',
      payload: 'second',
      qos: 2,
      messageId: 77,
      retain: false,
      dup: false,
    });
    expect((await again.client.next('pubrec')).messageId).toBe(77);
    again.client.send({ cmd: 'pubrel', messageId: 77 });
    await again.client.next('pubcomp');
    const one = await sub.next('publish');
    const two = await sub.next('publish');
    expect([one.payload.toString(), two.payload.toString()]).toEqual(['exactly once', 'second']);
    expect(one.messageId).not.toBe(two.messageId);
  });

  it('QoS 2 in: PUBREL alone after a reconnect completes a flow whose PUBREC was received', async () => {
    const h = await start();
    const first = await persistentV5(h, 'rel');
    first.client.send({
      cmd: 'publish',
      topic: 'rel/x',
      payload: 'x',
      qos: 2,
      messageId: 9,
      retain: false,
      dup: false,
    });
    await first.client.next('pubrec');
    first.client.end();
    await first.client.waitClosed();
    const again = await persistentV5(h, 'rel');
    again.client.send({ cmd: 'pubrel', messageId: 9 });
    expect(await again.client.next('pubcomp')).toMatchObject({ messageId: 9, reasonCode: Reason.Success });
  });

  it('[MQTT-3.1.3-8] refuses an empty 3.1.1 client id with clean session 0; MQTT 5 gets an assigned one it can resume', async () => {
    const h = await start();
    // (mqtt-packet will not encode an empty id with Clean Start 0; Clean Start 1 with an expiry keeps the session too.)
    const v5 = await h.connect({ version: 5, clientId: '', clean: true, properties: { sessionExpiryInterval: 60 } });
    const assigned = v5.connack.properties?.assignedClientIdentifier;
    expect(assigned).toMatch(/^pm-/);
    await subscribe(v5.client, 'assigned', 1);
    v5.client.end();
    await v5.client.waitClosed();
    const again = await h.connect({
      version: 5,
      clientId: assigned!,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    expect(again.connack.sessionPresent).toBe(true);
    const v4 = h.open(4);
    v4.write([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00]);
    expect((await v4.next('connack')).returnCode).toBe(ConnectReturn.IdentifierRejected);
  });

  it('[MQTT-3.14.2-2] MQTT 5 DISCONNECT may shorten the Session Expiry Interval to 0, ending the session', async () => {
    const h = await start();
    const first = await h.connect({
      version: 5,
      clientId: 'short',
      clean: false,
      properties: { sessionExpiryInterval: 600 },
    });
    await subscribe(first.client, 'short', 1);
    first.client.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
    await first.client.waitClosed();
    const again = await h.connect({
      version: 5,
      clientId: 'short',
      clean: false,
      properties: { sessionExpiryInterval: 600 },
    });
    expect(again.connack.sessionPresent).toBe(false);
    const zero = await h.connect({ version: 5, clientId: 'was-zero', clean: true });
    zero.client.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 30 } });
    expect(await zero.client.waitClosed()).toEqual([expect.objectContaining({ reasonCode: Reason.ProtocolError })]);
  });

  it('[MQTT-3.1.4-3] a second connection takes over a persistent session (0x8E) and gets its unacknowledged messages', async () => {
    const h = await start();
    const first = await persistentV5(h, 'twin');
    await subscribe(first.client, 'twin', 1);
    const { client: pub } = await h.connect({ version: 4 });
    await publishAcked(pub, 'twin', 'in flight');
    await first.client.next('publish'); // not acknowledged
    const second = await persistentV5(h, 'twin');
    expect(second.connack.sessionPresent).toBe(true);
    expect(await first.client.waitClosed()).toEqual([expect.objectContaining({ reasonCode: Reason.SessionTakenOver })]);
    const resent = await second.client.next('publish');
    expect(resent).toMatchObject({ topic: 'twin', dup: true });
  });
});

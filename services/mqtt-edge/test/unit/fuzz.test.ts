import { Writable } from 'node:stream';
import { createLogger } from '@protomesh/telemetry';
import fc from 'fast-check';
import { generate, type Packet } from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.js';
import type { TestClient } from '../helpers/mqtt-test-client.js';
import { publish, subscribe } from '../helpers/packets.js';

/** Valid packets of both versions to mutate: the fuzzer starts close to what the parser accepts. */
const SEEDS: Array<{ version: 4 | 5; packet: Packet }> = [
  {
    version: 5,
    packet: {
      cmd: 'publish',
      topic: 'f/x',
      payload: Buffer.from('p'),
      qos: 1,
      messageId: 3,
      retain: true,
      dup: false,
      properties: { topicAlias: 2, userProperties: { a: 'b' }, messageExpiryInterval: 9, payloadFormatIndicator: true },
    },
  },
  {
    version: 4,
    packet: {
      cmd: 'publish',
      topic: 'f/y',
      payload: Buffer.from('q'),
      qos: 2,
      messageId: 4,
      retain: false,
      dup: false,
    },
  },
  {
    version: 5,
    packet: {
      cmd: 'subscribe',
      messageId: 5,
      properties: { subscriptionIdentifier: 8 },
      subscriptions: [
        { topic: '$share/g/f/#', qos: 1, nl: false, rap: true, rh: 1 },
        { topic: 'f/+', qos: 2, nl: true, rap: false, rh: 2 },
      ],
    },
  },
  { version: 4, packet: { cmd: 'subscribe', messageId: 6, subscriptions: [{ topic: 'f/#', qos: 1 }] } },
  { version: 5, packet: { cmd: 'unsubscribe', messageId: 7, unsubscriptions: ['f/+', 'f/#'] } },
  { version: 5, packet: { cmd: 'pubrel', messageId: 4, reasonCode: 0 } },
  { version: 5, packet: { cmd: 'pubrec', messageId: 1, reasonCode: 0x10 } },
  {
    version: 5,
    packet: { cmd: 'disconnect', reasonCode: 4, properties: { sessionExpiryInterval: 5, reasonString: 'bye' } },
  },
  { version: 5, packet: { cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'x' } } },
  { version: 4, packet: { cmd: 'pingreq' } },
  {
    version: 5,
    packet: {
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 5,
      clientId: 'c',
      clean: false,
      keepalive: 5,
      properties: { sessionExpiryInterval: 3, receiveMaximum: 2, topicAliasMaximum: 3 },
      will: { topic: 'w', payload: Buffer.from('w'), qos: 1, retain: true, properties: { willDelayInterval: 1 } },
    },
  },
];

const CONNECTS = {
  4: generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: '', clean: true, keepalive: 0 }),
  5: generate(
    { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: '', clean: true, keepalive: 0 },
    { protocolVersion: 5 },
  ),
};

/** Random bytes, or a seed packet with bytes flipped, cut off, or inserted. */
const input = fc.oneof(
  fc.record({
    connected: fc.boolean(),
    version: fc.constantFrom(4 as const, 5 as const),
    bytes: fc.uint8Array({ maxLength: 64 }),
  }),
  fc
    .record({
      connected: fc.constant(true),
      seed: fc.integer({ min: 0, max: SEEDS.length - 1 }),
      flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      cut: fc.option(fc.nat()),
      insert: fc.option(fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 }))),
    })
    .map(({ connected, seed, flips, cut, insert }) => {
      const { version, packet } = SEEDS[seed]!;
      let bytes = Buffer.from(generate(packet, { protocolVersion: version }));
      for (const [at, value] of flips) bytes[at % bytes.length] = value;
      if (insert) {
        const at = insert[0] % bytes.length;
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(insert[1]), bytes.subarray(at)]);
      }
      if (cut !== null) bytes = bytes.subarray(0, Math.max(1, cut % bytes.length));
      return { connected, version, bytes: new Uint8Array(bytes) };
    }),
);

let h: Harness;
let neighbour: TestClient;
let publisher: TestClient;
let received = 0;
/** Error-level log lines: a handler that threw (a bug) logs one. */
const errors: string[] = [];

beforeAll(async () => {
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      errors.push(chunk.toString());
      callback();
    },
  });
  const logger = createLogger({ level: 'error', destination });
  h = await startHarness({ connectTimeoutMs: 500, maxPacketSize: 4_096, logger });
  neighbour = (await h.connect({ version: 5, clientId: 'neighbour' })).client;
  await subscribe(neighbour, 'steady', 0);
  neighbour.stream.on('data', () => {
    received = neighbour.received.filter((p) => p.cmd === 'publish').length;
  });
  publisher = (await h.connect({ version: 4, clientId: 'publisher' })).client;
});
afterAll(async () => {
  await h?.close();
});

describe('fuzzing', () => {
  it('random and mutated packets close only their own connection; a neighbour keeps receiving and new clients connect', async () => {
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(input, async ({ connected, version, bytes }) => {
        const client = h.open(version);
        if (connected) {
          client.write(CONNECTS[version]);
          await client.next('connack');
        }
        client.write(Buffer.from(bytes));
        publish(publisher, 'steady', `m${sent++}`);
        // Let the broker handle the bytes (and close the connection if it must).
        await new Promise((resolve) => setImmediate(resolve));
        client.stream.destroy();
        return true;
      }),
      { seed: 20_240_611, numRuns: 1_000 },
    );
    publish(publisher, 'steady', 'last');
    const last = async () => {
      for (;;) {
        const packet = await neighbour.next('publish');
        if (packet.payload.toString() === 'last') return packet;
      }
    };
    expect((await last()).topic).toBe('steady');
    expect(received).toBe(sent + 1);
    const { connack } = await h.connect({ version: 5, clientId: 'after-fuzz' });
    expect(connack.reasonCode).toBe(0);
    expect(neighbour.isClosed).toBe(false);
    expect(errors).toEqual([]);
  });
});

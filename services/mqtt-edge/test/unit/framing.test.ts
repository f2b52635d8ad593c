import { generate } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { connectProtocolLevel, PacketFramer } from '../../src/framing.js';

function collect(framer: PacketFramer, chunks: Buffer[]) {
  const packets: Buffer[] = [];
  let problem: ReturnType<PacketFramer['push']>;
  for (const chunk of chunks) {
    problem = framer.push(chunk, (packet) => {
      packets.push(Buffer.from(packet));
      return true;
    });
    if (problem) break;
  }
  return { packets, problem };
}

describe('PacketFramer', () => {
  const ping = generate({ cmd: 'pingreq' });
  const publish = generate({
    cmd: 'publish',
    topic: 't/1',
    payload: Buffer.alloc(200, 1),
    qos: 0,
    retain: false,
    dup: false,
  });

  it('splits packets that share a chunk', () => {
    const { packets, problem } = collect(new PacketFramer(1024), [Buffer.concat([ping, publish, ping])]);
    expect(problem).toBeUndefined();
    expect(packets).toEqual([ping, publish, ping]);
  });

  it('reassembles packets delivered one byte at a time', () => {
    const all = Buffer.concat([publish, ping, publish]);
    const chunks = [...all].map((byte) => Buffer.from([byte]));
    const { packets } = collect(new PacketFramer(1024), chunks);
    expect(packets).toEqual([publish, ping, publish]);
  });

  it('refuses a packet over the limit as soon as the Remaining Length is known', () => {
    // 0x30 then Remaining Length 10,000,000 (four bytes); no body follows.
    const { packets, problem } = collect(new PacketFramer(1024 * 1024), [Buffer.from([0x30, 0x80, 0xad, 0xe2, 0x04])]);
    expect(packets).toEqual([]);
    expect(problem).toEqual({ kind: 'too-large', size: 10_000_005 });
  });

  it('counts the fixed header in the size limit', () => {
    expect(collect(new PacketFramer(publish.length), [publish]).problem).toBeUndefined();
    expect(collect(new PacketFramer(publish.length - 1), [publish]).problem).toMatchObject({ kind: 'too-large' });
  });

  it('[MQTT-1.5.5-1] refuses a Remaining Length of more than four bytes', () => {
    const { problem } = collect(new PacketFramer(1024), [Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f])]);
    expect(problem).toMatchObject({ kind: 'malformed' });
  });

  it('stops when the consumer says so', () => {
    const framer = new PacketFramer(1024);
    let seen = 0;
    framer.push(Buffer.concat([ping, ping, ping]), () => {
      seen += 1;
      return false;
    });
    expect(seen).toBe(1);
  });
});

describe('connectProtocolLevel', () => {
  it('reads the level byte of a CONNECT', () => {
    for (const version of [3, 4, 5] as const) {
      const bytes = generate(
        {
          cmd: 'connect',
          protocolId: version === 3 ? 'MQIsdp' : 'MQTT',
          protocolVersion: version,
          clientId: 'c',
          clean: true,
          keepalive: 10,
        },
        { protocolVersion: version },
      );
      expect(connectProtocolLevel(bytes)).toBe(version);
    }
  });

  it('is undefined for a packet too short to say', () => {
    expect(connectProtocolLevel(Buffer.from([0x10, 0x03, 0x00, 0x04, 0x4d]))).toBeUndefined();
  });
});

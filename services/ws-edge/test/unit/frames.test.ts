import { describe, expect, it } from 'vitest';
import { FrameSet, type FrameSink } from '../../src/frames.js';

function sinks(count: number, binary: boolean) {
  const written: Buffer[] = [];
  const list: FrameSink[] = Array.from({ length: count }, () => ({
    binary,
    write: (frame: Buffer) => {
      written.push(frame);
      return true;
    },
  }));
  return { list, written };
}

describe('FrameSet: a message is serialized once per fan-out, not once per client', () => {
  it('hands every text subscriber the same encoded frame', () => {
    const frames = new FrameSet({ sub: 'a/+', topic: 'a/b', qos: 1, payload: Buffer.from('21.5'), seq: 9 });
    const { list, written } = sinks(1_000, false);
    for (const sink of list) frames.writeTo(sink);
    expect(written).toHaveLength(1_000);
    expect(new Set(written).size).toBe(1);
    expect(JSON.parse(written[0]!.toString())).toMatchObject({ op: 'msg', topic: 'a/b', text: '21.5', seq: 9 });
  });

  it('encodes a binary payload once for binary subscribers and once for text ones', () => {
    const payload = Buffer.from([0xff, 0x00, 0xfe]);
    const frames = new FrameSet({ sub: '#', topic: 'bin', qos: 0, payload });
    const binary = sinks(100, true);
    const text = sinks(100, false);
    for (let i = 0; i < 100; i++) {
      frames.writeTo(binary.list[i]!);
      frames.writeTo(text.list[i]!);
    }
    expect(new Set(binary.written).size).toBe(1);
    expect(new Set(text.written).size).toBe(1);
    expect(binary.written[0]!.subarray(-3)).toEqual(payload);
    expect(JSON.parse(text.written[0]!.toString())).toMatchObject({ b64: payload.toString('base64') });
  });
});

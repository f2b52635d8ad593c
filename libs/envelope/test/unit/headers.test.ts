import { decodeMeta, encodeMeta, HEADER, headerValue, isBridged, type MessageMeta } from '@protomesh/envelope';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

describe('envelope headers', () => {
  it('round-trips every field, keeping user property order and repeats', () => {
    const meta: MessageMeta = {
      originTier: 'mqtt',
      originClient: 'sensor 7/ü',
      qos: 2,
      retain: true,
      contentType: 'application/json; charset=utf-8',
      payloadFormat: 1,
      expiresAt: 1_800_000_000_000,
      publishedAt: 1_799_999_999_000,
      userProperties: [
        ['b', '1'],
        ['a', 'x=y\r\nz'],
        ['b', '2'],
      ],
      responseTopic: 'reply/to me',
      correlationData: new Uint8Array([0, 255, 10, 13]),
      route: 'r1',
      hops: 1,
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      tracestate: 'congo=t61rcWkgMzE',
    };
    expect(decodeMeta(encodeMeta(meta))).toEqual(meta);
  });

  it('writes header values with no CR, LF or non-ASCII characters', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (name, value) => {
        for (const [, v] of encodeMeta({
          originClient: value,
          userProperties: [[name, value]],
          responseTopic: value,
        })) {
          expect(v).toMatch(/^[\x20-\x7e]*$/);
        }
      }),
    );
  });

  it('ignores malformed and unknown headers from plain NATS publishers', () => {
    const meta = decodeMeta([
      ['Mesh-QoS', '7'],
      ['Mesh-Expires-At', 'soon'],
      ['X-Other', 'v'],
      ['mesh-client', '%E0%A4%A'],
    ]);
    expect(meta).toEqual({ originClient: '%E0%A4%A' });
    expect(decodeMeta(undefined)).toEqual({});
  });

  it('finds headers case-insensitively and recognises bridged messages', () => {
    expect(headerValue([['content-type', 'text/plain']], HEADER.contentType)).toBe('text/plain');
    expect(isBridged(encodeMeta({ hops: 1 }))).toBe(true);
    expect(isBridged(encodeMeta({ qos: 1 }))).toBe(false);
  });
});

describe('decodeMeta on frozen header arrays', () => {
  it('returns the same frozen metadata for the same array, and decodes other arrays afresh', () => {
    const a = Object.freeze(encodeMeta({ originTier: 'mqtt', originClient: 'a', qos: 0, publishedAt: 1 }));
    const b = Object.freeze(encodeMeta({ originTier: 'ws', originClient: 'b', qos: 1, userProperties: [['k', 'v']] }));
    const first = decodeMeta(a);
    expect(decodeMeta(a)).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(decodeMeta(b)).toEqual({ originTier: 'ws', originClient: 'b', qos: 1, userProperties: [['k', 'v']] });
    expect(decodeMeta(a)).toEqual({ originTier: 'mqtt', originClient: 'a', qos: 0, publishedAt: 1 });
    // A mutable array is decoded every time (it may have changed).
    const mutable = encodeMeta({ qos: 1 });
    expect(decodeMeta(mutable)).toEqual({ qos: 1 });
    mutable[0] = [HEADER.qos, '2'];
    expect(decodeMeta(mutable)).toEqual({ qos: 2 });
  });
});

import { decodeKey, encodeKey } from '@protomesh/backbone';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

/** NATS KV key rule, plus "one token" (no dot) for an encoded id. */
const KV_TOKEN = /^[-/_=a-zA-Z0-9]+$/;

describe('encodeKey / decodeKey', () => {
  it('keeps plain ids readable and escapes everything else', () => {
    expect(encodeKey('device-42_A')).toBe('device-42_A');
    expect(encodeKey('a.b')).toBe('a=2Eb');
    expect(encodeKey('a/b c')).toBe('a=2Fb=20c');
    expect(encodeKey('=')).toBe('=3D');
    expect(encodeKey('é')).toBe('=C3=A9');
    expect(encodeKey('')).toBe('=');
  });

  it('round-trips any well-formed string into one valid KV key token', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (id) => {
        const key = encodeKey(id);
        expect(key).toMatch(KV_TOKEN);
        expect(decodeKey(key)).toBe(id);
      }),
    );
    for (const id of ['\uFEFFbom', '\u0000', '💡', 'a\r\nb', '..', '*', '>', ' ']) {
      expect(decodeKey(encodeKey(id))).toBe(id);
    }
  });

  it('is one-to-one: keys encodeKey never produces are refused', () => {
    for (const key of ['', '=41', '=c3=a9', '=C3', '=ZZ', 'a.b', 'a b', '=2', '==']) {
      expect(() => decodeKey(key)).toThrow(expect.objectContaining({ code: 'PM_KV_KEY_INVALID' }));
    }
    expect(() => encodeKey('\uD800')).toThrow(expect.objectContaining({ code: 'PM_KV_KEY_INVALID' }));
  });
});

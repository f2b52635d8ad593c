import { bridgedHeaders, verdict } from '@protomesh/bridge';
import { decodeMeta, encodeMeta, HEADER } from '@protomesh/envelope';
import { describe, expect, it } from 'vitest';

describe('forwarding rules', () => {
  it('keeps the source headers in order and adds the route and one hop', () => {
    const source = [
      ...encodeMeta({ originTier: 'mqtt', originClient: 'dev 1', qos: 1 }),
      ['X-App', 'v'] as [string, string],
    ];
    const headers = bridgedHeaders(source, 'mqtt->ws');
    expect(headers.slice(0, source.length)).toEqual(source);
    expect(decodeMeta(headers)).toMatchObject({
      originTier: 'mqtt',
      originClient: 'dev 1',
      qos: 1,
      route: 'mqtt->ws',
      hops: 1,
    });
  });

  it('appends to an existing route list and increments hops, writing each once', () => {
    const headers = bridgedHeaders(
      [
        [HEADER.route, 'a'],
        ['mesh-hops', '2'],
        ['X', 'y'],
      ],
      'b',
    );
    expect(headers).toEqual([
      ['X', 'y'],
      [HEADER.route, 'a,b'],
      [HEADER.hops, '3'],
    ]);
  });

  it('headerless messages get route and hops only', () => {
    expect(bridgedHeaders(undefined, 'r')).toEqual([
      [HEADER.route, 'r'],
      [HEADER.hops, '1'],
    ]);
  });

  it('never bridges a bridged message; drops expired ones', () => {
    const now = 1_000_000;
    expect(verdict(undefined, now)).toBe('bridge');
    expect(verdict(encodeMeta({ hops: 1 }), now)).toBe('skipped_loop');
    expect(verdict(encodeMeta({ route: 'x' }), now)).toBe('skipped_loop');
    expect(verdict(encodeMeta({ expiresAt: now - 1 }), now)).toBe('expired');
    expect(verdict(encodeMeta({ expiresAt: now + 1 }), now)).toBe('bridge');
  });
});

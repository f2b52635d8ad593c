/**
 * The wire pieces of the fast NATS append: the header block it writes by hand must be what
 * nats.js would write, and the PubAck fast path must read what the server sends or step aside.
 */
import { headers as natsHeaders } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { parseCommonAck } from '../../src/nats/appender.js';
import { headerBlock } from '../../src/nats/headers.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

describe('headerBlock', () => {
  it('writes the block nats.js writes for the same headers, msgId and expected stream', () => {
    const entries = [
      ['Pm-Origin', 'mqtt'],
      ['Pm-Qos', ' 1 '],
      ['X-Multi', 'a'],
      ['X-Multi', 'b'],
    ] as const;
    const h = natsHeaders();
    for (const [name, value] of entries) h.append(name, value);
    h.set('Nats-Msg-Id', 'm-1');
    h.set('Nats-Expected-Stream', 'ORDERS');
    const wire = headerBlock(entries, 'm-1', 'ORDERS');
    expect(decoder.decode(wire)).toBe(h.toString());
  });

  it('lets msgId and expectStream replace same-named headers, as nats.js `set` does', () => {
    const wire = headerBlock(
      [
        ['Nats-Msg-Id', 'from-headers'],
        ['Nats-Expected-Stream', 'OTHER'],
        ['X-K', 'v'],
      ],
      'from-options',
      'ORDERS',
    );
    expect(decoder.decode(wire)).toBe(
      'NATS/1.0\r\nX-K: v\r\nNats-Msg-Id: from-options\r\nNats-Expected-Stream: ORDERS\r\n\r\n',
    );
  });

  it('keeps such headers when the options do not name them, and sends nothing when there is nothing', () => {
    expect(decoder.decode(headerBlock([['Nats-Msg-Id', 'h']]))).toBe('NATS/1.0\r\nNats-Msg-Id: h\r\n\r\n');
    expect(headerBlock(undefined)).toBeUndefined();
    expect(headerBlock([])).toBeUndefined();
  });
});

describe('parseCommonAck', () => {
  const ack = (json: string) => parseCommonAck(encoder.encode(json));

  it('reads the acks nats-server writes for a stored and a duplicate message', () => {
    expect(ack('{"stream":"ORDERS","seq":42}')).toEqual({ stream: 'ORDERS', seq: 42, duplicate: false });
    expect(ack('{"stream":"ORDERS","seq":7,"duplicate":true}')).toEqual({ stream: 'ORDERS', seq: 7, duplicate: true });
    expect(ack('{"stream":"ÉTÉ","seq":9007199254740991}')).toEqual({
      stream: 'ÉTÉ',
      seq: Number.MAX_SAFE_INTEGER,
      duplicate: false,
    });
  });

  it('decodes a new stream name after another one (the last name is cached)', () => {
    expect(ack('{"stream":"A","seq":1}')?.stream).toBe('A');
    expect(ack('{"stream":"B","seq":1}')?.stream).toBe('B');
    expect(ack('{"stream":"A","seq":2}')?.stream).toBe('A');
  });

  it('steps aside for errors and any other shape, so JSON.parse reads them', () => {
    for (const other of [
      '{"error":{"code":400,"err_code":10060,"description":"expected stream does not match"}}',
      '{"stream":"S","seq":1,"domain":"hub"}',
      '{"stream":"A\\u003cB","seq":1}',
      '{"stream":"A\\"B","seq":1}',
      '{"stream":"S","seq":1,"duplicate":false}',
      '{"stream":"S","seq":}',
      '{"stream":"S","seq":12345678901234567}',
      '{"stream":"S","seq":1',
      '{"stream":"S","seq":1}  ',
      '',
    ]) {
      expect(ack(other), other).toBeUndefined();
    }
  });
});

/**
 * The fast read of deliveries must give what nats.js's own getters give: headers as
 * `MsgHdrsImpl.decode` reads them, and the facts of the JetStream ack subject.
 */
import type { JsMsg } from '@nats-io/jetstream';
import { MsgHdrsImpl, MsgImpl, type Publisher } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { deliveryOf, parseAckReply } from '../../src/nats/delivery.js';
import {
  decodeHeaderBlock,
  type EncodedHeaders,
  fromNatsHeaders,
  messageHeaders,
  toNatsHeaders,
} from '../../src/nats/headers.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

describe('decodeHeaderBlock', () => {
  const blocks = [
    'NATS/1.0\r\nPm-Origin: mqtt\r\nNats-Msg-Id: m-1\r\n\r\n',
    'NATS/1.0\r\nA: 1\r\nB: 2\r\nA: 3\r\nC: 4\r\nB: 5\r\n\r\n',
    'NATS/1.0\r\nA: 1\r\nA: 2\r\nB: 3\r\n\r\n',
    'NATS/1.0\r\nX:   spaced value  \r\nY:\r\nZ: a:b:c\r\n\r\n',
    'NATS/1.0\r\nno colon here\r\nK: v\r\n\r\n',
    'NATS/1.0 503\r\n\r\n',
    'NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 5\r\n\r\n',
    'NATS/1.0\r\n\r\n',
    'NATS/1.0\r\nGreeting: grüße\r\n\r\n',
  ];

  it.each(blocks)('reads %j as nats.js does', (block) => {
    const bytes = encoder.encode(block);
    expect(decodeHeaderBlock(bytes)).toEqual(fromNatsHeaders(MsgHdrsImpl.decode(bytes)));
  });

  it('groups repeated names in order of first appearance and freezes the result', () => {
    const headers = decodeHeaderBlock(encoder.encode('NATS/1.0\r\nA: 1\r\nB: 2\r\nA: 3\r\n\r\n'));
    expect(headers).toEqual([
      ['A', '1'],
      ['A', '3'],
      ['B', '2'],
    ]);
    expect(Object.isFrozen(headers)).toBe(true);
  });
});

describe('parseAckReply', () => {
  const ack = (subject: string, headers?: readonly (readonly [string, string])[]) =>
    parseAckReply(encoder.encode(subject), headers);
  it('reads the nats-server 2.9 layout', () => {
    expect(ack('$JS.ACK.ORDERS.reader.2.1041.77.1763800000123456789.12', undefined)).toEqual({
      stream: 'ORDERS',
      deliveryCount: 2,
      streamSeq: 1041,
      time: 1763800000123,
      pending: 12,
      headers: undefined,
    });
  });

  it('reads the layout with domain, account hash and a trailing token', () => {
    const headers = [['K', 'v']] as const;
    expect(ack('$JS.ACK.hub.ACCHASH.ORDERS.reader.1.7.7.1763800000999999999.0.tok', headers)).toEqual({
      stream: 'ORDERS',
      deliveryCount: 1,
      streamSeq: 7,
      time: 1763800000999,
      pending: 0,
      headers,
    });
  });

  it('is undefined for anything else', () => {
    expect(ack('_INBOX.abc.1', undefined)).toBeUndefined();
    expect(ack('$JS.ACK.ORDERS.reader.1', undefined)).toBeUndefined();
    expect(ack('', undefined)).toBeUndefined();
    expect(ack('$JS.ACK.S.c.x.1.1.1763800000123456789.0', undefined)).toBeUndefined();
    expect(ack('$JS.ACK.a.b.S.c.1.1.1.1763800000123456789.0.t.u.v', undefined)).toBeUndefined();
  });

  it('decodes each stream name it meets (the last one is cached)', () => {
    const streams = ['A', 'B', 'A', 'ÉTÉ'].map((s) => ack(`$JS.ACK.${s}.c.1.1.1.1763800000123456789.0`)?.stream);
    expect(streams).toEqual(['A', 'B', 'A', 'ÉTÉ']);
  });
});

describe('deliveryOf', () => {
  it('reads a nats.js message from its reply subject and raw header block, not through `info`', () => {
    const block = encoder.encode('NATS/1.0\r\nK: v\r\n\r\n');
    const data = new Uint8Array([...block, 1, 2, 3]);
    const reply = encoder.encode('$JS.ACK.S.c.1.5.5.1763800000123456789.3');
    const msg = new MsgImpl(
      { subject: encoder.encode('a.b'), reply, sid: 1, hdr: block.length, size: data.length },
      data,
      {} as Publisher,
    );
    const jsMsg = {
      msg,
      get info(): never {
        throw new Error('the slow path was taken');
      },
    } as unknown as JsMsg;
    expect(deliveryOf(jsMsg)).toEqual({
      stream: 'S',
      streamSeq: 5,
      deliveryCount: 1,
      pending: 3,
      time: 1763800000123,
      headers: [['K', 'v']],
    });
  });
});

describe('messageHeaders', () => {
  const received = (block: string) => {
    const bytes = encoder.encode(block);
    const data = new Uint8Array([...bytes, 9]);
    return new MsgImpl(
      { subject: encoder.encode('a.b'), reply: undefined, sid: 1, hdr: bytes.length, size: data.length } as never,
      data,
      {} as Publisher,
    );
  };

  it('shares the decoded entries of a repeated block and decodes a changed one', () => {
    const first = messageHeaders(received('NATS/1.0\r\nA: 1\r\nT: 100\r\n\r\n'));
    const again = messageHeaders(received('NATS/1.0\r\nA: 1\r\nT: 100\r\n\r\n'));
    const changed = messageHeaders(received('NATS/1.0\r\nA: 1\r\nT: 101\r\n\r\n'));
    expect(again).toBe(first);
    expect(first).toEqual([
      ['A', '1'],
      ['T', '100'],
    ]);
    expect(changed).toEqual([
      ['A', '1'],
      ['T', '101'],
    ]);
    expect(Object.isFrozen(changed)).toBe(true);
  });
});

describe('toNatsHeaders', () => {
  it('encodes a frozen array once and a mutable one every time', () => {
    const frozen = Object.freeze([['A', '1']] as const);
    expect(toNatsHeaders(frozen)).toBe(toNatsHeaders(frozen));
    const mutable: Array<[string, string]> = [['A', '1']];
    const before = toNatsHeaders(mutable);
    mutable[0] = ['A', '2'];
    expect(decoder.decode((toNatsHeaders(mutable) as EncodedHeaders).encode())).toContain('A: 2');
    expect(decoder.decode((before as EncodedHeaders).encode())).toContain('A: 1');
  });
});

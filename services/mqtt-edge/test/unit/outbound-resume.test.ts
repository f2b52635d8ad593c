import type { DeliveredMessage } from '@protomesh/backbone';
import { describe, expect, it } from 'vitest';
import { Outbound, type OutboundHost, type Outgoing } from '../../src/outbound.js';

function host() {
  const sent: Array<{ id: number | undefined; dup: boolean }> = [];
  const pubrels: number[] = [];
  const h: OutboundHost = {
    maxQueued: 10,
    sendPublish: (_m, id, dup) => {
      sent.push({ id, dup });
      return 'sent';
    },
    sendPubrel: (id) => void pubrels.push(id),
    updateSession: async () => {},
    dropped: () => {},
    failed: (error) => {
      throw error;
    },
  };
  return { h, sent, pubrels };
}

function stored(seq: number, acks: number[]): DeliveredMessage {
  return {
    subject: 's',
    payload: new Uint8Array(),
    headers: undefined,
    stream: 'S',
    seq,
    time: 0,
    deliveryCount: 2,
    pending: 0,
    ack: () => void acks.push(seq),
    nak: () => {},
    working: () => {},
  };
}

const message = (seq: number, acks: number[]): Outgoing => ({
  topic: 't',
  payload: Buffer.from('x'),
  qos: 2,
  retain: false,
  meta: {},
  persistent: true,
  stored: stored(seq, acks),
});

describe('outbound QoS 2 state resumed on another replica', () => {
  it('[MQTT-4.3.3] a message whose flow reached PUBREL is not sent again when the stream redelivers it', () => {
    const { h, sent, pubrels } = host();
    const outbound = new Outbound(h);
    const acks: number[] = [];
    outbound.resume({ '7': { seq: 41, phase: 'r' }, '8': { seq: 42, phase: 'p' } });
    expect(pubrels).toEqual([7]);
    // The dead replica's stream ack for 41 was lost: the stream delivers it again.
    outbound.enqueue(message(41, acks));
    expect(sent).toEqual([]);
    expect(acks).toEqual([41]);
    // 42 had only been published: it goes out again with its identifier and DUP [MQTT-4.4.0-1].
    outbound.enqueue(message(42, acks));
    expect(sent).toEqual([{ id: 8, dup: true }]);
  });
});

import type { DeliveredMessage } from '@protomesh/backbone';
import { describe, expect, it } from 'vitest';
import { Outbound, type OutboundHost, type Outgoing } from '../../src/outbound.js';

/** Flow control: at most Receive Maximum in flight, then a bounded queue per client. */
describe('outbound queue', () => {
  it('queues behind the Receive Maximum window up to its bound; beyond it a live message is dropped, a stored one returned', () => {
    const sent: string[] = [];
    const dropped: string[] = [];
    const host: OutboundHost = {
      maxQueued: 2,
      sendPublish: (m, id) => {
        sent.push(`${m.topic}#${id}`);
        return 'sent';
      },
      sendPubrel: () => {},
      updateSession: async () => {},
      dropped: (reason) => void dropped.push(reason),
      failed: (error) => {
        throw error;
      },
    };
    const outbound = new Outbound(host);
    outbound.receiveMaximum = 1;
    const live = (topic: string): Outgoing => ({ topic, payload: Buffer.from('x'), qos: 1, retain: false, meta: {} });
    const naks: number[] = [];
    const stored: Outgoing = {
      ...live('stored'),
      stored: { seq: 9, nak: (delay?: number) => void naks.push(delay ?? 0) } as unknown as DeliveredMessage,
    };
    for (const topic of ['a', 'b', 'c', 'd']) outbound.enqueue(live(topic));
    outbound.enqueue(stored);
    expect(sent).toEqual(['a#1']); // one in flight
    expect(dropped).toEqual(['in-flight-full']); // 'd': the queue (b, c) was full
    expect(naks).toHaveLength(1); // the stored one comes back later from its stream
    expect(naks[0]).toBeGreaterThan(0);
    outbound.onPuback(1);
    outbound.onPuback(2);
    expect(sent).toEqual(['a#1', 'b#2', 'c#3']); // the queue drains in order as the window opens
  });
});

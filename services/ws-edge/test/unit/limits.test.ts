import { TokenBucket } from '@protomesh/ws-edge';
import { afterEach, describe, expect, it } from 'vitest';
import { type EdgeFixture, edgeFixture } from '../support/edge.js';

let fixture: EdgeFixture | undefined;

afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

describe('TokenBucket', () => {
  it('allows a burst, then the refill rate', () => {
    const bucket = new TokenBucket(10, 3, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([true, true, true, false]);
    expect(bucket.take(50)).toBe(false); // 0.5 token
    expect(bucket.take(100)).toBe(true); // one token after 100 ms at 10/s
    expect(bucket.take(10_000)).toBe(true);
    // Refill never exceeds the burst.
    expect([bucket.take(10_000), bucket.take(10_000), bucket.take(10_000)]).toEqual([true, true, false]);
  });

  it('never limits with rate 0', () => {
    const bucket = new TokenBucket(0, 1, 0);
    for (let i = 0; i < 100; i++) expect(bucket.take(0)).toBe(true);
  });
});

describe('publish rate limit per connection', () => {
  it('refuses publishes over the token bucket with PM_WS_RATE_LIMITED, per connection, and counts them', async () => {
    fixture = await edgeFixture({ env: { WS_PUBLISH_RATE: '1', WS_PUBLISH_BURST: '3' } });
    const eager = await fixture.connect();
    for (let i = 0; i < 5; i++) eager.send({ op: 'pub', id: i, topic: 'r', text: String(i) });
    const replies = [];
    for (let i = 0; i < 5; i++) replies.push(await eager.next());
    // Refusals are immediate, oks follow the publish: order the replies by request id.
    replies.sort((x, y) => (x.id as number) - (y.id as number));
    expect(replies.map((r) => (r.op === 'ok' ? 'ok' : r.code))).toEqual([
      'ok',
      'ok',
      'ok',
      'PM_WS_RATE_LIMITED',
      'PM_WS_RATE_LIMITED',
    ]);
    // Not a malformed request: the connection stays, and another connection has its own bucket.
    expect(await eager.request({ op: 'ping', id: 'p' })).toEqual({ op: 'pong', id: 'p' });
    const other = await fixture.connect();
    expect(await other.request({ op: 'pub', id: 1, topic: 'r', text: 'x' })).toEqual({ op: 'ok', id: 1 });
    expect(await fixture.metrics.render()).toMatch(/protomesh_ws_rate_limited_total\{[^}]*\} 2/);
  });
});

import { createEmbeddedBackbone, type KvBucket } from '@protomesh/backbone';
import { uniqueName, waitFor } from '@protomesh/test-support';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Lease, type LeaseTimings } from '../../src/lease.js';

const timings: LeaseTimings = { renewMs: 30, retryMs: 20, ttlMs: 300 };
const backbone = createEmbeddedBackbone();
let bucket: KvBucket;
let leases: Lease[];

beforeEach(async () => {
  bucket = await backbone.kv({ bucket: uniqueName('leases'), ttlMs: timings.ttlMs });
  leases = [];
});

afterEach(async () => {
  await Promise.all(leases.map((l) => l.release()));
});

afterAll(() => backbone.close());

function lease(owner: string, events: string[]): Lease {
  const l = new Lease(bucket, 'bridge.r', owner, timings, {
    acquired: () => events.push(`${owner} acquired`),
    lost: (reason) => events.push(`${owner} lost: ${reason}`),
  });
  leases.push(l);
  return l;
}

describe('lease', () => {
  it('one holder at a time; renewals keep it past the TTL; release hands it over', async () => {
    const events: string[] = [];
    const a = lease('a', events);
    const b = lease('b', events);
    await a.start();
    await b.start();
    expect([a.held, b.held]).toEqual([true, false]);
    await new Promise((r) => setTimeout(r, timings.ttlMs * 2));
    expect([a.held, b.held]).toEqual([true, false]);
    await a.release();
    expect(a.held).toBe(false);
    await waitFor(() => b.held, 'b to take over');
    expect(events).toEqual(['a acquired', 'b acquired']);
    expect(JSON.parse(new TextDecoder().decode((await bucket.get('bridge.r'))!.value))).toEqual({ owner: 'b' });
  });

  it('a holder whose key was taken by another replica hears it lost', async () => {
    const events: string[] = [];
    const a = lease('a', events);
    await a.start();
    await bucket.delete('bridge.r');
    await bucket.create('bridge.r', new TextEncoder().encode('{"owner":"x"}'));
    await waitFor(() => !a.held, 'a to notice');
    expect(events).toEqual(['a acquired', 'a lost: taken over or expired']);
  });

  it('a holder that cannot renew stops before its entry can expire (self-fencing)', async () => {
    const events: string[] = [];
    const failing: KvBucket = Object.assign(Object.create(null), {
      name: bucket.name,
      get: (k: string) => bucket.get(k),
      put: (k: string, v: Uint8Array) => bucket.put(k, v),
      create: (k: string, v: Uint8Array) => bucket.create(k, v),
      update: () => Promise.reject(new Error('backbone unreachable')),
      delete: (k: string, o?: { revision?: number }) => bucket.delete(k, o),
      keys: () => bucket.keys(),
    });
    const a = new Lease(failing, 'bridge.r', 'a', timings, {
      acquired: () => events.push('acquired'),
      lost: (reason) => events.push(`lost: ${reason}`),
    });
    leases.push(a);
    const started = Date.now();
    await a.start();
    await waitFor(() => !a.held, 'the fence');
    expect(Date.now() - started).toBeLessThan(timings.ttlMs);
    expect(events).toEqual(['acquired', 'lost: not renewed in time']);
  });
});

/**
 * The NATS backbone's loopback: what a backbone publishes reaches its own subscriptions in
 * process (its main connection is `noEcho`) exactly once, reaches other connections through
 * the server, and a subject one of its queue groups matches goes through the server, so the
 * group still gets each message once across members on every backbone.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type Backbone, type BackboneMessage, connectNats } from '@protomesh/backbone';
import { type NatsServerHandle, startNatsServer, uniqueName, waitFor } from '@protomesh/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (m: BackboneMessage) => decoder.decode(m.payload);

describe('NATS loopback', () => {
  let server: NatsServerHandle;
  let a: Backbone;
  let b: Backbone;
  let raw: NatsConnection;

  beforeAll(async () => {
    server = await startNatsServer();
    a = await connectNats({ servers: server.url, name: 'loopback-a' });
    b = await connectNats({ servers: server.url, name: 'loopback-b' });
    raw = await connect({ servers: server.url });
  });

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close(), raw?.close()]);
    await server?.stop();
  });

  it('delivers a publish once to its own subscribers, with a copy of the payload, and to other connections', async () => {
    const root = uniqueName();
    const own: string[] = [];
    const other: string[] = [];
    const plain: string[] = [];
    a.subscribe(`${root}.>`, (m) => own.push(`${m.subject}=${text(m)}`));
    b.subscribe(`${root}.>`, (m) => other.push(`${m.subject}=${text(m)}`));
    raw.subscribe(`${root}.>`, {
      callback: (_e, m) => {
        plain.push(`${m.subject}=${m.string()}`);
      },
    });
    await Promise.all([a.flush(), b.flush(), raw.flush()]);
    a.publish(`${root}.x`, encoder.encode('one'), [['K', 'v']]);
    a.publish(`${root}.y`, encoder.encode('two'));
    const reused = Buffer.from('three'); // a Node Buffer: its slice() would be a view
    a.publish(`${root}.z`, reused);
    reused.set(encoder.encode('THREE')); // the loopback delivers its own copy
    await waitFor(() => other.length === 3 && plain.length === 3, 'the other connections');
    await a.flush();
    await new Promise((resolve) => setImmediate(resolve));
    expect(own).toEqual([`${root}.x=one`, `${root}.y=two`, `${root}.z=three`]);
    expect(other.slice(0, 2)).toEqual(own.slice(0, 2));
    expect(plain.slice(0, 2)).toEqual(own.slice(0, 2));
  });

  it('loops an append back to live subscribers once, headers as the server stores them', async () => {
    const root = uniqueName();
    await a.ensureStream({ name: root, subjects: [`${root}.>`] });
    const got: BackboneMessage[] = [];
    a.subscribe(`${root}.*`, (m) => got.push(m));
    await a.append(`${root}.s`, encoder.encode('stored'), { msgId: 'm-1', headers: [['K', 'v']] });
    await new Promise((resolve) => setImmediate(resolve));
    expect(got.map(text)).toEqual(['stored']);
    expect(got[0]!.headers).toEqual([
      ['K', 'v'],
      ['Nats-Msg-Id', 'm-1'],
    ]);
    expect((await a.getMessage(root, 1))?.headers).toEqual(got[0]!.headers);
  });

  it('a queue group with members on the publishing backbone and another gets each message once, plain subscribers all', async () => {
    const root = uniqueName();
    const group: string[] = [];
    const plain: string[] = [];
    a.subscribe(`${root}.*`, (m) => group.push(`a:${text(m)}`), { queue: 'g' });
    b.subscribe(`${root}.*`, (m) => group.push(`b:${text(m)}`), { queue: 'g' });
    a.subscribe(`${root}.>`, (m) => plain.push(text(m)));
    await Promise.all([a.flush(), b.flush()]);
    const n = 200;
    for (let i = 0; i < n; i++) a.publish(`${root}.q`, encoder.encode(String(i)));
    await waitFor(() => group.length >= n && plain.length >= n, 'every message');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(group).toHaveLength(n);
    expect(new Set(group.map((g) => g.slice(2))).size).toBe(n);
    // The server chose among both members.
    expect(group.some((g) => g.startsWith('a:'))).toBe(true);
    expect(group.some((g) => g.startsWith('b:'))).toBe(true);
    expect(plain).toEqual(Array.from({ length: n }, (_, i) => String(i)));
  });

  it('stops looping back to a subscription once it is unsubscribed', async () => {
    const root = uniqueName();
    const got: string[] = [];
    const sub = a.subscribe(`${root}.*`, (m) => got.push(text(m)));
    a.publish(`${root}.u`, encoder.encode('before'));
    await new Promise((resolve) => setImmediate(resolve));
    sub.unsubscribe();
    a.publish(`${root}.u`, encoder.encode('after'));
    await a.flush();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(got).toEqual(['before']);
  });
});

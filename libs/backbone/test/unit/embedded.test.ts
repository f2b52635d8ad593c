/** Embedded-only behaviour that the contract suite cannot drive on a real server: an injected clock. */
import { createEmbeddedBackbone } from '@protomesh/backbone';
import { describe, expect, it } from 'vitest';
import { patternsOverlap } from '../../src/embedded/embedded-backbone.js';
import { SeqList } from '../../src/embedded/seq-list.js';
import { normalizeHeaders } from '../../src/validate.js';

const bytes = (s: string) => new TextEncoder().encode(s);

function fakeClock(start = 1_700_000_000_000) {
  let now = start;
  return { clock: () => now, advance: (ms: number) => (now += ms) };
}

describe('embedded backbone with an injected clock', () => {
  it('stamps messages and forgets msgIds after the duplicate window', async () => {
    const { clock, advance } = fakeClock();
    const bb = createEmbeddedBackbone({ clock });
    await bb.ensureStream({ name: 'S', subjects: ['s.>'], duplicateWindowMs: 1_000 });
    const first = await bb.append('s.a', bytes('1'), { msgId: 'x' });
    expect((await bb.getMessage('S', first.seq))?.time).toBe(clock());
    advance(999);
    expect(await bb.append('s.a', bytes('1'), { msgId: 'x' })).toEqual({ stream: 'S', seq: 1, duplicate: true });
    advance(1);
    expect(await bb.append('s.a', bytes('1'), { msgId: 'x' })).toEqual({ stream: 'S', seq: 2, duplicate: false });
    await bb.close();
  });

  it('drops messages past maxAgeMs and KV entries past their TTL', async () => {
    const { clock, advance } = fakeClock();
    const bb = createEmbeddedBackbone({ clock });
    await bb.ensureStream({ name: 'S', subjects: ['s.>'], maxAgeMs: 1_000 });
    await bb.append('s.a', bytes('old'));
    advance(500);
    await bb.append('s.b', bytes('new'));
    advance(500);
    expect(await bb.streamState('S')).toEqual({ name: 'S', firstSeq: 2, lastSeq: 2, messages: 1 });
    const kv = await bb.kv({ bucket: 'B', ttlMs: 1_000 });
    await kv.put('a', bytes('a'));
    advance(600);
    await kv.put('b', bytes('b'));
    advance(400);
    expect(await kv.get('a')).toBeUndefined();
    expect(await kv.keys()).toEqual(['b']);
    await bb.close();
  });

  it('clears ack timers on close: nothing is redelivered afterwards', async () => {
    const bb = createEmbeddedBackbone();
    await bb.ensureStream({ name: 'S', subjects: ['s.>'] });
    await bb.append('s.a', bytes('x'));
    let deliveries = 0;
    await bb.consume({ stream: 'S', durable: 'd', deliver: { kind: 'all' }, ackWaitMs: 50 }, () => {
      deliveries++;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(deliveries).toBe(1);
    await bb.close();
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(deliveries).toBe(1);
  });
});

describe('patternsOverlap', () => {
  it.each([
    ['a.>', 'a.b', true],
    ['a.*', 'a.b.c', false],
    ['a.*.c', 'a.b.*', true],
    ['a', 'a.>', false],
    ['>', 'x', true],
    ['a.b', 'a.c', false],
    ['mesh.retained.>', 'mesh.mqtt.1.>', false],
    ['mesh.mqtt.1.>', 'mesh.mqtt.$1.>', false],
  ])('%s vs %s → %s', (a, b, overlap) => {
    expect(patternsOverlap(a, b)).toBe(overlap);
    expect(patternsOverlap(b, a)).toBe(overlap);
  });
});

describe('normalizeHeaders', () => {
  it('groups values by name in first-appearance order and trims them, as NATS delivers them', () => {
    expect(
      normalizeHeaders([
        ['a', ' 1 '],
        ['b', '2'],
        ['a', '3'],
      ]),
    ).toEqual([
      ['a', '1'],
      ['a', '3'],
      ['b', '2'],
    ]);
    expect(normalizeHeaders([])).toBeUndefined();
    expect(normalizeHeaders(undefined)).toBeUndefined();
  });
});

describe('normalizeHeaders fast path', () => {
  it('hands back already-normal headers as a frozen copy, and still normalizes the rest', () => {
    const input: Array<[string, string]> = [
      ['a', '1'],
      ['p', 'x'],
      ['p', 'y'],
    ];
    const out = normalizeHeaders(input)!;
    expect(out).toEqual(input);
    expect(out).not.toBe(input);
    expect(Object.isFrozen(out)).toBe(true);
    expect(normalizeHeaders([['a', '1\t']])).toEqual([['a', '1']]);
    expect(normalizeHeaders([['a', '\u00a01']])).toEqual([['a', '1']]);
    expect(
      normalizeHeaders([
        ['p', '1'],
        ['a', '2'],
        ['b', '3'],
        ['p', '4'],
      ]),
    ).toEqual([
      ['p', '1'],
      ['p', '4'],
      ['a', '2'],
      ['b', '3'],
    ]);
  });
});

describe('embedded bus routes', () => {
  const next = () => new Promise((resolve) => setImmediate(resolve));

  it('follow subscriptions that come and go after a subject was published to', async () => {
    const bb = createEmbeddedBackbone();
    const got: string[] = [];
    const first = bb.subscribe('r.*', (m) => got.push(`first:${m.subject}`));
    bb.publish('r.a', bytes('1'));
    await next();
    const second = bb.subscribe('r.>', (m) => got.push(`second:${m.subject}`));
    const q1 = bb.subscribe('r.a', (m) => got.push(`q1:${m.subject}`), { queue: 'g' });
    const q2 = bb.subscribe('r.a', (m) => got.push(`q2:${m.subject}`), { queue: 'g' });
    bb.publish('r.a', bytes('2'));
    bb.publish('r.a', bytes('3'));
    await next();
    first.unsubscribe();
    q1.unsubscribe();
    bb.publish('r.a', bytes('4'));
    await next();
    second.unsubscribe();
    q2.unsubscribe();
    bb.publish('r.a', bytes('5'));
    await next();
    expect(got.sort()).toEqual(
      [
        'first:r.a',
        'first:r.a',
        'first:r.a',
        'second:r.a',
        'second:r.a',
        'second:r.a',
        'q1:r.a',
        'q2:r.a',
        'q2:r.a',
      ].sort(),
    );
    await bb.close();
  });

  it('store a plain publish in a stream defined after the subject was first published to', async () => {
    const bb = createEmbeddedBackbone();
    bb.publish('late.a', bytes('before'));
    await bb.ensureStream({ name: 'LATE', subjects: ['late.>'] });
    bb.publish('late.a', bytes('after'));
    expect((await bb.streamState('LATE'))?.messages).toBe(1);
    await bb.close();
  });
});

describe('SeqList', () => {
  it('keeps ascending sequences through removals at the head (compacting) and in the middle', () => {
    const list = new SeqList();
    for (let seq = 1; seq <= 5_000; seq++) list.push(seq);
    for (let seq = 1; seq <= 3_000; seq++) list.remove(seq); // head removals, compacted on the way
    list.remove(4_000); // middle
    list.remove(99_999); // absent
    expect(list.length).toBe(1_999);
    expect(list.first).toBe(3_001);
    expect(list.last).toBe(5_000);
    expect(list.at(998)).toBe(3_999);
    expect(list.at(999)).toBe(4_001);
    expect(list.lowerBound(4_000)).toBe(999);
    expect(list.lowerBound(1)).toBe(0);
    expect(list.lowerBound(6_000)).toBe(1_999);
    expect(list.toArray()).toEqual([
      ...Array.from({ length: 999 }, (_, i) => 3_001 + i),
      ...Array.from({ length: 1_000 }, (_, i) => 4_001 + i),
    ]);
    for (const seq of list.toArray()) list.remove(seq);
    expect(list.length).toBe(0);
    expect(list.first).toBeUndefined();
    expect(list.last).toBeUndefined();
  });

  it('lets a stream at its message limit keep appending, dropping the oldest', async () => {
    const bb = createEmbeddedBackbone();
    await bb.ensureStream({ name: 'CAP', subjects: ['cap.>'], maxMsgs: 100 });
    for (let i = 0; i < 5_000; i++) await bb.append(`cap.${i % 7}`, bytes(String(i)));
    expect(await bb.streamState('CAP')).toEqual({ name: 'CAP', firstSeq: 4_901, lastSeq: 5_000, messages: 100 });
    expect((await bb.lastBySubject('CAP', 'cap.3'))?.seq).toBe(4_995); // i = 4,994
    await bb.close();
  });
});

describe('payload copies', () => {
  it('keeps what was published and stored when the caller reuses a Node Buffer', async () => {
    const bb = createEmbeddedBackbone();
    await bb.ensureStream({ name: 'COPY', subjects: ['copy.>'] });
    const live: string[] = [];
    bb.subscribe('copy.>', (m) => live.push(new TextDecoder().decode(m.payload)));
    const chunk = Buffer.from('first-second');
    await bb.append('copy.a', chunk.subarray(0, 5));
    bb.publish('copy.b', chunk.subarray(6));
    chunk.fill(0x78); // the socket layer would reuse or the caller overwrite
    await new Promise((resolve) => setImmediate(resolve));
    expect(live).toEqual(['first', 'second']);
    expect(new TextDecoder().decode((await bb.getMessage('COPY', 1))!.payload)).toBe('first');
    await bb.close();
  });
});

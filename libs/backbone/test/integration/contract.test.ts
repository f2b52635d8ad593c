/**
 * The backbone contract: every case runs against the in-process backbone and against a
 * real nats-server (one per file, random port, own store). Names come from `uniqueName()`,
 * so cases never see each other's streams, buckets or subjects.
 */
import { rm } from 'node:fs/promises';
import {
  type Backbone,
  type BackboneStatus,
  type ConsumerHandle,
  connectNats,
  createEmbeddedBackbone,
  type DeliveredMessage,
  type DeliverFrom,
  type StreamSpec,
} from '@protomesh/backbone';
import { type NatsServerHandle, sleep, startNatsServer, uniqueName, waitFor } from '@protomesh/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (s: string) => encoder.encode(s);
const text = (b: Uint8Array) => decoder.decode(b);

/** Short enough to keep the file fast, long enough for a loaded CI machine. */
const ACK_WAIT_MS = 400;

interface Implementation {
  readonly name: 'embedded' | 'nats';
  /** Starts what the implementation needs; returns a factory of backbones and a teardown. */
  setup(): Promise<{ connect(): Promise<Backbone>; teardown(): Promise<void>; server?: NatsServerHandle }>;
}

const implementations: Implementation[] = [
  {
    name: 'embedded',
    async setup() {
      return { connect: async () => createEmbeddedBackbone(), teardown: async () => {} };
    },
  },
  {
    name: 'nats',
    async setup() {
      const server = await startNatsServer();
      return {
        server,
        connect: () => connectNats({ servers: server.url, name: 'contract-test' }),
        teardown: () => server.stop(),
      };
    },
  },
];

/** Rejection code of a promise (or throw of a function), for `expect(...).toBe('PM_…')`. */
async function codeOf(action: () => unknown): Promise<string | undefined> {
  try {
    await action();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe.each(implementations)('backbone contract ($name)', (impl) => {
  let env: Awaited<ReturnType<Implementation['setup']>>;
  let bb: Backbone;

  beforeAll(async () => {
    env = await impl.setup();
    bb = await env.connect();
  });

  afterAll(async () => {
    await bb?.close();
    await env?.teardown();
  });

  /** A fresh stream capturing `<p>.s.>` in its own namespace `p`. */
  async function freshStream(extra: Partial<StreamSpec> = {}) {
    const p = uniqueName();
    const spec: StreamSpec = { name: p.toUpperCase(), subjects: [`${p}.s.>`], storage: 'memory', ...extra };
    await bb.ensureStream(spec);
    return { p, stream: spec.name, subject: (rest: string) => `${p}.s.${rest}` };
  }

  /** Consumes into an array; the handler acks unless `ack` says otherwise. */
  async function collect(
    spec: {
      stream: string;
      durable?: string;
      filterSubject?: string;
      deliver?: DeliverFrom;
      ackWaitMs?: number;
      maxAckPending?: number;
      maxDeliver?: number;
    },
    ack: (m: DeliveredMessage) => boolean = () => true,
  ): Promise<{ got: DeliveredMessage[]; handle: ConsumerHandle }> {
    const got: DeliveredMessage[] = [];
    const handle = await bb.consume({ deliver: { kind: 'all' }, ...spec }, (m) => {
      got.push(m);
      if (ack(m)) m.ack();
    });
    return { got, handle };
  }

  it('reports its kind, version and readiness', () => {
    expect(bb.kind).toBe(impl.name);
    expect(bb.serverVersion).toMatch(impl.name === 'nats' ? /^2\.\d+\.\d+/ : /^embedded$/);
    expect(bb.isReady()).toBe(true);
  });

  describe('publish / subscribe', () => {
    it('matches `*` (one token) and `>` (one or more tokens), in order, asynchronously', async () => {
      const p = uniqueName();
      const star: string[] = [];
      const full: string[] = [];
      const a = bb.subscribe(`${p}.*.x`, (m) => star.push(m.subject));
      const b = bb.subscribe(`${p}.>`, (m) => full.push(m.subject));
      await bb.flush();
      for (const s of [`${p}.a.x`, `${p}.b.y`, `${p}.a.b.x`, p]) bb.publish(s, bytes(s));
      // Publishers never re-enter subscribers.
      expect(full).toEqual([]);
      await waitFor(() => full.length === 3, 'three messages on >');
      await bb.flush();
      await sleep(50);
      expect(full).toEqual([`${p}.a.x`, `${p}.b.y`, `${p}.a.b.x`]);
      expect(star).toEqual([`${p}.a.x`]);
      a.unsubscribe();
      b.unsubscribe();
      bb.publish(`${p}.a.x`, bytes('late'));
      await bb.flush();
      await sleep(50);
      expect(star).toEqual([`${p}.a.x`]);
    });

    it('gives each message to exactly one member of a queue group; plain subscribers get all', async () => {
      const p = uniqueName();
      const members = [[], [], []] as string[][];
      const subs = members.map((got) => bb.subscribe(`${p}.work`, (m) => got.push(text(m.payload)), { queue: 'q' }));
      const other: string[] = [];
      subs.push(bb.subscribe(`${p}.*`, (m) => other.push(text(m.payload)), { queue: 'q2' }));
      const plain: string[] = [];
      subs.push(bb.subscribe(`${p}.work`, (m) => plain.push(text(m.payload))));
      await bb.flush();
      const n = 60;
      for (let i = 0; i < n; i++) bb.publish(`${p}.work`, bytes(String(i)));
      await waitFor(() => members.flat().length === n && plain.length === n && other.length === n, 'all deliveries');
      await bb.flush();
      await sleep(50);
      const shared = members.flat();
      expect(shared).toHaveLength(n);
      expect(new Set(shared).size).toBe(n);
      expect(members.filter((got) => got.length > 0).length).toBeGreaterThan(1);
      expect(plain).toEqual(Array.from({ length: n }, (_, i) => String(i)));
      expect(other).toHaveLength(n);
      for (const s of subs) s.unsubscribe();
    });

    it('round-trips headers, repeated names included; undefined when none', async () => {
      const p = uniqueName();
      const got: { headers: unknown; payload: string }[] = [];
      const sub = bb.subscribe(`${p}.h`, (m) => got.push({ headers: m.headers, payload: text(m.payload) }));
      await bb.flush();
      bb.publish(`${p}.h`, bytes('with'), [
        ['X-Trace', 'abc'],
        ['X-Prop', 'k=v'],
        ['X-Prop', 'k2=v 2'],
        ['content-type', 'application/json; charset=utf-8'],
      ]);
      bb.publish(`${p}.h`, bytes('without'));
      bb.publish(`${p}.h`, new Uint8Array(0), []);
      await waitFor(() => got.length === 3, 'three messages');
      expect(got[0]).toEqual({
        payload: 'with',
        headers: [
          ['X-Trace', 'abc'],
          ['X-Prop', 'k=v'],
          ['X-Prop', 'k2=v 2'],
          ['content-type', 'application/json; charset=utf-8'],
        ],
      });
      expect(got[1]).toEqual({ payload: 'without', headers: undefined });
      expect(got[2]).toEqual({ payload: '', headers: undefined });
      sub.unsubscribe();
    });

    it('rejects invalid subjects, queue names and headers with catalogued errors', async () => {
      const p = uniqueName();
      expect(await codeOf(() => bb.publish(`${p}.*`, bytes('x')))).toBe('PM_SUBJECT_INVALID');
      expect(await codeOf(() => bb.publish(`${p}..x`, bytes('x')))).toBe('PM_SUBJECT_INVALID');
      expect(await codeOf(() => bb.publish('', bytes('x')))).toBe('PM_SUBJECT_INVALID');
      expect(await codeOf(() => bb.publish(`${p} x`, bytes('x')))).toBe('PM_SUBJECT_INVALID');
      expect(await codeOf(() => bb.subscribe(`${p}.>.x`, () => {}))).toBe('PM_SUBJECT_INVALID');
      expect(await codeOf(() => bb.subscribe(`${p}.a*`, () => {}))).toBe('PM_SUBJECT_INVALID');
      expect(await codeOf(() => bb.subscribe(`${p}.x`, () => {}, { queue: 'a b' }))).toBe('PM_NAME_INVALID');
      expect(await codeOf(() => bb.publish(`${p}.x`, bytes('x'), [['Bad:Name', 'v']]))).toBe('PM_HEADER_INVALID');
      expect(await codeOf(() => bb.publish(`${p}.x`, bytes('x'), [['Name', 'a\r\nb']]))).toBe('PM_HEADER_INVALID');
    });
  });

  describe('streams', () => {
    it('append stores the message, resolves with its sequence, and live subscribers receive it', async () => {
      const { p, stream, subject } = await freshStream();
      const live: string[] = [];
      const sub = bb.subscribe(`${p}.s.>`, (m) => live.push(text(m.payload)));
      await bb.flush();
      const before = Date.now();
      const first = await bb.append(subject('a'), bytes('one'), { headers: [['X-K', 'v']] });
      const second = await bb.append(subject('b'), bytes('two'));
      expect(first).toEqual({ stream, seq: 1, duplicate: false });
      expect(second).toEqual({ stream, seq: 2, duplicate: false });
      const stored = await bb.getMessage(stream, 1);
      expect(stored).toMatchObject({ stream, seq: 1, subject: subject('a'), headers: [['X-K', 'v']] });
      expect(text(stored!.payload)).toBe('one');
      expect(stored!.time).toBeGreaterThanOrEqual(before - 1_000);
      expect(stored!.time).toBeLessThanOrEqual(Date.now() + 1_000);
      expect((await bb.getMessage(stream, 2))?.headers).toBeUndefined();
      expect(await bb.getMessage(stream, 3)).toBeUndefined();
      expect(await bb.streamState(stream)).toEqual({ name: stream, firstSeq: 1, lastSeq: 2, messages: 2 });
      await waitFor(() => live.length === 2, 'live copies');
      expect(live).toEqual(['one', 'two']);
      sub.unsubscribe();
    });

    it('a plain publish to a captured subject is stored too', async () => {
      const { stream, subject } = await freshStream();
      bb.publish(subject('plain'), bytes('p'));
      await bb.flush();
      await waitFor(async () => (await bb.streamState(stream))?.messages === 1, 'stored publish');
      expect(text((await bb.lastBySubject(stream, subject('plain')))!.payload)).toBe('p');
    });

    it('rejects an append to a subject no stream captures, a wildcard subject, and a wrong expectStream', async () => {
      const { p, stream, subject } = await freshStream();
      expect(await codeOf(() => bb.append(`${p}.nowhere`, bytes('x')))).toBe('PM_NO_STREAM');
      expect(await codeOf(() => bb.append(`${p}.s.*`, bytes('x')))).toBe('PM_SUBJECT_INVALID');
      const other = await freshStream();
      expect(await codeOf(() => bb.append(subject('x'), bytes('x'), { expectStream: other.stream }))).toBe(
        'PM_STREAM_MISMATCH',
      );
      expect(await bb.append(subject('x'), bytes('x'), { expectStream: stream })).toMatchObject({ stream, seq: 1 });
      expect(await codeOf(() => bb.append(subject('x'), bytes('x'), { timeoutMs: -1 }))).toBe('PM_SPEC_INVALID');
    });

    it('deduplicates by msgId: the duplicate stores nothing and reports the first sequence', async () => {
      const { stream, subject } = await freshStream();
      const first = await bb.append(subject('d'), bytes('1'), { msgId: 'm-1' });
      await bb.append(subject('d'), bytes('other'), { msgId: 'm-2' });
      const again = await bb.append(subject('d'), bytes('1 again'), { msgId: 'm-1' });
      expect(again).toEqual({ stream, seq: first.seq, duplicate: true });
      expect((await bb.streamState(stream))?.messages).toBe(2);
      expect(text((await bb.getMessage(stream, first.seq))!.payload)).toBe('1');
    });

    it('ensureStream is idempotent, safe concurrently, updates in place and rejects overlaps', async () => {
      const p = uniqueName();
      const spec: StreamSpec = { name: p.toUpperCase(), subjects: [`${p}.s.>`], storage: 'memory' };
      await Promise.all(Array.from({ length: 5 }, () => bb.ensureStream(spec)));
      await bb.ensureStream(spec);
      for (let i = 0; i < 4; i++) await bb.append(`${p}.s.${i}`, bytes(String(i)));
      // In place: messages survive, the new limit applies.
      await bb.ensureStream({ ...spec, maxMsgs: 3, subjects: [`${p}.s.>`, `${p}.t.*`] });
      expect(await bb.streamState(spec.name)).toEqual({ name: spec.name, firstSeq: 2, lastSeq: 4, messages: 3 });
      expect((await bb.append(`${p}.t.x`, bytes('t'))).seq).toBe(5);
      expect(
        await codeOf(() => bb.ensureStream({ name: `${spec.name}_B`, subjects: [`${p}.s.a`], storage: 'memory' })),
      ).toBe('PM_STREAM_CONFLICT');
      expect(await codeOf(() => bb.ensureStream({ ...spec, storage: 'file' }))).toBe('PM_STREAM_CONFLICT');
      expect(await codeOf(() => bb.ensureStream({ ...spec, subjects: [] }))).toBe('PM_SPEC_INVALID');
      expect(await codeOf(() => bb.ensureStream({ ...spec, name: 'bad.name' }))).toBe('PM_NAME_INVALID');
      expect(await bb.streamState(`${spec.name}_NONE`)).toBeUndefined();
    });

    it('keeps at most maxMsgs, and one message per subject with lastValuePerSubject', async () => {
      const limited = await freshStream({ maxMsgs: 3 });
      for (let i = 1; i <= 5; i++) await bb.append(limited.subject(`m${i}`), bytes(String(i)));
      expect(await bb.streamState(limited.stream)).toEqual({
        name: limited.stream,
        firstSeq: 3,
        lastSeq: 5,
        messages: 3,
      });
      expect(await bb.getMessage(limited.stream, 2)).toBeUndefined();

      const retained = await freshStream({ lastValuePerSubject: true });
      await bb.append(retained.subject('a'), bytes('a1'));
      await bb.append(retained.subject('b'), bytes('b1'));
      await bb.append(retained.subject('a'), bytes('a2'));
      expect((await bb.streamState(retained.stream))?.messages).toBe(2);
      expect(await bb.getMessage(retained.stream, 1)).toBeUndefined();
      const last = await bb.lastPerSubject(retained.stream, retained.subject('>'));
      expect(last.map((m) => [m.seq, text(m.payload)])).toEqual([
        [2, 'b1'],
        [3, 'a2'],
      ]);
    });

    it('expires messages older than maxAgeMs', async () => {
      const { stream, subject } = await freshStream({ maxAgeMs: 300 });
      await bb.append(subject('old'), bytes('old'));
      await waitFor(async () => (await bb.streamState(stream))?.messages === 0, 'expiry', 5_000);
      expect(await bb.streamState(stream)).toEqual({ name: stream, firstSeq: 2, lastSeq: 1, messages: 0 });
    });

    it('readStream pages through stored messages from a sequence, filtered, oldest first', async () => {
      const { stream, subject } = await freshStream();
      for (let i = 1; i <= 7; i++) await bb.append(subject(i % 2 === 0 ? `even.${i}` : `odd.${i}`), bytes(`m${i}`));
      const read = bb.readStream!.bind(bb);
      expect((await read(stream, { fromSeq: 1, maxMessages: 100 })).map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      const page = await read(stream, { fromSeq: 2, maxMessages: 2, filter: subject('odd.*') });
      expect(page.map((m) => [m.seq, m.subject, text(m.payload)])).toEqual([
        [3, subject('odd.3'), 'm3'],
        [5, subject('odd.5'), 'm5'],
      ]);
      // Fewer than asked: the end of the stream.
      expect((await read(stream, { fromSeq: 6, maxMessages: 2, filter: subject('odd.*') })).map((m) => m.seq)).toEqual([
        7,
      ]);
      expect(await read(stream, { fromSeq: 8, maxMessages: 10 })).toEqual([]);
      expect(await read(stream, { fromSeq: 1, maxMessages: 10, filter: subject('none.>') })).toEqual([]);
      await bb.purge(stream, subject('even.>'));
      expect((await read(stream, { fromSeq: 1, maxMessages: 10 })).map((m) => m.seq)).toEqual([1, 3, 5, 7]);
      expect(await codeOf(() => read(stream, { fromSeq: 0, maxMessages: 1 }))).toBe('PM_SPEC_INVALID');
      expect(await codeOf(() => read(`${stream}_NONE`, { fromSeq: 1, maxMessages: 1 }))).toBe('PM_STREAM_NOT_FOUND');
    });

    it('lastBySubject, lastPerSubject with wildcards, and purge by filter', async () => {
      const { stream, subject } = await freshStream();
      await bb.append(subject('a.1'), bytes('x'));
      await bb.append(subject('a.2'), bytes('y'));
      await bb.append(subject('a.1'), bytes('z'));
      await bb.append(subject('b.1'), bytes('w'));
      const last = await bb.lastBySubject(stream, subject('a.1'));
      expect(last).toMatchObject({ stream, seq: 3, subject: subject('a.1') });
      expect(text(last!.payload)).toBe('z');
      expect(await bb.lastBySubject(stream, subject('c'))).toBeUndefined();
      const perSubject = await bb.lastPerSubject(stream, subject('a.*'));
      expect(perSubject.map((m) => [m.seq, m.subject, text(m.payload)])).toEqual([
        [2, subject('a.2'), 'y'],
        [3, subject('a.1'), 'z'],
      ]);
      expect((await bb.lastPerSubject(stream, subject('>'))).map((m) => m.seq)).toEqual([2, 3, 4]);
      expect(await bb.lastPerSubject(stream, subject('nothing.*'))).toEqual([]);
      await bb.purge(stream, subject('a.>'));
      expect(await bb.lastBySubject(stream, subject('a.1'))).toBeUndefined();
      expect(await bb.lastPerSubject(stream, subject('a.*'))).toEqual([]);
      expect(await bb.streamState(stream)).toEqual({ name: stream, firstSeq: 4, lastSeq: 4, messages: 1 });
      expect(await codeOf(() => bb.lastBySubject(stream, subject('*')))).toBe('PM_SUBJECT_INVALID');
      expect(await codeOf(() => bb.lastBySubject(`${stream}_NONE`, subject('a')))).toBe('PM_STREAM_NOT_FOUND');
    });
  });

  describe('consumers', () => {
    it('a durable consumer delivers in order; acked messages are never redelivered', async () => {
      const { stream, subject } = await freshStream();
      for (let i = 1; i <= 3; i++) await bb.append(subject(`m${i}`), bytes(String(i)));
      const { got, handle } = await collect({ stream, durable: 'd1', ackWaitMs: ACK_WAIT_MS });
      expect(handle.name).toBe('d1');
      await waitFor(() => got.length === 3, 'three deliveries');
      expect(got.map((m) => [m.seq, m.deliveryCount, m.pending, text(m.payload)])).toEqual([
        [1, 1, 2, '1'],
        [2, 1, 1, '2'],
        [3, 1, 0, '3'],
      ]);
      expect(got[0]).toMatchObject({ stream, subject: subject('m1'), headers: undefined });
      await bb.append(subject('m4'), bytes('4'));
      await waitFor(() => got.length === 4, 'live delivery');
      await sleep(ACK_WAIT_MS * 2);
      expect(got).toHaveLength(4);
      await waitFor(async () => (await bb.consumerState(stream, 'd1'))?.ackFloor === 4, 'ack floor');
      expect(await bb.consumerState(stream, 'd1')).toEqual({ name: 'd1', ackFloor: 4, pending: 0, ackPending: 0 });
      await handle.stop();
      // A durable keeps its position: a new consume resumes after the last ack.
      await bb.append(subject('m5'), bytes('5'));
      const resumed = await collect({ stream, durable: 'd1', ackWaitMs: ACK_WAIT_MS });
      await waitFor(() => resumed.got.length === 1, 'resumed');
      expect(resumed.got[0]?.seq).toBe(5);
      await resumed.handle.stop();
    });

    it('redelivers after the ack wait when not acked, counting deliveries', async () => {
      const { stream, subject } = await freshStream();
      await bb.append(subject('r'), bytes('r'));
      const { got, handle } = await collect(
        { stream, durable: 'r1', ackWaitMs: ACK_WAIT_MS },
        (m) => m.deliveryCount >= 2,
      );
      await waitFor(() => got.length === 2, 'redelivery', 5_000);
      expect(got.map((m) => [m.seq, m.deliveryCount])).toEqual([
        [1, 1],
        [1, 2],
      ]);
      await sleep(ACK_WAIT_MS * 2);
      expect(got).toHaveLength(2);
      await handle.stop();
    });

    it('working() postpones the redelivery', async () => {
      const { stream, subject } = await freshStream();
      await bb.append(subject('w'), bytes('w'));
      let first: DeliveredMessage | undefined;
      const { got, handle } = await collect({ stream, durable: 'w1', ackWaitMs: ACK_WAIT_MS }, (m) => {
        first ??= m;
        return false;
      });
      await waitFor(() => got.length === 1, 'first delivery');
      const timer = setInterval(() => first?.working(), ACK_WAIT_MS / 4);
      await sleep(ACK_WAIT_MS * 2);
      clearInterval(timer);
      expect(got).toHaveLength(1);
      first!.ack();
      await sleep(ACK_WAIT_MS * 2);
      expect(got).toHaveLength(1);
      await handle.stop();
    });

    it('nak redelivers at once, or after the given delay', async () => {
      const { stream, subject } = await freshStream();
      await bb.append(subject('n'), bytes('n'));
      const times: number[] = [];
      const got: DeliveredMessage[] = [];
      const handle = await bb.consume({ stream, durable: 'n1', deliver: { kind: 'all' }, ackWaitMs: 10_000 }, (m) => {
        got.push(m);
        times.push(Date.now());
        if (m.deliveryCount === 1) m.nak();
        else if (m.deliveryCount === 2) m.nak(300);
        else m.ack();
      });
      await waitFor(() => got.length === 3, 'two redeliveries', 5_000);
      expect(got.map((m) => m.deliveryCount)).toEqual([1, 2, 3]);
      expect(times[1]! - times[0]!).toBeLessThan(2_000);
      expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(250);
      await handle.stop();
    });

    it('several consume() calls on one durable share the work without duplicates', async () => {
      const { stream, subject } = await freshStream();
      const a: number[] = [];
      const b: number[] = [];
      // Slow acks keep messages in flight, so the consumer has to use both handles.
      const handler = (into: number[]) => (m: DeliveredMessage) => {
        into.push(m.seq);
        setTimeout(() => m.ack(), 20);
      };
      const spec = { stream, durable: 'shared', deliver: { kind: 'all' } as const, ackWaitMs: 5_000, maxAckPending: 1 };
      const ha = await bb.consume(spec, handler(a));
      const hb = await bb.consume(spec, handler(b));
      const n = 20;
      for (let i = 0; i < n; i++) await bb.append(subject(`w${i}`), bytes(String(i)));
      await waitFor(() => a.length + b.length === n, 'all work', 10_000);
      await sleep(100);
      expect(a.length + b.length).toBe(n);
      expect(new Set([...a, ...b]).size).toBe(n);
      expect(a.length).toBeGreaterThan(0);
      expect(b.length).toBeGreaterThan(0);
      await ha.stop();
      await hb.stop();
    });

    it('maxAckPending bounds the messages in flight', async () => {
      const { stream, subject } = await freshStream();
      for (let i = 0; i < 5; i++) await bb.append(subject(`p${i}`), bytes(String(i)));
      const { got, handle } = await collect(
        { stream, durable: 'bounded', maxAckPending: 2, ackWaitMs: 10_000 },
        () => false,
      );
      await waitFor(() => got.length === 2, 'two in flight');
      await sleep(300);
      expect(got.map((m) => m.seq)).toEqual([1, 2]);
      expect(await bb.consumerState(stream, 'bounded')).toMatchObject({ ackPending: 2, pending: 3 });
      got[0]!.ack();
      await waitFor(() => got.length === 3, 'one more after an ack');
      await sleep(200);
      expect(got.map((m) => m.seq)).toEqual([1, 2, 3]);
      for (const m of got) m.ack();
      await waitFor(() => got.length === 5, 'the rest');
      await handle.stop();
    });

    it('gives up on a message after maxDeliver deliveries', async () => {
      const { stream, subject } = await freshStream();
      await bb.append(subject('x'), bytes('x'));
      const { got, handle } = await collect({ stream, durable: 'md', ackWaitMs: 200, maxDeliver: 2 }, () => false);
      await waitFor(() => got.length === 2, 'two deliveries', 5_000);
      await sleep(700);
      expect(got.map((m) => m.deliveryCount)).toEqual([1, 2]);
      await handle.stop();
    });

    it('starts from all / a sequence / new messages / the last message of each subject', async () => {
      const { stream, subject } = await freshStream();
      for (const [s, v] of [
        ['k1', 'a'],
        ['k2', 'b'],
        ['k1', 'c'],
        ['k3', 'd'],
      ] as const) {
        await bb.append(subject(s), bytes(v));
      }
      const run = async (deliver: DeliverFrom, filterSubject?: string, expected = 0) => {
        const { got, handle } = await collect({ stream, deliver, filterSubject });
        if (expected > 0) await waitFor(() => got.length >= expected, `${deliver.kind} deliveries`);
        await sleep(100);
        return { seqs: got.map((m) => m.seq), handle };
      };
      const all = await run({ kind: 'all' }, undefined, 4);
      expect(all.seqs).toEqual([1, 2, 3, 4]);
      const fromSeq = await run({ kind: 'seq', seq: 3 }, undefined, 2);
      expect(fromSeq.seqs).toEqual([3, 4]);
      const filtered = await run({ kind: 'all' }, subject('k1'), 2);
      expect(filtered.seqs).toEqual([1, 3]);
      const lps = await run({ kind: 'last-per-subject' }, subject('*'), 3);
      expect(lps.seqs).toEqual([2, 3, 4]);
      const lpsAll = await run({ kind: 'last-per-subject' }, undefined, 3);
      expect(lpsAll.seqs).toEqual([2, 3, 4]);
      const fresh = await run({ kind: 'new' });
      expect(fresh.seqs).toEqual([]);
      await bb.append(subject('k4'), bytes('e'));
      const { got, handle } = await collect({ stream, deliver: { kind: 'new' } });
      await bb.append(subject('k5'), bytes('f'));
      await waitFor(() => got.length === 1, 'new message');
      expect(got[0]?.seq).toBe(6);
      for (const h of [all, fromSeq, filtered, lps, lpsAll, fresh]) await h.handle.stop();
      await handle.stop();
    });

    it('an ephemeral consumer is deleted on stop', async () => {
      const { stream, subject } = await freshStream();
      await bb.append(subject('e'), bytes('e'));
      const { got, handle } = await collect({ stream });
      await waitFor(() => got.length === 1, 'delivery');
      expect(await bb.consumerState(stream, handle.name)).toMatchObject({ name: handle.name, pending: 0 });
      await handle.stop();
      await handle.stop();
      await waitFor(async () => (await bb.consumerState(stream, handle.name)) === undefined, 'deletion');
    });

    it('consumerState reports the ack floor and pending counts; deleteConsumer removes a durable', async () => {
      const { stream, subject } = await freshStream();
      for (let i = 1; i <= 4; i++) await bb.append(subject(`c${i}`), bytes(String(i)));
      expect(await bb.consumerState(stream, 'cs')).toBeUndefined();
      const { got, handle } = await collect(
        { stream, durable: 'cs', ackWaitMs: 10_000, filterSubject: subject('>') },
        (m) => m.seq !== 3,
      );
      await waitFor(() => got.length === 4, 'four deliveries');
      await waitFor(async () => (await bb.consumerState(stream, 'cs'))?.ackPending === 1, 'acks processed');
      expect(await bb.consumerState(stream, 'cs')).toEqual({ name: 'cs', ackFloor: 2, pending: 0, ackPending: 1 });
      await handle.stop();
      await bb.append(subject('c5'), bytes('5'));
      await waitFor(async () => (await bb.consumerState(stream, 'cs'))?.pending === 1, 'pending after stop');
      expect(
        await codeOf(() =>
          bb.consume({ stream, durable: 'cs', deliver: { kind: 'all' }, filterSubject: subject('c1') }, () => {}),
        ),
      ).toBe('PM_CONSUMER_CONFLICT');
      expect(await bb.deleteConsumer(stream, 'cs')).toBe(true);
      expect(await bb.deleteConsumer(stream, 'cs')).toBe(false);
      expect(await bb.consumerState(stream, 'cs')).toBeUndefined();
      expect(await bb.deleteConsumer(`${stream}_NONE`, 'cs')).toBe(false);
    });

    it('a consumer deleted under a running handle is recreated and delivery carries on', async () => {
      const { stream, subject } = await freshStream();
      await bb.append(subject('1'), bytes('1'));
      const durable = await collect({ stream, durable: 'gone', ackWaitMs: 10_000 });
      const ephemeral = await collect({ stream, ackWaitMs: 10_000 });
      await waitFor(() => durable.got.length === 1 && ephemeral.got.length === 1, 'first deliveries');
      expect(await bb.deleteConsumer(stream, 'gone')).toBe(true);
      expect(await bb.deleteConsumer(stream, ephemeral.handle.name)).toBe(true);
      await bb.append(subject('2'), bytes('2'));
      await waitFor(() => durable.got.length === 2 && ephemeral.got.length === 2, 'deliveries after recreation');
      expect(durable.got.map((m) => m.seq)).toEqual([1, 2]);
      expect(ephemeral.got.map((m) => m.seq)).toEqual([1, 2]);
      expect(await bb.consumerState(stream, 'gone')).toBeDefined();
      await durable.handle.stop();
      await ephemeral.handle.stop();
      await waitFor(
        async () => (await bb.consumerState(stream, ephemeral.handle.name)) === undefined,
        'ephemeral gone',
      );
      expect(await bb.deleteConsumer(stream, 'gone')).toBe(true);
    });

    it('rejects a consumer on a missing stream and invalid specs', async () => {
      const p = uniqueName().toUpperCase();
      expect(await codeOf(() => bb.consume({ stream: p, deliver: { kind: 'all' } }, () => {}))).toBe(
        'PM_STREAM_NOT_FOUND',
      );
      const { stream } = await freshStream();
      expect(await codeOf(() => bb.consume({ stream, deliver: { kind: 'seq', seq: 0 } }, () => {}))).toBe(
        'PM_SPEC_INVALID',
      );
      expect(await codeOf(() => bb.consume({ stream, durable: 'a.b', deliver: { kind: 'all' } }, () => {}))).toBe(
        'PM_NAME_INVALID',
      );
      expect(
        await codeOf(() => bb.consume({ stream, filterSubject: 'a..b', deliver: { kind: 'all' } }, () => {})),
      ).toBe('PM_SUBJECT_INVALID');
    });
  });

  describe('key/value', () => {
    it('get / put / create / update with compare-and-set / delete / keys', async () => {
      const kv = await bb.kv({ bucket: uniqueName().toUpperCase(), storage: 'memory' });
      expect(await kv.get('sessions.a')).toBeUndefined();
      const r1 = await kv.put('sessions.a', bytes('1'));
      const got = await kv.get('sessions.a');
      expect(got).toMatchObject({ key: 'sessions.a', revision: r1 });
      expect(text(got!.value)).toBe('1');
      expect(await codeOf(() => kv.create('sessions.a', bytes('x')))).toBe('PM_KV_CONFLICT');
      const r2 = await kv.create('sessions.b', bytes('2'));
      expect(r2).toBeGreaterThan(r1);
      const r3 = await kv.update('sessions.a', bytes('1b'), r1);
      expect(r3).toBeGreaterThan(r2);
      expect(await codeOf(() => kv.update('sessions.a', bytes('stale'), r1))).toBe('PM_KV_CONFLICT');
      expect(await codeOf(() => kv.update('sessions.none', bytes('x'), 1))).toBe('PM_KV_CONFLICT');
      expect(text((await kv.get('sessions.a'))!.value)).toBe('1b');
      await kv.put('leases.x', bytes('l'));
      expect((await kv.keys()).sort()).toEqual(['leases.x', 'sessions.a', 'sessions.b']);
      expect((await kv.keys('sessions.*')).sort()).toEqual(['sessions.a', 'sessions.b']);
      expect(await kv.keys('nothing.>')).toEqual([]);
      expect(await codeOf(() => kv.delete('sessions.a', { revision: r1 }))).toBe('PM_KV_CONFLICT');
      await kv.delete('sessions.a', { revision: r3 });
      expect(await kv.get('sessions.a')).toBeUndefined();
      expect((await kv.keys('sessions.*')).sort()).toEqual(['sessions.b']);
      // A deleted key can be created again.
      expect(await kv.create('sessions.a', bytes('again'))).toBeGreaterThan(r3);
      await kv.delete('sessions.b');
      expect(await kv.get('sessions.b')).toBeUndefined();
      expect(await codeOf(() => kv.put('bad key', bytes('x')))).toBe('PM_KV_KEY_INVALID');
      expect(await codeOf(() => kv.get('.lead'))).toBe('PM_KV_KEY_INVALID');
      expect(await codeOf(() => kv.keys('a..b'))).toBe('PM_KV_KEY_INVALID');
      // The same bucket opened again sees the same data.
      const again = await bb.kv({ bucket: kv.name, storage: 'memory' });
      expect(text((await again.get('sessions.a'))!.value)).toBe('again');
    });

    it('expires entries ttlMs after their last write', async () => {
      const kv = await bb.kv({ bucket: uniqueName().toUpperCase(), ttlMs: 400, storage: 'memory' });
      const rev = await kv.put('k', bytes('v'));
      expect(await kv.get('k')).toMatchObject({ revision: rev });
      await waitFor(async () => (await kv.get('k')) === undefined, 'ttl expiry', 5_000);
      expect(await kv.keys()).toEqual([]);
      expect(await codeOf(() => kv.update('k', bytes('v2'), rev))).toBe('PM_KV_CONFLICT');
      expect(await kv.create('k', bytes('v3'))).toBeGreaterThan(rev);
    });
  });

  describe('close', () => {
    it('is idempotent, reports closed and rejects later work with PM_BACKBONE_CLOSED', async () => {
      const other = await env.connect();
      const statuses: BackboneStatus[] = [];
      other.onStatus((s) => statuses.push(s));
      const { p, stream } = await (async () => {
        const p = uniqueName();
        await other.ensureStream({ name: p.toUpperCase(), subjects: [`${p}.>`], storage: 'memory' });
        return { p, stream: p.toUpperCase() };
      })();
      const handle = await other.consume({ stream, deliver: { kind: 'all' } }, (m) => m.ack());
      await Promise.all([other.close(), other.close()]);
      await other.close();
      expect(other.isReady()).toBe(false);
      expect(statuses).toContain('closed');
      await handle.stop();
      expect(await codeOf(() => other.append(`${p}.x`, bytes('x')))).toBe('PM_BACKBONE_CLOSED');
      expect(await codeOf(() => other.publish(`${p}.x`, bytes('x')))).toBe('PM_BACKBONE_CLOSED');
      expect(await codeOf(() => other.subscribe(`${p}.x`, () => {}))).toBe('PM_BACKBONE_CLOSED');
      expect(await codeOf(() => other.kv({ bucket: 'B' }))).toBe('PM_BACKBONE_CLOSED');
      // The ephemeral consumer went with it.
      expect(await bb.consumerState(stream, handle.name).catch(() => undefined)).toBeUndefined();
    });
  });
});

// NATS only: the in-process backbone has no server to lose.
describe('NATS backbone', () => {
  it('reconnects after the server restarts: readiness follows, subscriptions and consumers resume', async () => {
    const server = await startNatsServer();
    const { port, storeDir } = server;
    let restarted: NatsServerHandle | undefined;
    const client = await connectNats({ servers: server.url, name: 'reconnect-test' });
    try {
      const statuses: BackboneStatus[] = [];
      client.onStatus((s) => statuses.push(s));
      const p = uniqueName();
      await client.ensureStream({ name: p.toUpperCase(), subjects: [`${p}.s.>`] });
      const live: string[] = [];
      client.subscribe(`${p}.live`, (m) => live.push(text(m.payload)));
      const consumed: string[] = [];
      await client.consume({ stream: p.toUpperCase(), durable: 'survivor', deliver: { kind: 'all' } }, (m) => {
        consumed.push(text(m.payload));
        m.ack();
      });
      const ephemeral: string[] = [];
      await client.consume({ stream: p.toUpperCase(), deliver: { kind: 'new' } }, (m) => {
        ephemeral.push(text(m.payload));
        m.ack();
      });
      await client.append(`${p}.s.a`, bytes('before'));
      await waitFor(() => consumed.length === 1 && ephemeral.length === 1, 'delivery before the restart');

      await server.kill();
      await waitFor(() => !client.isReady(), 'not ready after the kill');
      restarted = await startNatsServer({ port, storeDir });
      await waitFor(() => client.isReady(), 'ready after the restart', 20_000);
      expect(statuses.slice(0, 2)).toEqual(['reconnecting', 'connected']);

      await waitFor(
        async () => {
          client.publish(`${p}.live`, bytes('after'));
          await client.flush();
          return live.length > 0;
        },
        'live delivery after the restart',
        10_000,
        200,
      );
      await client.append(`${p}.s.b`, bytes('after'));
      await waitFor(() => consumed.includes('after'), 'durable consumer resumed', 20_000);
      // The server forgets ephemeral consumers on restart; the handle recreates its own.
      await waitFor(() => ephemeral.includes('after'), 'ephemeral consumer resumed', 20_000);
      expect(ephemeral).toEqual(['before', 'after']);
    } finally {
      await client.close();
      await restarted?.stop();
      await server.stop();
      await rm(storeDir, { recursive: true, force: true });
    }
  });
});

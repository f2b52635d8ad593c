/**
 * The NATS append path beyond the contract suite: many appends in flight matched to their
 * callers, timeouts (a stream that never acknowledges: `no_ack`), server errors, close and
 * reconnect while appends are in flight. One nats-server per file, unique names per case.
 */
import { rm } from 'node:fs/promises';
import { jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type AppendResult, type Backbone, connectNats } from '@protomesh/backbone';
import { type NatsServerHandle, startNatsServer, uniqueName, waitFor } from '@protomesh/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { Appender } from '../../src/nats/appender.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (s: string) => encoder.encode(s);
const text = (b: Uint8Array) => decoder.decode(b);

async function codeOf(action: () => unknown): Promise<string | undefined> {
  try {
    await action();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('NATS append', () => {
  let server: NatsServerHandle;
  let bb: Backbone;
  /** A plain nats.js connection, for what the contract cannot set up (a stream without acks). */
  let raw: NatsConnection;

  beforeAll(async () => {
    server = await startNatsServer();
    bb = await connectNats({ servers: server.url, name: 'append-test' });
    raw = await connect({ servers: server.url });
  });

  afterAll(async () => {
    await bb?.close();
    await raw?.close();
    await server?.stop();
  });

  async function freshStream() {
    const p = uniqueName();
    const stream = p.toUpperCase();
    await bb.ensureStream({ name: stream, subjects: [`${p}.s.>`], storage: 'memory' });
    return { p, stream, subject: (rest: string) => `${p}.s.${rest}` };
  }

  /** A stream that stores what it captures but never answers an append. */
  async function silentStream() {
    const p = uniqueName();
    const stream = p.toUpperCase();
    const jsm = await jetstreamManager(raw);
    await jsm.streams.add({ name: stream, subjects: [`${p}.q.>`], no_ack: true, storage: StorageType.Memory });
    return { stream, subject: `${p}.q.x` };
  }

  it('resolves many concurrent appends on two streams each to its own caller', async () => {
    const a = await freshStream();
    const b = await freshStream();
    const count = 3_000;
    const sent = Array.from({ length: count }, (_, i) => {
      const target = i % 3 === 0 ? b : a;
      return { target, body: `m${i}`, subject: target.subject(String(i % 7)) };
    });
    const results: AppendResult[] = await Promise.all(
      sent.map((m, i) => bb.append(m.subject, bytes(m.body), { msgId: `id-${i}`, headers: [['X-I', String(i)]] })),
    );
    for (const [target, n] of [
      [a, count - count / 3],
      [b, count / 3],
    ] as const) {
      const stored = await bb.readStream!(target.stream, { fromSeq: 1, maxMessages: count });
      expect(stored).toHaveLength(n);
      const bySeq = new Map(stored.map((m) => [m.seq, m]));
      sent.forEach((m, i) => {
        if (m.target !== target) return;
        expect(results[i]).toEqual({ stream: target.stream, seq: results[i]!.seq, duplicate: false });
        const message = bySeq.get(results[i]!.seq);
        expect(text(message!.payload)).toBe(m.body);
        expect(message!.subject).toBe(m.subject);
        expect(message!.headers).toEqual([
          ['X-I', String(i)],
          ['Nats-Msg-Id', `id-${i}`],
        ]);
      });
    }
  });

  it('fails with PM_APPEND_TIMEOUT when the stream does not acknowledge, whatever the mix of timeouts', async () => {
    const silent = await silentStream();
    const { stream, subject } = await freshStream();
    const outcomes = await Promise.allSettled([
      bb.append(silent.subject, bytes('late'), { timeoutMs: 600 }),
      bb.append(silent.subject, bytes('early'), { timeoutMs: 150 }),
      bb.append(subject('ok'), bytes('ok'), { timeoutMs: 300 }),
    ]);
    expect(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as { code: string }).code : o.value))).toEqual([
      'PM_APPEND_TIMEOUT',
      'PM_APPEND_TIMEOUT',
      { stream, seq: 1, duplicate: false },
    ]);
    // "May or may not be stored": this stream stored both.
    expect((await bb.streamState(silent.stream))?.messages).toBe(2);
  });

  it('fails with PM_NO_STREAM after the timeout when a live subscriber swallows an uncaptured subject', async () => {
    const subject = `${uniqueName()}.live`;
    const sub = bb.subscribe(subject, () => {});
    await bb.flush();
    const err = await bb.append(subject, bytes('x'), { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PM_NO_STREAM' });
    sub.unsubscribe();
  });

  it('maps server errors: a wrong expected stream, and any other API error with its description', async () => {
    const { stream, subject } = await freshStream();
    const other = await freshStream();
    expect(await codeOf(() => bb.append(subject('a'), bytes('x'), { expectStream: other.stream }))).toBe(
      'PM_STREAM_MISMATCH',
    );
    // A JetStream header the contract does not model: the server refuses the append.
    const err = await bb
      .append(subject('a'), bytes('x'), { headers: [['Nats-Expected-Last-Sequence', '99']] })
      .catch((e: unknown) => e as Error);
    expect(err).toMatchObject({ code: 'PM_BACKBONE_REQUEST' });
    expect((err as Error).message).toMatch(/wrong last sequence/);
    expect(await bb.append(subject('a'), bytes('x'), { expectStream: stream })).toEqual({
      stream,
      seq: 1,
      duplicate: false,
    });
  });

  it('sends msgId in place of a Nats-Msg-Id header, and reports the duplicate', async () => {
    const { stream, subject } = await freshStream();
    const first = await bb.append(subject('d'), bytes('1'), { msgId: 'opt', headers: [['Nats-Msg-Id', 'header']] });
    const again = await bb.append(subject('d'), bytes('2'), { msgId: 'opt' });
    expect(again).toEqual({ stream, seq: first.seq, duplicate: true });
    expect((await bb.getMessage(stream, first.seq))?.headers).toEqual([['Nats-Msg-Id', 'opt']]);
  });

  it('close() lets appends in flight get their acknowledgements first', async () => {
    const own = await connectNats({ servers: server.url, name: 'append-close-test' });
    const { stream, subject } = await freshStream();
    const appends = Array.from({ length: 500 }, (_, i) => own.append(subject('c'), bytes(String(i))));
    const closed = own.close();
    const results = await Promise.all(appends);
    await closed;
    expect(results.map((r) => r.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(await codeOf(() => own.append(subject('c'), bytes('after')))).toBe('PM_BACKBONE_CLOSED');
    expect((await bb.streamState(stream))?.messages).toBe(500);
  });

  it('fails appends in flight with PM_BACKBONE_CLOSED when the connection closes under them', async () => {
    const silent = await silentStream();
    const nc = await connect({ servers: server.url });
    const appender = new Appender({
      nc,
      connectionFor: () => nc,
      logger: silentLogger,
      isConnected: () => true,
      captured: async () => true,
    });
    const pending = appender.append(silent.subject, bytes('x'), {}, 60_000).catch((e: unknown) => e);
    await nc.flush();
    expect(appender.pending).toBe(1);
    await nc.close();
    expect(await pending).toMatchObject({ code: 'PM_BACKBONE_CLOSED' });
    expect(appender.pending).toBe(0);
    expect(await codeOf(() => appender.append(silent.subject, bytes('y'), {}, 1_000))).toBe('PM_BACKBONE_CLOSED');
  });

  it('times out an append made while disconnected (nats.js drops what it buffered), and appends after the reconnect', async () => {
    const own = await startNatsServer();
    let restarted: NatsServerHandle | undefined;
    const client = await connectNats({ servers: own.url, name: 'append-reconnect-test' });
    try {
      const p = uniqueName();
      const stream = p.toUpperCase();
      await client.ensureStream({ name: stream, subjects: [`${p}.>`] });
      expect(await client.append(`${p}.a`, bytes('before'))).toMatchObject({ seq: 1 });
      await own.kill();
      await waitFor(() => !client.isReady(), 'not ready after the kill');
      // Disconnected: no stream lookup is possible, so it is a timeout, not a missing stream.
      expect(await codeOf(() => client.append(`${p}.a`, bytes('during'), { timeoutMs: 200 }))).toBe(
        'PM_APPEND_TIMEOUT',
      );
      restarted = await startNatsServer({ port: own.port, storeDir: own.storeDir });
      await waitFor(() => client.isReady(), 'ready after the restart', 20_000);
      const after = await client.append(`${p}.a`, bytes('after'), { timeoutMs: 10_000 });
      expect(after).toEqual({ stream, seq: 2, duplicate: false });
      expect(text((await client.getMessage(stream, 2))!.payload)).toBe('after');
    } finally {
      await client.close();
      await restarted?.stop();
      await own.stop();
      await rm(own.storeDir, { recursive: true, force: true });
    }
  });
});

// Bad input: random and mutated frames, text and binary, from client after client, while a
// neighbour on the same replica keeps receiving every message in order. Each offender gets
// only documented error codes and close codes; the process never fails.
import { type NatsServerHandle, startNatsServer, uniqueName } from '@protomesh/test-support';
import { binaryFrame, CLOSE_CODES, WS_ERRORS } from '@protomesh/ws-edge';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Frame, TestClient } from '../support/client.js';
import { Replicas } from '../support/replicas.js';

let nats: NatsServerHandle;
let replicas: Replicas;

beforeAll(async () => {
  nats = await startNatsServer();
  replicas = new Replicas(nats.url);
});

afterEach(async () => {
  await replicas.close();
});

afterAll(async () => {
  await nats?.stop();
});

const VALID = [
  '{"op":"sub","id":1,"filter":"a/+/c"}',
  '{"op":"unsub","id":"u","filter":"a/#"}',
  '{"op":"pub","id":2,"topic":"a/b","qos":1,"text":"hello"}',
  '{"op":"pub","topic":"a/b","b64":"AAEC","contentType":"x/y"}',
  '{"op":"pub","topic":"a/b","data":{"k":[1,2]},"retain":true}',
  '{"op":"sub","filter":"a/#","since":0,"retained":true}',
  '{"op":"sub","filter":"q/#","ack":true,"window":2}',
  '{"op":"ack","sub":"q/#","seq":1}',
  '{"op":"connect","client":"fz","binary":true}',
  '{"op":"refresh","token":"x.y.z"}',
  '{"op":"ping","id":3}',
];
const OPS = ['sub', 'unsub', 'pub', 'ack', 'ping', 'connect', 'refresh', 'bogus', ''];

/** One frame to send: text or bytes. */
type FuzzFrame = { readonly text: string } | { readonly bytes: Buffer };

const mutated = fc
  .record({
    base: fc.constantFrom(...VALID),
    at: fc.nat(),
    kind: fc.constantFrom('replace', 'delete', 'insert', 'truncate'),
    with: fc.string({ maxLength: 4 }),
  })
  .map(({ base, at, kind, with: chunk }): FuzzFrame => {
    const i = at % (base.length + 1);
    if (kind === 'truncate') return { text: base.slice(0, i) };
    if (kind === 'delete') return { text: base.slice(0, i) + base.slice(i + 1) };
    if (kind === 'insert') return { text: base.slice(0, i) + chunk + base.slice(i) };
    return { text: base.slice(0, i) + chunk + base.slice(i + chunk.length) };
  });

const anyValue = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.json(),
);
const structured = fc
  .record(
    {
      op: fc.constantFrom(...OPS),
      id: anyValue,
      filter: fc.oneof(
        fc.constantFrom('#', 'a/+', '$share/g/a', 'a/#/b', '', '+/+/#', '$SYS/#'),
        fc.string({ maxLength: 20 }),
      ),
      topic: fc.oneof(fc.constantFrom('a', 'a/+', '', '$x', 'a\u0000b'), fc.string({ maxLength: 20 })),
      qos: fc.oneof(fc.constantFrom(0, 1, 2, '1', -1), anyValue),
      text: anyValue,
      b64: fc.oneof(fc.base64String({ maxLength: 20 }), anyValue),
      data: fc.json(),
      since: fc.oneof(fc.integer({ min: -5, max: 5 }), anyValue),
      seq: anyValue,
      sub: anyValue,
      token: anyValue,
      window: anyValue,
      retain: anyValue,
      ack: anyValue,
    },
    { requiredKeys: [] },
  )
  .map((frame): FuzzFrame => ({ text: JSON.stringify(frame) }));

const binary = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((bytes): FuzzFrame => ({ bytes: Buffer.from(bytes) })),
  fc
    .record({
      header: fc.constantFrom(...VALID),
      payload: fc.uint8Array({ maxLength: 32 }),
      lie: fc.integer({ min: -3, max: 3 }),
    })
    .map(({ header, payload, lie }): FuzzFrame => {
      const frame = binaryFrame(JSON.parse(header), payload);
      frame.writeUInt32BE(Math.max(0, frame.readUInt32BE(0) + lie), 0);
      return { bytes: frame };
    }),
);

const frames = fc.oneof(
  { weight: 3, arbitrary: mutated },
  { weight: 3, arbitrary: structured },
  { weight: 2, arbitrary: binary },
  { weight: 1, arbitrary: fc.string({ maxLength: 100 }).map((text): FuzzFrame => ({ text })) },
  { weight: 1, arbitrary: fc.json().map((text): FuzzFrame => ({ text })) },
  { weight: 1, arbitrary: fc.constant<FuzzFrame>({ text: `{"op":"pub","topic":"a","text":"${'x'.repeat(70_000)}"}` }) },
);

const ERROR_CODES = new Set(WS_ERRORS.map((error) => error.code));
const CLOSES = new Set(CLOSE_CODES.map((entry) => entry.code));

describe('fuzz', () => {
  it('answers random and mutated frames with documented codes only; a neighbour keeps receiving', async () => {
    const mesh = await replicas.start(uniqueName(), { WS_PUBLISH_RATE: '0' });
    const neighbour = await replicas.client(mesh);
    expect(await neighbour.request({ op: 'sub', id: 's', filter: 'neighbour/only' })).toMatchObject({ op: 'ok' });
    const publisher = await replicas.client(mesh);

    const sample = fc.sample(frames, { numRuns: 400, seed: 4242 });
    const seenFrames: Frame[] = [];
    const closes: number[] = [];
    let offender: TestClient | undefined;
    let published = 0;
    for (const [n, frame] of sample.entries()) {
      offender ??= await replicas.client(mesh);
      if ('text' in frame) offender.sendRaw(frame.text);
      else offender.sendRaw(frame.bytes, true);
      if (n % 20 === 0) publisher.send({ op: 'pub', topic: 'neighbour/only', qos: 1, text: `n-${published++}` });
      if (!(await settle(offender, seenFrames))) {
        closes.push((await offender.closed).code);
        offender = undefined; // a repeat offender is closed: the next frames come from a new client
      }
    }
    await offender?.close();

    // Only documented frames, error codes and close codes.
    for (const frame of seenFrames) {
      expect(['ok', 'pong', 'error', 'msg']).toContain(frame.op);
      if (frame.op === 'error') expect(ERROR_CODES.has(frame.code as string)).toBe(true);
    }
    expect(seenFrames.some((frame) => frame.op === 'error')).toBe(true);
    for (const code of closes) expect(CLOSES.has(code)).toBe(true);
    expect(closes.length).toBeGreaterThan(10);

    // The neighbour got every message, once, in order.
    const texts: string[] = [];
    while (texts.length < published) texts.push((await neighbour.nextMsg(10_000)).text as string);
    expect(texts).toEqual(Array.from({ length: published }, (_, i) => `n-${i}`));
    expect(await neighbour.barrier()).toEqual([]);
    // And the replica still serves new clients.
    const fresh = await replicas.client(mesh);
    expect(await fresh.request({ op: 'ping', id: 'alive' })).toEqual({ op: 'pong', id: 'alive' });
  });
});

let barriers = 0;

/**
 * Collects what the server answered to the last frame: a ping round trip when the connection
 * is still open (true), or everything up to the close (false).
 */
async function settle(client: TestClient, into: Frame[]): Promise<boolean> {
  const id = `barrier-${barriers++}`;
  if (client.ws.readyState === client.ws.OPEN) client.send({ op: 'ping', id });
  const closed = client.closed.then(() => undefined);
  for (;;) {
    if (client.pending === 0 && client.ws.readyState !== client.ws.OPEN) {
      await closed;
      while (client.pending > 0) into.push(await client.next());
      return false;
    }
    const next = client.next(10_000);
    const frame = await Promise.race([next, closed]);
    if (frame === undefined) {
      // Closed: the frame `next` waits for may still come before the close is seen.
      const late = await Promise.race([
        next,
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 20)),
      ]);
      next.catch(() => undefined);
      if (late !== undefined) into.push(late);
      while (client.pending > 0) into.push(await client.next());
      return false;
    }
    into.push(frame);
    if (frame.op === 'pong' && frame.id === id) return true;
  }
}

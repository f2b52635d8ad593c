import {
  binaryDeliveryFrame,
  binaryFrame,
  deliveryFrame,
  errorFrame,
  okFrame,
  type ParseResult,
  parseBinaryFrame,
  parseFrame,
  pongFrame,
  validTraceparent,
  validTracestate,
} from '@protomesh/ws-edge';
import { describe, expect, it } from 'vitest';

function rejected(result: ParseResult): { code: string; message: string; id: unknown } {
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result.request)}`);
  return { code: result.error.code, message: result.error.message, id: result.id };
}

function accepted(result: ParseResult) {
  if (!result.ok) throw new Error(`expected a request, got ${result.error.code}: ${result.error.message}`);
  return result.request;
}

describe('parseFrame', () => {
  it('rejects text that is not a JSON object as PM_WS_MALFORMED_FRAME', () => {
    for (const text of ['{', 'hello', '[]', '[1]', 'null', '42', '"op"', 'true', '']) {
      expect(rejected(parseFrame(text)).code).toBe('PM_WS_MALFORMED_FRAME');
    }
  });

  it('parses sub, unsub and ping, with or without ids', () => {
    expect(accepted(parseFrame('{"op":"sub","id":1,"filter":"sensors/+/temp"}'))).toEqual({
      op: 'sub',
      id: 1,
      filter: 'sensors/+/temp',
      since: undefined,
      retained: false,
      ack: false,
      window: undefined,
    });
    expect(accepted(parseFrame('{"op":"unsub","id":"u","filter":"a/#"}'))).toEqual({
      op: 'unsub',
      id: 'u',
      filter: 'a/#',
    });
    expect(accepted(parseFrame('{"op":"ping"}'))).toEqual({ op: 'ping', id: undefined });
    expect(accepted(parseFrame('{"op":"ping","extra":"ignored"}'))).toEqual({ op: 'ping', id: undefined });
  });

  it('names the unknown op, and keeps the id for the reply', () => {
    const error = rejected(parseFrame('{"op":"subscribe","id":7}'));
    expect(error).toMatchObject({ code: 'PM_WS_UNKNOWN_OP', id: 7 });
    expect(error.message).toContain('"subscribe"');
  });

  it.each([
    ['{"id":1}', 'op: missing'],
    ['{"op":5}', 'op: expected a string'],
    ['{"op":"sub"}', 'filter: missing'],
    ['{"op":"unsub","filter":3}', 'filter: expected a string'],
    ['{"op":"pub","text":"x"}', 'topic: missing'],
    ['{"op":"pub","topic":"a","qos":2,"text":"x"}', 'qos: expected 0 or 1'],
    ['{"op":"pub","topic":"a","qos":"1","text":"x"}', 'qos: expected 0 or 1'],
    ['{"op":"pub","topic":"a","retain":1,"text":"x"}', 'retain: expected true or false'],
    ['{"op":"pub","topic":"a","contentType":1,"text":"x"}', 'contentType: expected a string'],
    ['{"op":"pub","topic":"a"}', 'payload: one of text, b64 or data is required'],
    ['{"op":"pub","topic":"a","text":"x","b64":"eA=="}', 'payload: give only one of text, b64'],
    ['{"op":"pub","topic":"a","text":5}', 'text: expected a string'],
    ['{"op":"pub","topic":"a","text":"\\ud800"}', 'text: contains a lone surrogate'],
    ['{"op":"pub","topic":"a","b64":"not base64!"}', 'b64: expected standard base64'],
    ['{"op":"pub","topic":"a","b64":"eA"}', 'b64: expected standard base64'],
    ['{"op":"pub","topic":"a","b64":7}', 'b64: expected standard base64'],
  ])('rejects %s as PM_WS_BAD_REQUEST naming the field', (text, message) => {
    const error = rejected(parseFrame(text));
    expect(error.code).toBe('PM_WS_BAD_REQUEST');
    expect(error.message).toContain(message);
  });

  it('accepts string and number ids, rejects other ids without echoing them', () => {
    expect(accepted(parseFrame('{"op":"ping","id":"abc"}')).id).toBe('abc');
    expect(accepted(parseFrame('{"op":"ping","id":0}')).id).toBe(0);
    for (const id of ['{}', '[1]', 'true', 'null', JSON.stringify('x'.repeat(129))]) {
      const error = rejected(parseFrame(`{"op":"ping","id":${id}}`));
      expect(error).toMatchObject({ code: 'PM_WS_BAD_REQUEST', id: undefined });
      expect(error.message).toMatch(/^id: /);
    }
  });

  it('turns text, b64 and data payloads into exact bytes', () => {
    const text = accepted(parseFrame(JSON.stringify({ op: 'pub', topic: 'a', text: '\uFEFFgrüße 🌡' })));
    expect(text).toMatchObject({ qos: 0, retain: false, payloadFormat: 1, contentType: undefined });
    expect(Buffer.from((text as { payload: Uint8Array }).payload)).toEqual(Buffer.from('\uFEFFgrüße 🌡', 'utf8'));

    const bytes = Buffer.from([0, 255, 128, 10, 0xc3]);
    const b64 = accepted(parseFrame(JSON.stringify({ op: 'pub', topic: 'a', qos: 1, b64: bytes.toString('base64') })));
    expect(b64).toMatchObject({ qos: 1, payloadFormat: undefined });
    expect(Buffer.from((b64 as { payload: Uint8Array }).payload)).toEqual(bytes);

    const data = accepted(parseFrame('{"op":"pub","topic":"a","retain":true,"data":{"on":true,"n":[1,2]}}'));
    expect(data).toMatchObject({ retain: true, contentType: 'application/json', payloadFormat: 1 });
    expect(Buffer.from((data as { payload: Uint8Array }).payload).toString()).toBe('{"on":true,"n":[1,2]}');

    const nullData = accepted(parseFrame('{"op":"pub","topic":"a","data":null,"contentType":"application/x"}'));
    expect(nullData).toMatchObject({ contentType: 'application/x' });
    expect(Buffer.from((nullData as { payload: Uint8Array }).payload).toString()).toBe('null');

    const empty = accepted(parseFrame('{"op":"pub","topic":"a","text":""}'));
    expect((empty as { payload: Uint8Array }).payload.byteLength).toBe(0);
  });
});

describe('server frames', () => {
  it('builds ok, pong and error frames with the request id', () => {
    expect(JSON.parse(okFrame(1))).toEqual({ op: 'ok', id: 1 });
    expect(JSON.parse(okFrame('p', { seq: 9 }))).toEqual({ op: 'ok', id: 'p', seq: 9 });
    expect(JSON.parse(pongFrame(undefined))).toEqual({ op: 'pong' });
    expect(JSON.parse(pongFrame('x'))).toEqual({ op: 'pong', id: 'x' });
    expect(JSON.parse(errorFrame({ code: 'PM_WS_X', message: 'm' }, undefined))).toEqual({
      op: 'error',
      code: 'PM_WS_X',
      message: 'm',
    });
    expect(JSON.parse(errorFrame({ code: 'PM_WS_X', message: 'm' }, 0))).toEqual({
      op: 'error',
      id: 0,
      code: 'PM_WS_X',
      message: 'm',
    });
  });

  it('delivers valid UTF-8 as text (BOM kept) and anything else as b64, byte-exact', () => {
    const utf8 = Buffer.from('\uFEFFtemp 21.5°', 'utf8');
    const asText = JSON.parse(
      deliveryFrame({ sub: 't/#', topic: 't', qos: 1, payload: utf8, origin: 'mqtt', retain: true, seq: 3 }),
    );
    expect(asText).toEqual({
      op: 'msg',
      sub: 't/#',
      topic: 't',
      qos: 1,
      seq: 3,
      text: '\uFEFFtemp 21.5°',
      retain: true,
      origin: 'mqtt',
    });
    expect(Object.keys(asText)).toEqual(['op', 'sub', 'topic', 'qos', 'seq', 'text', 'retain', 'origin']);
    expect(Buffer.from(asText.text, 'utf8')).toEqual(utf8);

    const binary = Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28]);
    const asB64 = JSON.parse(
      deliveryFrame({ topic: 't', qos: 0, payload: binary, contentType: 'application/octet-stream' }),
    );
    expect(asB64).toEqual({
      op: 'msg',
      topic: 't',
      qos: 0,
      b64: binary.toString('base64'),
      contentType: 'application/octet-stream',
    });

    // A view into a larger buffer: only its own bytes go out.
    const backing = Buffer.from([1, 2, 0xff, 4, 5]);
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 1, 3);
    expect(JSON.parse(deliveryFrame({ topic: 't', qos: 0, payload: view })).b64).toBe(
      Buffer.from([2, 0xff, 4]).toString('base64'),
    );

    expect(JSON.parse(deliveryFrame({ topic: 't', qos: 0, payload: new Uint8Array(0) }))).toEqual({
      op: 'msg',
      topic: 't',
      qos: 0,
      text: '',
    });
  });
});

describe('v1 requests', () => {
  it('parses sub with since, retained, ack and window', () => {
    expect(
      accepted(parseFrame('{"op":"sub","id":1,"filter":"a/#","since":0,"retained":true,"ack":true,"window":5}')),
    ).toEqual({
      op: 'sub',
      id: 1,
      filter: 'a/#',
      since: 0,
      retained: true,
      ack: true,
      window: 5,
    });
    expect(accepted(parseFrame('{"op":"sub","filter":"a"}'))).toMatchObject({
      retained: false,
      ack: false,
      since: undefined,
    });
  });

  it.each([
    ['{"op":"sub","filter":"a","since":-1}', 'since:'],
    ['{"op":"sub","filter":"a","since":1.5}', 'since:'],
    ['{"op":"sub","filter":"a","since":"3"}', 'since:'],
    ['{"op":"sub","filter":"a","retained":"yes"}', 'retained:'],
    ['{"op":"sub","filter":"a","ack":1}', 'ack:'],
    ['{"op":"sub","filter":"a","window":0}', 'window:'],
    ['{"op":"sub","filter":"a","window":10001}', 'window:'],
    ['{"op":"ack","seq":1}', 'sub: missing'],
    ['{"op":"ack","sub":"a","seq":0}', 'seq:'],
    ['{"op":"pub","topic":"a","text":"x","msgId":""}', 'msgId:'],
    ['{"op":"pub","topic":"a","text":"x","msgId":7}', 'msgId:'],
    ['{"op":"connect","client":"has space"}', 'client:'],
    ['{"op":"connect","token":""}', 'token:'],
    ['{"op":"connect","binary":"yes"}', 'binary:'],
    ['{"op":"refresh"}', 'token:'],
  ])('rejects %s as PM_WS_BAD_REQUEST naming the field', (text, field) => {
    const error = rejected(parseFrame(text));
    expect(error.code).toBe('PM_WS_BAD_REQUEST');
    expect(error.message.startsWith(field)).toBe(true);
  });

  it('parses connect, refresh, ack and a publish msgId', () => {
    expect(accepted(parseFrame('{"op":"connect","id":0,"token":"t","client":"app-1:x","binary":true}'))).toEqual({
      op: 'connect',
      id: 0,
      token: 't',
      client: 'app-1:x',
      binary: true,
    });
    expect(accepted(parseFrame('{"op":"refresh","token":"t2"}'))).toEqual({
      op: 'refresh',
      id: undefined,
      token: 't2',
    });
    expect(accepted(parseFrame('{"op":"ack","sub":"a/#","seq":7}'))).toEqual({
      op: 'ack',
      id: undefined,
      sub: 'a/#',
      seq: 7,
    });
    expect(accepted(parseFrame('{"op":"pub","topic":"a","text":"x","qos":1,"msgId":"m-1"}'))).toMatchObject({
      msgId: 'm-1',
    });
  });
});

describe('trace context fields (W3C Trace Context)', () => {
  const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
  const PARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;
  const pub = (fields: Record<string, unknown>) =>
    accepted(parseFrame(JSON.stringify({ op: 'pub', topic: 'a', text: 'x', ...fields })));

  it('parses optional traceparent and tracestate on pub', () => {
    expect(pub({})).toMatchObject({ traceparent: undefined, tracestate: undefined });
    expect(pub({ traceparent: PARENT, tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE' })).toMatchObject({
      traceparent: PARENT,
      tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
    });
  });

  it('ignores a malformed traceparent (W3C Trace Context §3.2.2), and tracestate without a valid one (§3.3)', () => {
    for (const bad of [
      42,
      '',
      PARENT.toUpperCase(), // §3.2.2: lower-case hex only
      `ff-${TRACE_ID}-00f067aa0ba902b7-01`, // §3.2.2.1: version ff is invalid
      `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, // §3.2.2.3: all-zero trace-id
      `00-${TRACE_ID}-${'0'.repeat(16)}-01`, // §3.2.2.4: all-zero parent-id
      `${PARENT}-extra`, // version 00 has exactly four fields
      `00-${TRACE_ID}-00f067aa0ba902b7-01\r\nx: y`,
    ]) {
      expect(validTraceparent(bad)).toBeUndefined();
      // Advisory fields: the publish is still accepted, without trace context.
      expect(pub({ traceparent: bad, tracestate: 'a=b' })).toMatchObject({
        traceparent: undefined,
        tracestate: undefined,
      });
    }
    // A later version may append fields (§3.2.2.1 "future versions").
    expect(validTraceparent(`cc-${TRACE_ID}-00f067aa0ba902b7-01-what-the-future-holds`)).toBeDefined();
  });

  it('drops a tracestate that is not printable ASCII or longer than 512 characters, keeping the traceparent', () => {
    expect(validTracestate('a=b\n')).toBeUndefined();
    expect(validTracestate(`a=${'x'.repeat(511)}`)).toBeUndefined();
    expect(validTracestate(`a=${'x'.repeat(510)}`)).toHaveLength(512);
    expect(pub({ traceparent: PARENT, tracestate: 7 })).toMatchObject({ traceparent: PARENT, tracestate: undefined });
  });

  it('writes traceparent and tracestate last in msg frames, text and binary, and nothing when absent', () => {
    const payload = Buffer.from('hi');
    const traced = { topic: 't', qos: 0 as const, payload, traceparent: PARENT, tracestate: 'a=b' };
    expect(deliveryFrame(traced)).toBe(
      `{"op":"msg","topic":"t","qos":0,"text":"hi","traceparent":"${PARENT}","tracestate":"a=b"}`,
    );
    const binary = binaryDeliveryFrame({ ...traced, payload: Buffer.from([0xff]) });
    expect(JSON.parse(binary.subarray(4, 4 + binary.readUInt32BE(0)).toString())).toEqual({
      op: 'msg',
      topic: 't',
      qos: 0,
      traceparent: PARENT,
      tracestate: 'a=b',
    });
    expect(deliveryFrame({ topic: 't', qos: 0, payload, tracestate: 'a=b' })).toBe(
      '{"op":"msg","topic":"t","qos":0,"text":"hi"}',
    );
  });
});

describe('binary frames', () => {
  const header = (value: unknown) => Buffer.from(JSON.stringify(value));

  it('carries a pub payload raw after a length-prefixed JSON header, both ways', () => {
    const payload = Buffer.from([0, 0xff, 0xc3, 0x28, 10, 13]);
    const frame = binaryFrame({ op: 'pub', id: 3, topic: 'cam/1', qos: 1, contentType: 'image/x' }, payload);
    expect(frame.readUInt32BE(0)).toBe(
      header({ op: 'pub', id: 3, topic: 'cam/1', qos: 1, contentType: 'image/x' }).length,
    );
    const request = accepted(parseBinaryFrame(frame));
    expect(request).toMatchObject({
      op: 'pub',
      id: 3,
      topic: 'cam/1',
      qos: 1,
      contentType: 'image/x',
      payloadFormat: undefined,
    });
    expect(Buffer.from((request as { payload: Uint8Array }).payload)).toEqual(payload);

    const delivery = binaryDeliveryFrame({ sub: 'cam/#', topic: 'cam/1', qos: 1, seq: 4, payload, origin: 'mqtt' });
    const length = delivery.readUInt32BE(0);
    expect(JSON.parse(delivery.subarray(4, 4 + length).toString())).toEqual({
      op: 'msg',
      sub: 'cam/#',
      topic: 'cam/1',
      qos: 1,
      seq: 4,
      origin: 'mqtt',
    });
    expect(delivery.subarray(4 + length)).toEqual(payload);
  });

  it('accepts an empty payload and other ops without payload', () => {
    const empty = accepted(parseBinaryFrame(binaryFrame({ op: 'pub', topic: 'a' }, new Uint8Array(0))));
    expect((empty as { payload: Uint8Array }).payload.byteLength).toBe(0);
    expect(accepted(parseBinaryFrame(binaryFrame({ op: 'ping', id: 1 }, new Uint8Array(0))))).toEqual({
      op: 'ping',
      id: 1,
    });
  });

  it('rejects frames that break the binary form', () => {
    const cases: Array<[Buffer, string, string]> = [
      [Buffer.from([0, 0]), 'PM_WS_MALFORMED_FRAME', 'shorter'],
      [Buffer.concat([Buffer.from([0, 0, 0, 50]), header({ op: 'ping' })]), 'PM_WS_MALFORMED_FRAME', 'exceeds'],
      [binaryFrame({ op: 'ping' }, Buffer.from('x')), 'PM_WS_BAD_REQUEST', 'only a pub'],
      [binaryFrame({ op: 'pub', topic: 'a', text: 'x' }, Buffer.from('y')), 'PM_WS_BAD_REQUEST', 'after the header'],
    ];
    const notJson = Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from('{x}')]);
    cases.push([notJson, 'PM_WS_MALFORMED_FRAME', 'not valid JSON']);
    const notUtf8 = Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from([0xc3, 0x28])]);
    cases.push([notUtf8, 'PM_WS_MALFORMED_FRAME', 'UTF-8']);
    for (const [frame, code, text] of cases) {
      const error = rejected(parseBinaryFrame(frame));
      expect(error.code).toBe(code);
      expect(error.message).toContain(text);
    }
  });
});

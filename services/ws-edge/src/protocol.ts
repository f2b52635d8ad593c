/**
 * Protomesh WebSocket protocol v1 (docs/ws-protocol.md): parsing client frames (JSON text
 * frames and the binary form) into typed requests, and building server frames. Pure
 * functions, no sockets: the connection decides what to do with the result.
 */
import type { MeshError } from '@protomesh/errors';
import { BadRequestError, MalformedFrameError, UnknownOpError } from './errors.js';

/** The WebSocket subprotocol of this version (Sec-WebSocket-Protocol, RFC 6455 §1.9). */
export const SUBPROTOCOL = 'protomesh.v1';

/** Longest request id echoed back, in characters; ids are for correlation, not payload. */
export const MAX_ID_CHARS = 128;

/** Longest publish `msgId` (idempotency key), in characters. */
export const MAX_MSG_ID_CHARS = 128;

/** Longest `client` id a connection may declare, in characters. */
export const MAX_CLIENT_ID_CHARS = 64;

/** Bytes of the length prefix of a binary frame: a big-endian uint32 (docs/ws-protocol.md "Binary frames"). */
export const BINARY_HEADER_LENGTH_BYTES = 4;

/** Largest `window` (QoS 1 messages in flight) a client may ask for on an acknowledged subscription. */
export const MAX_ACK_WINDOW = 10_000;

/**
 * Longest `tracestate` kept, in characters: W3C Trace Context §3.3.1.5 asks vendors to
 * propagate at least 512; a longer one is dropped (the `traceparent` is still used).
 */
export const MAX_TRACESTATE_CHARS = 512;

/** Longest `traceparent` kept, in characters (version 00 is 55; later versions may append fields). */
export const MAX_TRACEPARENT_CHARS = 256;

/** A client-chosen request id, echoed in the `ok`, `pong` or `error` reply. */
export type RequestId = string | number;

/** QoS levels of the WebSocket tier (MQTT QoS 2 has no WebSocket equivalent). */
export type WsQos = 0 | 1;

/** `connect`: optional first frame (token, client id, binary deliveries). */
export interface ConnectRequest {
  readonly op: 'connect';
  readonly id: RequestId | undefined;
  readonly token: string | undefined;
  readonly client: string | undefined;
  readonly binary: boolean | undefined;
}

/** `refresh`: a new token for the open connection. */
export interface RefreshRequest {
  readonly op: 'refresh';
  readonly id: RequestId | undefined;
  readonly token: string;
}

/** A `sub` request. */
export interface SubscribeRequest {
  readonly op: 'sub';
  readonly id: RequestId | undefined;
  readonly filter: string;
  /** Recover from this stream position: every stored message after it is delivered first. */
  readonly since: number | undefined;
  /** Deliver the retained message of every matching topic first. */
  readonly retained: boolean;
  /** Client acknowledgements: QoS 1 messages are redelivered until acked. */
  readonly ack: boolean;
  /** Acked subscriptions: most unacknowledged messages in flight. */
  readonly window: number | undefined;
}

/** An `unsub` request. */
export interface UnsubscribeRequest {
  readonly op: 'unsub';
  readonly id: RequestId | undefined;
  readonly filter: string;
}

/** Kept for callers of the first protocol module: a `sub` or `unsub`. */
export type FilterRequest = SubscribeRequest | UnsubscribeRequest;

/** A `pub` request, its payload already decoded to bytes. */
export interface PublishRequest {
  readonly op: 'pub';
  readonly id: RequestId | undefined;
  readonly topic: string;
  readonly qos: WsQos;
  readonly retain: boolean;
  readonly payload: Uint8Array;
  readonly contentType: string | undefined;
  /** 1 when the payload was sent as `text` or `data` (so it is UTF-8); undefined for `b64` and binary. */
  readonly payloadFormat: 1 | undefined;
  /** Idempotency key: a retry with the same `msgId` is stored once. */
  readonly msgId: string | undefined;
  /** W3C Trace Context the publish continues; undefined when absent or malformed (a new trace starts). */
  readonly traceparent: string | undefined;
  /** W3C `tracestate`, only kept beside a valid `traceparent`. */
  readonly tracestate: string | undefined;
}

/** An `ack` of one delivered message on an acknowledged subscription. */
export interface AckRequest {
  readonly op: 'ack';
  readonly id: RequestId | undefined;
  readonly sub: string;
  readonly seq: number;
}

/** A `ping` request. */
export interface PingRequest {
  readonly op: 'ping';
  readonly id: RequestId | undefined;
}

/** Any valid client request. */
export type ClientRequest =
  | ConnectRequest
  | RefreshRequest
  | SubscribeRequest
  | UnsubscribeRequest
  | PublishRequest
  | AckRequest
  | PingRequest;

/** The outcome of parsing one frame: a request, or an error with the request id when it was readable. */
export type ParseResult =
  | { readonly ok: true; readonly request: ClientRequest }
  | { readonly ok: false; readonly error: MeshError; readonly id: RequestId | undefined };

/** Every op a client may send. */
export const CLIENT_OPS = ['connect', 'refresh', 'sub', 'unsub', 'pub', 'ack', 'ping'] as const;

// Standard base64 with padding (RFC 4648 §4), the form `Buffer#toString('base64')` produces.
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// A lone surrogate cannot be encoded as UTF-8: TextEncoder would silently write U+FFFD.
const LONE_SURROGATE_RE = /\p{Cs}/u;
const CLIENT_ID_RE = /^[A-Za-z0-9_.:-]+$/;
const utf8Encoder = new TextEncoder();
// fatal: bytes that are not UTF-8 are rejected, not replaced; ignoreBOM: a leading BOM is payload, keep it.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Parses the text of one client text frame. */
export function parseFrame(text: string): ParseResult {
  const value = parseObject(text);
  if (!isRecord(value)) return fail(new MalformedFrameError(value), undefined);
  return parseRequest(value, undefined);
}

/**
 * Parses one client binary frame: a big-endian uint32 N, N bytes of UTF-8 JSON (the request
 * without a payload field), then the raw payload of a `pub` (docs/ws-protocol.md "Binary frames").
 */
export function parseBinaryFrame(frame: Uint8Array): ParseResult {
  if (frame.byteLength < BINARY_HEADER_LENGTH_BYTES) {
    return fail(new MalformedFrameError('binary frame shorter than its 4-byte header length'), undefined);
  }
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const length = view.getUint32(0);
  const end = BINARY_HEADER_LENGTH_BYTES + length;
  if (end > frame.byteLength) {
    return fail(new MalformedFrameError(`binary frame header length ${length} exceeds the frame`), undefined);
  }
  let json: string;
  try {
    json = utf8Decoder.decode(frame.subarray(BINARY_HEADER_LENGTH_BYTES, end));
  } catch {
    return fail(new MalformedFrameError('binary frame header is not UTF-8'), undefined);
  }
  const value = parseObject(json);
  if (!isRecord(value)) return fail(new MalformedFrameError(`binary frame header: ${value}`), undefined);
  return parseRequest(value, frame.subarray(end));
}

/** The JSON value of `text`, or a reason it is not a JSON object. */
function parseObject(text: string): Record<string, unknown> | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not valid JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'expected a JSON object';
  return value as Record<string, unknown>;
}

function isRecord(value: Record<string, unknown> | string): value is Record<string, unknown> {
  return typeof value !== 'string';
}

/** Validates a decoded request object; `binaryPayload` is the payload of a binary frame. */
export function parseRequest(
  frame: Readonly<Record<string, unknown>>,
  binaryPayload: Uint8Array | undefined = undefined,
): ParseResult {
  const rawId = frame.id;
  let id: RequestId | undefined;
  if (rawId !== undefined) {
    if (typeof rawId === 'string' && rawId.length <= MAX_ID_CHARS) id = rawId;
    else if (typeof rawId === 'number' && Number.isFinite(rawId)) id = rawId;
    else
      return fail(
        new BadRequestError('id', `expected a string of at most ${MAX_ID_CHARS} characters or a number`),
        undefined,
      );
  }
  const op = frame.op;
  if (op === undefined) return fail(new BadRequestError('op', 'missing'), id);
  if (typeof op !== 'string') return fail(new BadRequestError('op', 'expected a string'), id);
  if (binaryPayload !== undefined && binaryPayload.byteLength > 0 && op !== 'pub') {
    return fail(new BadRequestError('payload', `only a pub carries a payload in a binary frame, not ${op}`), id);
  }
  switch (op) {
    case 'sub':
      return parseSubscribe(frame, id);
    case 'unsub': {
      const filter = frame.filter;
      if (typeof filter !== 'string') return fail(new BadRequestError('filter', expectedString(filter)), id);
      return { ok: true, request: { op, id, filter } };
    }
    case 'pub':
      return parsePublish(frame, id, binaryPayload);
    case 'ping':
      return { ok: true, request: { op, id } };
    case 'ack': {
      const { sub, seq } = frame;
      if (typeof sub !== 'string') return fail(new BadRequestError('sub', expectedString(sub)), id);
      if (!isPositiveInteger(seq)) return fail(new BadRequestError('seq', 'expected a positive integer'), id);
      return { ok: true, request: { op, id, sub, seq } };
    }
    case 'connect': {
      const { token, client, binary } = frame;
      if (token !== undefined && (typeof token !== 'string' || token === '')) {
        return fail(new BadRequestError('token', 'expected a non-empty string'), id);
      }
      if (
        client !== undefined &&
        (typeof client !== 'string' || client.length > MAX_CLIENT_ID_CHARS || !CLIENT_ID_RE.test(client))
      ) {
        return fail(
          new BadRequestError('client', `expected 1 to ${MAX_CLIENT_ID_CHARS} characters of A-Z a-z 0-9 _ . : -`),
          id,
        );
      }
      if (binary !== undefined && typeof binary !== 'boolean')
        return fail(new BadRequestError('binary', 'expected true or false'), id);
      return { ok: true, request: { op, id, token, client, binary } };
    }
    case 'refresh': {
      const token = frame.token;
      if (typeof token !== 'string' || token === '')
        return fail(new BadRequestError('token', 'expected a non-empty string'), id);
      return { ok: true, request: { op, id, token } };
    }
    default:
      return fail(new UnknownOpError(op), id);
  }
}

function parseSubscribe(frame: Readonly<Record<string, unknown>>, id: RequestId | undefined): ParseResult {
  const { filter, since, retained = false, ack = false, window } = frame;
  if (typeof filter !== 'string') return fail(new BadRequestError('filter', expectedString(filter)), id);
  if (since !== undefined && !isNonNegativeInteger(since)) {
    return fail(new BadRequestError('since', 'expected a stream position (an integer ≥ 0)'), id);
  }
  if (typeof retained !== 'boolean') return fail(new BadRequestError('retained', 'expected true or false'), id);
  if (typeof ack !== 'boolean') return fail(new BadRequestError('ack', 'expected true or false'), id);
  if (window !== undefined && (!isPositiveInteger(window) || window > MAX_ACK_WINDOW)) {
    return fail(new BadRequestError('window', `expected an integer from 1 to ${MAX_ACK_WINDOW}`), id);
  }
  return {
    ok: true,
    request: {
      op: 'sub',
      id,
      filter,
      since: since as number | undefined,
      retained,
      ack,
      window: window as number | undefined,
    },
  };
}

function parsePublish(
  frame: Readonly<Record<string, unknown>>,
  id: RequestId | undefined,
  binaryPayload: Uint8Array | undefined,
): ParseResult {
  const { topic, qos = 0, retain = false, contentType, msgId, traceparent, tracestate } = frame;
  if (typeof topic !== 'string') return fail(new BadRequestError('topic', expectedString(topic)), id);
  if (qos !== 0 && qos !== 1) return fail(new BadRequestError('qos', 'expected 0 or 1'), id);
  if (typeof retain !== 'boolean') return fail(new BadRequestError('retain', 'expected true or false'), id);
  if (contentType !== undefined && typeof contentType !== 'string') {
    return fail(new BadRequestError('contentType', 'expected a string'), id);
  }
  if (msgId !== undefined && (typeof msgId !== 'string' || msgId === '' || msgId.length > MAX_MSG_ID_CHARS)) {
    return fail(new BadRequestError('msgId', `expected a string of 1 to ${MAX_MSG_ID_CHARS} characters`), id);
  }
  const given = (['text', 'b64', 'data'] as const).filter((key) => frame[key] !== undefined);
  let payload: Uint8Array;
  let payloadFormat: 1 | undefined;
  let type = contentType as string | undefined;
  if (binaryPayload !== undefined) {
    if (given.length > 0) {
      return fail(
        new BadRequestError(
          'payload',
          `a binary frame carries its payload after the header, not in ${given.join(', ')}`,
        ),
        id,
      );
    }
    payload = binaryPayload;
  } else {
    if (given.length !== 1) {
      const problem =
        given.length === 0 ? 'one of text, b64 or data is required' : `give only one of ${given.join(', ')}`;
      return fail(new BadRequestError('payload', problem), id);
    }
    switch (given[0]) {
      case 'text': {
        const text = frame.text;
        if (typeof text !== 'string') return fail(new BadRequestError('text', 'expected a string'), id);
        if (LONE_SURROGATE_RE.test(text))
          return fail(new BadRequestError('text', 'contains a lone surrogate (not valid Unicode)'), id);
        payload = utf8Encoder.encode(text);
        payloadFormat = 1;
        break;
      }
      case 'b64': {
        const b64 = frame.b64;
        if (typeof b64 !== 'string' || !BASE64_RE.test(b64)) {
          return fail(new BadRequestError('b64', 'expected standard base64 with padding (RFC 4648 §4)'), id);
        }
        payload = new Uint8Array(Buffer.from(b64, 'base64'));
        break;
      }
      default: {
        // Came from JSON.parse, so it serializes; lone surrogates come back as \uXXXX escapes, which are ASCII.
        payload = utf8Encoder.encode(JSON.stringify(frame.data));
        payloadFormat = 1;
        type ??= 'application/json';
      }
    }
  }
  // Trace context is advisory: a malformed one is ignored, not an error (docs/ws-protocol.md "Trace context").
  const parent = validTraceparent(traceparent);
  return {
    ok: true,
    request: {
      op: 'pub',
      id,
      topic,
      qos,
      retain,
      payload,
      contentType: type,
      payloadFormat,
      msgId: msgId as string | undefined,
      traceparent: parent,
      tracestate: parent === undefined ? undefined : validTracestate(tracestate),
    },
  };
}

// W3C Trace Context §3.2.2: version-traceid-parentid-flags, lower-case hex; a later version
// may append `-`-separated fields, so only the first four are checked for those.
const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-[\x21-\x7e]*)?$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_PARENT_ID = '0'.repeat(16);
// W3C Trace Context §3.3.1: printable ASCII (list members, commas, optional spaces).
const TRACESTATE_RE = /^[\x20-\x7e]+$/;

/**
 * `value` when it is a usable `traceparent` (W3C Trace Context §3.2.2.1–§3.2.2.4: version
 * `ff` and all-zero ids are invalid; version 00 has exactly four fields), else undefined.
 * Checked here, not only by the propagator, because it is also forwarded as a NATS header
 * when tracing is off.
 */
export function validTraceparent(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > MAX_TRACEPARENT_CHARS) return undefined;
  const match = TRACEPARENT_RE.exec(value);
  if (match === null) return undefined;
  const [, version, traceId, parentId, extra] = match;
  if (version === 'ff' || traceId === ZERO_TRACE_ID || parentId === ZERO_PARENT_ID) return undefined;
  if (version === '00' && extra !== undefined) return undefined;
  return value;
}

/** `value` when it is a `tracestate` worth forwarding (printable ASCII, at most {@link MAX_TRACESTATE_CHARS}), else undefined. */
export function validTracestate(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > MAX_TRACESTATE_CHARS || !TRACESTATE_RE.test(value)) return undefined;
  return value;
}

function fail(error: MeshError, id: RequestId | undefined): ParseResult {
  return { ok: false, error, id };
}

function expectedString(value: unknown): string {
  return value === undefined ? 'missing' : 'expected a string';
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** `{"op":"ok","id":…}` plus `extra` fields (e.g. `seq` for a stored publish). */
export function okFrame(
  id: RequestId,
  extra?: Readonly<Record<string, string | number | boolean | undefined>>,
): string {
  return JSON.stringify(extra ? { op: 'ok', id, ...extra } : { op: 'ok', id });
}

/** `{"op":"pong"}`, with the id when the ping carried one. */
export function pongFrame(id: RequestId | undefined): string {
  return JSON.stringify(id === undefined ? { op: 'pong' } : { op: 'pong', id });
}

/** `{"op":"error","id"?,"code","message"}`. */
export function errorFrame(
  error: { readonly code: string; readonly message: string },
  id: RequestId | undefined,
): string {
  return JSON.stringify(
    id === undefined
      ? { op: 'error', code: error.code, message: error.message }
      : { op: 'error', id, code: error.code, message: error.message },
  );
}

/** What a delivery frame says about one message. */
export interface Delivery {
  /** The subscription (its filter) the message is delivered for. */
  readonly sub?: string | undefined;
  readonly topic: string;
  readonly qos: WsQos;
  readonly payload: Uint8Array;
  readonly contentType?: string | undefined;
  readonly retain?: boolean | undefined;
  /** Stream position of a stored (QoS 1) message. */
  readonly seq?: number | undefined;
  readonly origin?: 'mqtt' | 'ws' | undefined;
  /** The client must `ack` it (acknowledged subscription). */
  readonly ack?: boolean | undefined;
  /** Delivery count of a redelivered message (2 = first redelivery). */
  readonly redelivered?: number | undefined;
  /** W3C Trace Context of the delivery (the deliver span, or the message's own when tracing is off). */
  readonly traceparent?: string | undefined;
  readonly tracestate?: string | undefined;
}

/** The payload as text when it is valid UTF-8 (decoded exactly, a leading BOM kept), else undefined. */
export function utf8Text(payload: Uint8Array): string | undefined {
  try {
    return utf8Decoder.decode(payload);
  } catch {
    return undefined;
  }
}

/** The frame fields of `delivery` without its payload, in the documented order. */
function deliveryHeader(delivery: Delivery): Record<string, unknown> {
  const frame: Record<string, unknown> = { op: 'msg' };
  if (delivery.sub !== undefined) frame.sub = delivery.sub;
  frame.topic = delivery.topic;
  frame.qos = delivery.qos;
  if (delivery.seq !== undefined) frame.seq = delivery.seq;
  return frame;
}

function deliveryTrailer(frame: Record<string, unknown>, delivery: Delivery): Record<string, unknown> {
  if (delivery.contentType !== undefined) frame.contentType = delivery.contentType;
  if (delivery.retain) frame.retain = true;
  if (delivery.origin !== undefined) frame.origin = delivery.origin;
  if (delivery.ack) frame.ack = true;
  if (delivery.redelivered !== undefined) frame.redelivered = delivery.redelivered;
  if (delivery.traceparent !== undefined) {
    frame.traceparent = delivery.traceparent;
    if (delivery.tracestate !== undefined) frame.tracestate = delivery.tracestate;
  }
  return frame;
}

/**
 * `{"op":"msg",…}` as JSON text: the payload as `text` when it is valid UTF-8, else as `b64`,
 * so the client gets the exact bytes either way. `text` may be passed when already decoded.
 */
export function deliveryFrame(delivery: Delivery, text: string | undefined = utf8Text(delivery.payload)): string {
  const frame = deliveryHeader(delivery);
  if (text !== undefined) frame.text = text;
  else
    frame.b64 = Buffer.from(delivery.payload.buffer, delivery.payload.byteOffset, delivery.payload.byteLength).toString(
      'base64',
    );
  return JSON.stringify(deliveryTrailer(frame, delivery));
}

/** The binary form of a delivery: uint32 BE header length, the JSON header, the raw payload. */
export function binaryDeliveryFrame(delivery: Delivery): Buffer {
  return binaryFrame(deliveryTrailer(deliveryHeader(delivery), delivery), delivery.payload);
}

/** Builds a binary frame from a JSON header object and a payload (also used by tests and the SDK's peers). */
export function binaryFrame(header: Readonly<Record<string, unknown>>, payload: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const out = Buffer.allocUnsafe(BINARY_HEADER_LENGTH_BYTES + json.byteLength + payload.byteLength);
  out.writeUInt32BE(json.byteLength, 0);
  json.copy(out, BINARY_HEADER_LENGTH_BYTES);
  out.set(payload, BINARY_HEADER_LENGTH_BYTES + json.byteLength);
  return out;
}

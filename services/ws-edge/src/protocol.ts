/**
 * Protomesh WebSocket protocol v1 (docs/ws-protocol.md): parsing client frames into typed
 * requests and building server frames. Pure functions, no sockets: the connection decides
 * what to do with the result.
 */
import type { MeshError } from '@protomesh/errors';
import { BadRequestError, MalformedFrameError, UnknownOpError } from './errors.js';

/** The WebSocket subprotocol of this version (Sec-WebSocket-Protocol, RFC 6455 §1.9). */
export const SUBPROTOCOL = 'protomesh.v1';

/** Longest request id echoed back, in characters; ids are for correlation, not payload. */
export const MAX_ID_CHARS = 128;

/** A client-chosen request id, echoed in the `ok`, `pong` or `error` reply. */
export type RequestId = string | number;

/** QoS levels of the WebSocket tier (MQTT QoS 2 has no WebSocket equivalent). */
export type WsQos = 0 | 1;

/** A `sub` or `unsub` request. */
export interface FilterRequest {
  readonly op: 'sub' | 'unsub';
  readonly id: RequestId | undefined;
  readonly filter: string;
}

/** A `pub` request, its payload already decoded to bytes. */
export interface PublishRequest {
  readonly op: 'pub';
  readonly id: RequestId | undefined;
  readonly topic: string;
  readonly qos: WsQos;
  readonly retain: boolean;
  readonly payload: Uint8Array;
  readonly contentType: string | undefined;
  /** 1 when the payload was sent as `text` or `data` (so it is UTF-8); undefined for `b64`. */
  readonly payloadFormat: 1 | undefined;
}

/** A `ping` request. */
export interface PingRequest {
  readonly op: 'ping';
  readonly id: RequestId | undefined;
}

/** Any valid client request. */
export type ClientRequest = FilterRequest | PublishRequest | PingRequest;

/** The outcome of parsing one frame: a request, or an error with the request id when it was readable. */
export type ParseResult =
  | { readonly ok: true; readonly request: ClientRequest }
  | { readonly ok: false; readonly error: MeshError; readonly id: RequestId | undefined };

// Standard base64 with padding (RFC 4648 §4), the form `Buffer#toString('base64')` produces.
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// A lone surrogate cannot be encoded as UTF-8: TextEncoder would silently write U+FFFD.
const LONE_SURROGATE_RE = /\p{Cs}/u;
const utf8Encoder = new TextEncoder();

/** Parses the text of one client frame. */
export function parseFrame(text: string): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail(new MalformedFrameError('not valid JSON'), undefined);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(new MalformedFrameError('expected a JSON object'), undefined);
  }
  return parseRequest(value as Record<string, unknown>);
}

/** Validates a decoded request object. */
export function parseRequest(frame: Readonly<Record<string, unknown>>): ParseResult {
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
  switch (op) {
    case 'sub':
    case 'unsub': {
      const filter = frame.filter;
      if (typeof filter !== 'string') return fail(new BadRequestError('filter', expectedString(filter)), id);
      return { ok: true, request: { op, id, filter } };
    }
    case 'pub':
      return parsePublish(frame, id);
    case 'ping':
      return { ok: true, request: { op, id } };
    default:
      return fail(new UnknownOpError(op), id);
  }
}

function parsePublish(frame: Readonly<Record<string, unknown>>, id: RequestId | undefined): ParseResult {
  const { topic, qos = 0, retain = false, contentType } = frame;
  if (typeof topic !== 'string') return fail(new BadRequestError('topic', expectedString(topic)), id);
  if (qos !== 0 && qos !== 1) return fail(new BadRequestError('qos', 'expected 0 or 1'), id);
  if (typeof retain !== 'boolean') return fail(new BadRequestError('retain', 'expected true or false'), id);
  if (contentType !== undefined && typeof contentType !== 'string') {
    return fail(new BadRequestError('contentType', 'expected a string'), id);
  }
  const given = (['text', 'b64', 'data'] as const).filter((key) => frame[key] !== undefined);
  if (given.length !== 1) {
    const problem =
      given.length === 0 ? 'one of text, b64 or data is required' : `give only one of ${given.join(', ')}`;
    return fail(new BadRequestError('payload', problem), id);
  }
  let payload: Uint8Array;
  let payloadFormat: 1 | undefined;
  let type = contentType as string | undefined;
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
  return {
    ok: true,
    request: { op: 'pub', id, topic, qos, retain, payload, contentType: type, payloadFormat },
  };
}

function fail(error: MeshError, id: RequestId | undefined): ParseResult {
  return { ok: false, error, id };
}

function expectedString(value: unknown): string {
  return value === undefined ? 'missing' : 'expected a string';
}

/** `{"op":"ok","id":…}` plus `extra` fields (e.g. `seq` for a stored publish). */
export function okFrame(id: RequestId, extra?: Readonly<Record<string, string | number | boolean>>): string {
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
  readonly topic: string;
  readonly qos: WsQos;
  readonly payload: Uint8Array;
  readonly contentType?: string | undefined;
  readonly retain?: boolean | undefined;
  readonly seq?: number | undefined;
  readonly origin?: 'mqtt' | 'ws' | undefined;
}

// fatal: bytes that are not UTF-8 go out as b64; ignoreBOM: a leading BOM is payload, keep it.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * `{"op":"msg",…}`: the payload as `text` when it is valid UTF-8, else as `b64`, so the
 * client gets the exact bytes either way. Built once per fan-out and sent to every member.
 */
export function deliveryFrame(delivery: Delivery): string {
  const frame: Record<string, unknown> = { op: 'msg', topic: delivery.topic, qos: delivery.qos };
  let text: string | undefined;
  try {
    text = utf8Decoder.decode(delivery.payload);
  } catch {
    text = undefined;
  }
  if (text !== undefined) frame.text = text;
  else
    frame.b64 = Buffer.from(delivery.payload.buffer, delivery.payload.byteOffset, delivery.payload.byteLength).toString(
      'base64',
    );
  if (delivery.contentType !== undefined) frame.contentType = delivery.contentType;
  if (delivery.retain) frame.retain = true;
  if (delivery.seq !== undefined) frame.seq = delivery.seq;
  if (delivery.origin !== undefined) frame.origin = delivery.origin;
  return JSON.stringify(frame);
}

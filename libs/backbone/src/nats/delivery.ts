/**
 * Reading a JetStream delivery cheaply. nats.js parses the reply subject twice per message
 * (`info`, then `timestampNanos` through a BigInt) and builds a `MsgHdrs` for the headers;
 * here the subject's bytes are read once and the header block straight into contract headers.
 * Messages of another shape than nats.js 3 hands out go through its public getters.
 */
import type { JsMsg } from '@nats-io/jetstream';
import { MsgImpl } from '@nats-io/transport-node';
import type { HeaderEntries } from '../contract.js';
import { fromNatsHeaders, messageHeaders } from './headers.js';

/** What a delivered message tells besides subject and payload. */
export interface Delivery {
  readonly stream: string;
  readonly streamSeq: number;
  /** 1 on first delivery. */
  readonly deliveryCount: number;
  /** Messages left for the consumer after this one. */
  readonly pending: number;
  /** When the stream stored it, in epoch milliseconds. */
  readonly time: number;
  readonly headers: HeaderEntries | undefined;
}

/** The delivery facts of `m`; throws, as nats.js does, when `m` is not a JetStream delivery. */
export function deliveryOf(m: JsMsg): Delivery {
  const inner = (m as { readonly msg?: unknown }).msg;
  if (inner instanceof MsgImpl && inner._msg.reply !== undefined) {
    const delivery = parseAckReply(inner._msg.reply, messageHeaders(inner));
    if (delivery !== undefined) return delivery;
  }
  const info = m.info;
  return {
    stream: info.stream,
    streamSeq: info.streamSequence,
    deliveryCount: info.deliveryCount,
    pending: info.pending,
    time: Number(m.timestampNanos / 1_000_000n),
    headers: fromNatsHeaders(m.headers),
  };
}

const DOT = 0x2e;
const DIGIT_0 = 0x30;
const ACK_PREFIX = new TextEncoder().encode('$JS.ACK.');
/** Most tokens an ack subject has (11 and a trailing token), plus room to notice more. */
const MAX_DOTS = 16;
/** Dot positions of the subject being parsed (reused: parsing is synchronous). */
const dots = new Int32Array(MAX_DOTS);
const decoder = new TextDecoder();
/** The last stream name decoded, with its bytes: the deliveries of one stream decode it once. */
let lastStream = '';
let lastStreamBytes = new Uint8Array(0);

/**
 * The facts in a JetStream ack subject (raw bytes), with `headers`; undefined when `reply`
 * is not one. Two layouts (nats-server ADR-15):
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ns>.<pending>` and,
 * with domain and account hash, `$JS.ACK.<domain>.<hash>.<stream>.….<pending>[.<token>]`.
 */
export function parseAckReply(reply: Uint8Array, headers: HeaderEntries | undefined): Delivery | undefined {
  if (reply.length < ACK_PREFIX.length) return undefined;
  for (let i = 0; i < ACK_PREFIX.length; i++) if (reply[i] !== ACK_PREFIX[i]) return undefined;
  let n = 0;
  for (let i = 0; i < reply.length; i++) {
    if (reply[i] !== DOT) continue;
    if (n === MAX_DOTS) return undefined;
    dots[n++] = i;
  }
  const tokens = n + 1;
  const o = tokens === 9 ? 2 : tokens >= 11 && tokens <= 12 ? 4 : -1;
  if (o < 0) return undefined;
  const end = (k: number) => (k < n ? dots[k]! : reply.length);
  const deliveryCount = digits(reply, dots[o + 1]! + 1, end(o + 2));
  const streamSeq = digits(reply, dots[o + 2]! + 1, end(o + 3));
  const nanosEnd = end(o + 5);
  // Nanoseconds to milliseconds, rounding down: drop the last six digits.
  const time = digits(reply, dots[o + 4]! + 1, Math.max(dots[o + 4]! + 1, nanosEnd - 6));
  const pending = digits(reply, dots[o + 5]! + 1, end(o + 6));
  if (deliveryCount < 0 || streamSeq < 0 || time < 0 || pending < 0) return undefined;
  const name = reply.subarray(dots[o - 1]! + 1, dots[o]!);
  if (!sameBytes(name, lastStreamBytes)) {
    lastStream = decoder.decode(name);
    lastStreamBytes = name.slice();
  }
  return { stream: lastStream, streamSeq, deliveryCount, pending, time, headers };
}

/** The decimal number in `bytes[from, to)` (0 when empty), or -1 when it is not one. */
function digits(bytes: Uint8Array, from: number, to: number): number {
  let value = 0;
  for (let i = from; i < to; i++) {
    const d = bytes[i]! - DIGIT_0;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

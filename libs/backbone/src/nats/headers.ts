/** Contract headers to and from NATS headers, on the hot paths without building `MsgHdrs`. */
import { type Msg, type MsgHdrs, MsgHdrsImpl, MsgImpl } from '@nats-io/transport-node';
import type { HeaderEntries } from '../contract.js';
import { EXPECTED_STREAM_HEADER, MSG_ID_HEADER } from '../jetstream-headers.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Wire forms of frozen header arrays (a publisher may send one array with many messages). */
const encoded = new WeakMap<HeaderEntries, MsgHdrs>();

/** Contract headers to NATS headers (undefined when there are none); validate first (`assertHeaders`). */
export function toNatsHeaders(entries: HeaderEntries | undefined): MsgHdrs | undefined {
  if (entries === undefined) return undefined;
  let headers = encoded.get(entries);
  if (headers !== undefined) return headers;
  const wire = headerBlock(entries);
  if (wire === undefined) return undefined;
  headers = new EncodedHeaders(wire);
  if (Object.isFrozen(entries)) encoded.set(entries, headers);
  return headers;
}

/**
 * Headers already in their wire form: nats.js sends what `encode()` returns. The parent's
 * (empty) map is never used for sending. Building a `MsgHdrs` entry by entry costs about
 * twice as much (each name is validated and looked up again).
 */
export class EncodedHeaders extends MsgHdrsImpl {
  readonly #wire: Uint8Array;

  constructor(wire: Uint8Array) {
    super();
    this.#wire = wire;
  }

  override encode(): Uint8Array {
    return this.#wire;
  }

  override toString(): string {
    return decoder.decode(this.#wire);
  }
}

/**
 * The NATS header block nats.js would write for `entries` (`NATS/1.0`, one `name: value`
 * line per value, values trimmed), followed by the JetStream `Nats-Msg-Id` and
 * `Nats-Expected-Stream` when given, which replace same-named entries as nats.js `set`
 * does; undefined when there is nothing to send. A name's values need not be adjacent:
 * receivers group them by name as they read.
 */
export function headerBlock(
  entries: HeaderEntries | undefined,
  msgId?: string,
  expectStream?: string,
): Uint8Array | undefined {
  if ((entries === undefined || entries.length === 0) && msgId === undefined && expectStream === undefined) {
    return undefined;
  }
  let block = 'NATS/1.0';
  if (entries !== undefined) {
    for (const [name, value] of entries) {
      if (msgId !== undefined && name === MSG_ID_HEADER) continue;
      if (expectStream !== undefined && name === EXPECTED_STREAM_HEADER) continue;
      block += `\r\n${name}: ${value.trim()}`;
    }
  }
  if (msgId !== undefined) block += `\r\n${MSG_ID_HEADER}: ${msgId.trim()}`;
  if (expectStream !== undefined) block += `\r\n${EXPECTED_STREAM_HEADER}: ${expectStream}`;
  return encoder.encode(`${block}\r\n\r\n`);
}

/** NATS headers to contract headers: undefined when the message carried none (or only a status line). */
export function fromNatsHeaders(h: MsgHdrs | undefined): HeaderEntries | undefined {
  if (h === undefined) return undefined;
  const out: (readonly [string, string])[] = [];
  for (const [name, values] of h) for (const value of values) out.push([name, value] as const);
  return out.length === 0 ? undefined : Object.freeze(out);
}

/**
 * Contract headers of a received message. Reads its header block directly when nats.js kept
 * it (building no `MsgHdrs`, about a tenth of the cost of a delivery); else as `fromNatsHeaders`.
 */
export function messageHeaders(msg: Msg): HeaderEntries | undefined {
  if (msg instanceof MsgImpl) {
    const end = msg._msg.hdr;
    if (end <= 0) return undefined;
    const block = msg._rdata.subarray(0, end);
    // Runs of messages from one publisher often carry the same block: decode it once.
    if (lastBlock !== undefined && sameBytes(block, lastBlock)) return lastEntries;
    lastEntries = decodeHeaderBlock(block);
    lastBlock = block.slice();
    return lastEntries;
  }
  return fromNatsHeaders(msg.headers);
}

/** The last header block decoded, and what it decoded to (frozen, so it can be shared). */
let lastBlock: Uint8Array | undefined;
let lastEntries: HeaderEntries | undefined;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  // From the end: blocks of one publisher differ last (a timestamp, a trace id).
  for (let i = a.length - 1; i >= 0; i--) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A NATS header block (`NATS/1.0[ status]`, then `name: value` lines) as contract headers,
 * as nats.js reads it: grouped by name in order of first appearance, values trimmed; lines
 * without a colon are skipped; undefined when there are no entries.
 */
export function decodeHeaderBlock(block: Uint8Array): HeaderEntries | undefined {
  const text = decoder.decode(block);
  let at = text.indexOf('\r\n');
  if (at < 0) return undefined;
  at += 2;
  const out: (readonly [string, string])[] = [];
  let regroup = false;
  while (at < text.length) {
    let end = text.indexOf('\r\n', at);
    if (end < 0) end = text.length;
    const colon = text.indexOf(':', at);
    if (colon > -1 && colon < end) {
      const name = text.slice(at, colon);
      // A name seen before, but not just before: the pairs must be grouped by name.
      if (!regroup && out.length > 1 && out[out.length - 1]![0] !== name) {
        for (let i = 0; i < out.length - 1; i++) if (out[i]![0] === name) regroup = true;
      }
      out.push([name, text.slice(colon + 1, end).trim()] as const);
    }
    at = end + 2;
  }
  if (out.length === 0) return undefined;
  return Object.freeze(regroup ? grouped(out) : out);
}

function grouped(entries: readonly (readonly [string, string])[]): (readonly [string, string])[] {
  const byName = new Map<string, (readonly [string, string])[]>();
  for (const entry of entries) {
    const list = byName.get(entry[0]);
    if (list === undefined) byName.set(entry[0], [entry]);
    else list.push(entry);
  }
  return [...byName.values()].flat();
}

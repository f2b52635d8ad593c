/**
 * Splits the byte stream of one connection into whole MQTT packets before mqtt-packet
 * parses them, so the size limit is enforced from the fixed header alone: a client that
 * announces a 10 MB packet is refused after 2–5 bytes, never buffered (MQTT 5 §3.1.2.11.4).
 */
import type { IPublishPacket, QoS } from 'mqtt-packet';

/** Why the stream cannot be framed. */
export type FrameProblem =
  | { readonly kind: 'too-large'; readonly size: number }
  | { readonly kind: 'malformed'; readonly reason: string };

/** The longest fixed header: 1 type byte and a 4-byte Variable Byte Integer (MQTT 5 §1.5.5). */
const MAX_HEADER_BYTES = 5;

/**
 * Reads the fixed header at `offset`: the whole packet's length in bytes, `undefined` when
 * more bytes are needed, or a problem when the Remaining Length is malformed.
 */
function packetLength(data: Buffer, offset: number): number | undefined | FrameProblem {
  let remaining = 0;
  let multiplier = 1;
  for (let i = 1; i < MAX_HEADER_BYTES; i++) {
    if (offset + i >= data.length) return undefined;
    const byte = data[offset + i]!;
    remaining += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return 1 + i + remaining;
    multiplier *= 128;
  }
  // A fifth length byte would be needed: [MQTT-1.5.5-1] allows at most four.
  return { kind: 'malformed', reason: 'Remaining Length longer than four bytes' };
}

/** Incremental packet framer for one connection. */
export class PacketFramer {
  readonly #maxBytes: number;
  /** Bytes of a fixed header split across chunks (fewer than five). */
  #head: Buffer | undefined;
  /** Pieces of the packet being assembled, starting at its first byte. */
  #parts: Buffer[] = [];
  #have = 0;
  /** Length of the packet being assembled, or -1 before its fixed header is complete. */
  #total = -1;

  /** @param maxBytes largest whole packet accepted, fixed header included (MQTT 5 Maximum Packet Size). */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /**
   * Feeds one chunk; calls `onPacket` with each whole packet in order (zero-copy when a packet
   * lies within one chunk). Stops early when `onPacket` returns false. Returns a problem when
   * the stream cannot continue.
   */
  push(chunk: Buffer, onPacket: (packet: Buffer) => boolean): FrameProblem | undefined {
    let data = chunk;
    if (this.#head) {
      data = Buffer.concat([this.#head, chunk]);
      this.#head = undefined;
    }
    let pos = 0;
    while (pos < data.length) {
      if (this.#total === -1) {
        const length = packetLength(data, pos);
        if (length === undefined) {
          this.#head = Buffer.from(data.subarray(pos));
          return undefined;
        }
        if (typeof length === 'object') return length;
        if (length > this.#maxBytes) return { kind: 'too-large', size: length };
        this.#total = length;
      }
      const need = this.#total - this.#have;
      const available = data.length - pos;
      if (this.#have === 0 && available >= need) {
        const packet = data.subarray(pos, pos + need);
        pos += need;
        this.#total = -1;
        if (!onPacket(packet)) return undefined;
        continue;
      }
      const take = Math.min(need, available);
      this.#parts.push(data.subarray(pos, pos + take));
      this.#have += take;
      pos += take;
      if (this.#have === this.#total) {
        const packet = Buffer.concat(this.#parts, this.#total);
        this.#parts = [];
        this.#have = 0;
        this.#total = -1;
        if (!onPacket(packet)) return undefined;
      }
    }
    return undefined;
  }
}

/**
 * The protocol level byte of a whole CONNECT packet (3 = 3.1, 4 = 3.1.1, 5 = 5.0, bit 7 =
 * bridge mode), read before mqtt-packet parses it: mqtt-packet rejects unknown levels as a
 * parse error, while MQTT requires a CONNACK refusal [MQTT-3.1.2-2]. Undefined when the packet
 * is too short to say.
 */
export function connectProtocolLevel(packet: Buffer): number | undefined {
  let i = 1;
  while (i < packet.length && (packet[i]! & 0x80) !== 0) i++;
  const nameAt = i + 1;
  if (nameAt + 2 > packet.length) return undefined;
  const levelAt = nameAt + 2 + packet.readUInt16BE(nameAt);
  return levelAt < packet.length ? packet[levelAt] : undefined;
}

/**
 * Decodes a whole PUBLISH packet without properties (every MQTT 3.1.1 PUBLISH, and MQTT 5
 * ones with a zero-length property block) straight from its bytes — the hot path, which
 * mqtt-packet's general parser would copy through a buffer list. The payload is a view of
 * `bytes`. Returns `undefined` for an MQTT 5 packet with properties (the general parser
 * handles it), or the reason when the packet is malformed (same checks as mqtt-packet).
 */
export function decodePublish(bytes: Buffer, v5: boolean): IPublishPacket | string | undefined {
  const first = bytes[0]!;
  const qos = (first >> 1) & 0x03;
  // [MQTT-3.3.1-4]: both QoS bits set is malformed.
  if (qos === 3) return 'Packet must not have both QoS bits set to 1';
  let pos = 1;
  while ((bytes[pos]! & 0x80) !== 0) pos++;
  pos++;
  const length = bytes.length - pos;
  if (pos + 2 > bytes.length) return 'Cannot parse topic';
  const topicEnd = pos + 2 + bytes.readUInt16BE(pos);
  if (topicEnd > bytes.length) return 'Cannot parse topic';
  const topic = bytes.toString('utf8', pos + 2, topicEnd);
  pos = topicEnd;
  let messageId: number | undefined;
  if (qos > 0) {
    if (pos + 2 > bytes.length) return 'Cannot parse messageId';
    messageId = bytes.readUInt16BE(pos);
    pos += 2;
  }
  if (v5) {
    if (pos >= bytes.length || bytes[pos] !== 0) return undefined; // properties: general parser
    pos += 1;
  }
  const packet: IPublishPacket = {
    cmd: 'publish',
    retain: (first & 0x01) !== 0,
    qos: qos as QoS,
    dup: (first & 0x08) !== 0,
    topic,
    payload: bytes.subarray(pos),
  };
  (packet as { length?: number }).length = length;
  if (messageId !== undefined) packet.messageId = messageId;
  return packet;
}

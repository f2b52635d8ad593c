/**
 * The hot path's PUBLISH encoder: a PUBLISH without properties is written directly (fixed
 * header, topic, packet identifier, an empty MQTT 5 property block, payload — MQTT 5 §3.3,
 * MQTT 3.1.1 §3.3), and the bytes are encoded once per backbone message and shared by every
 * recipient that gets the same bytes. For QoS 1/2 only the packet identifier differs: a copy
 * of the template gets its two identifier bytes patched instead of being encoded again.
 */

/** Largest Remaining Length (MQTT 5 §1.5.5: four Variable Byte Integer bytes). */
const MAX_REMAINING_LENGTH = 268_435_455;

/** Encoded PUBLISH packets of one backbone message, shared across its recipients. */
export class PublishCache {
  /** Templates by {@link slot} (version × retain × QoS); packet identifier 0 when QoS > 0. */
  readonly #templates: Array<Buffer | undefined> = [];
  /** Offset of the packet identifier in each template. */
  readonly #idAt: number[] = [];

  /**
   * The PUBLISH bytes for one recipient: the shared template for QoS 0 (never modify it),
   * a patched copy carrying `id` for QoS 1/2. Undefined when the packet cannot be encoded
   * (over the protocol's size limit).
   */
  packet(
    topic: string,
    payload: Buffer,
    qos: 0 | 1 | 2,
    retain: boolean,
    dup: boolean,
    v5: boolean,
    id: number | undefined,
  ): Buffer | undefined {
    const slot = (v5 ? 6 : 0) + (retain ? 3 : 0) + qos;
    let template = this.#templates[slot];
    if (template === undefined) {
      const encoded = encodePublish(topic, payload, qos, retain, false, v5, 0);
      if (encoded === undefined) return undefined;
      template = encoded.bytes;
      this.#templates[slot] = template;
      this.#idAt[slot] = encoded.idAt;
    }
    if (qos === 0 && !dup) return template;
    const copy = Buffer.allocUnsafe(template.length);
    template.copy(copy);
    if (dup) copy[0] = copy[0]! | 0x08;
    if (qos > 0) copy.writeUInt16BE(id ?? 0, this.#idAt[slot]!);
    return copy;
  }
}

/**
 * Encodes a PUBLISH without properties (an MQTT 5 packet gets a zero-length property block);
 * `idAt` is the offset of the packet identifier (QoS > 0). Undefined when it is too large.
 */
export function encodePublish(
  topic: string,
  payload: Buffer,
  qos: 0 | 1 | 2,
  retain: boolean,
  dup: boolean,
  v5: boolean,
  id: number,
): { bytes: Buffer; idAt: number } | undefined {
  const topicLength = Buffer.byteLength(topic);
  if (topicLength > 0xffff) return undefined;
  const remaining = 2 + topicLength + (qos > 0 ? 2 : 0) + (v5 ? 1 : 0) + payload.length;
  if (remaining > MAX_REMAINING_LENGTH) return undefined;
  const lengthBytes = remaining < 128 ? 1 : remaining < 16_384 ? 2 : remaining < 2_097_152 ? 3 : 4;
  const bytes = Buffer.allocUnsafe(1 + lengthBytes + remaining);
  // Fixed header: type 3, DUP (bit 3), QoS (bits 2–1), RETAIN (bit 0) (MQTT 5 §3.3.1).
  bytes[0] = 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0);
  let pos = 1;
  let value = remaining;
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    bytes[pos++] = byte;
  } while (value > 0);
  bytes.writeUInt16BE(topicLength, pos);
  pos += 2;
  pos += bytes.write(topic, pos, 'utf8');
  const idAt = pos;
  if (qos > 0) {
    bytes.writeUInt16BE(id, pos);
    pos += 2;
  }
  if (v5) bytes[pos++] = 0; // Property Length 0
  payload.copy(bytes, pos);
  return { bytes, idAt };
}

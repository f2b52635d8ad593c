/**
 * Encoding of protocol v1 frames: JSON text frames, and the binary form (uint32 big-endian
 * length N, N bytes of JSON header, raw payload) used for byte payloads in both directions.
 */

const encoder = new TextEncoder();
// fatal: a payload that is not UTF-8 is reported, not replaced; ignoreBOM: a leading BOM is payload.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const headerDecoder = new TextDecoder();

/** A frame as JSON fields, plus the payload bytes of a binary frame. */
export interface DecodedFrame {
  readonly fields: Record<string, unknown>;
  readonly payload: Uint8Array | undefined;
}

/** A binary frame: the JSON `header`, then `payload`. */
export function encodeBinary(header: Record<string, unknown>, payload: Uint8Array): Uint8Array {
  const json = encoder.encode(JSON.stringify(header));
  const frame = new Uint8Array(4 + json.byteLength + payload.byteLength);
  new DataView(frame.buffer).setUint32(0, json.byteLength);
  frame.set(json, 4);
  frame.set(payload, 4 + json.byteLength);
  return frame;
}

/** Decodes a text or binary frame; throws on a frame that is neither. */
export function decodeFrame(data: unknown): DecodedFrame {
  if (typeof data === 'string') return { fields: JSON.parse(data) as Record<string, unknown>, payload: undefined };
  const bytes = toBytes(data);
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0);
  const fields = JSON.parse(headerDecoder.decode(bytes.subarray(4, 4 + length))) as Record<string, unknown>;
  return { fields, payload: bytes.subarray(4 + length) };
}

function toBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data)) {
    // `ws` with binaryType 'fragments'.
    const parts = data as Uint8Array[];
    const out = new Uint8Array(parts.reduce((n, part) => n + part.byteLength, 0));
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.byteLength;
    }
    return out;
  }
  throw new TypeError('unsupported frame data');
}

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** The text of UTF-8 bytes, or undefined when they are not valid UTF-8. */
export function tryText(bytes: Uint8Array): string | undefined {
  try {
    return decoder.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Standard base64 (RFC 4648 §4) without Node's Buffer. */
export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

export function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

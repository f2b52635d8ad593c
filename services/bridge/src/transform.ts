/**
 * Payload transforms of a route. Pass-through (the default) keeps the bytes; every other
 * transform re-encodes and may fail (the message then goes to the route's dead-letter
 * subject). Each transform also says what the payload now is: its content type and MQTT 5
 * Payload Format Indicator (1 = UTF-8 text, 0 = bytes, [MQTT-3.3.2-4]).
 */

/** The payload transforms a route can name. */
export const PAYLOAD_TRANSFORMS = [
  'pass',
  'json-to-text',
  'text-to-json',
  'binary-to-base64-json',
  'base64-json-to-binary',
] as const;

/** One of {@link PAYLOAD_TRANSFORMS}. */
export type PayloadTransform = (typeof PAYLOAD_TRANSFORMS)[number];

/** What a transform produced: the payload and, when it changed them, content type and format. */
export interface Transformed {
  readonly payload: Uint8Array;
  /** undefined = keep the source's; null = remove it. */
  readonly contentType?: string | null;
  readonly payloadFormat?: 0 | 1;
}

/** Content type of JSON payloads the bridge writes. */
export const JSON_CONTENT_TYPE = 'application/json';
/** Content type of text payloads the bridge writes. */
export const TEXT_CONTENT_TYPE = 'text/plain; charset=utf-8';

// fatal: a payload that is not UTF-8 is an error, not U+FFFD; ignoreBOM: a BOM is payload.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/** Raised by a transform for a payload it cannot convert; the message names what was expected. */
export class TransformError extends Error {
  override readonly name = 'TransformError';
}

function text(payload: Uint8Array, what: string): string {
  try {
    return utf8.decode(payload);
  } catch {
    throw new TransformError(`${what}: payload is not valid UTF-8`);
  }
}

function json(payload: Uint8Array, what: string): unknown {
  const source = text(payload, what);
  try {
    return JSON.parse(source);
  } catch {
    throw new TransformError(`${what}: payload is not valid JSON`);
  }
}

/**
 * Applies `transform` to `payload` (with the source content type, for base64 wrapping).
 * Throws {@link TransformError} when the payload does not fit the transform.
 */
export function applyTransform(
  transform: PayloadTransform,
  payload: Uint8Array,
  contentType: string | undefined,
): Transformed {
  switch (transform) {
    case 'pass':
      return { payload };
    case 'json-to-text': {
      // A JSON string becomes its text; any other JSON value its compact JSON text.
      const value = json(payload, transform);
      const out = typeof value === 'string' ? value : JSON.stringify(value);
      return { payload: encoder.encode(out), contentType: TEXT_CONTENT_TYPE, payloadFormat: 1 };
    }
    case 'text-to-json':
      return {
        payload: encoder.encode(JSON.stringify(text(payload, transform))),
        contentType: JSON_CONTENT_TYPE,
        payloadFormat: 1,
      };
    case 'binary-to-base64-json': {
      // For JSON-only clients: the exact bytes, with the source content type beside them.
      const wrapped: { b64: string; contentType?: string } = {
        b64: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('base64'),
      };
      if (contentType !== undefined) wrapped.contentType = contentType;
      return { payload: encoder.encode(JSON.stringify(wrapped)), contentType: JSON_CONTENT_TYPE, payloadFormat: 1 };
    }
    case 'base64-json-to-binary': {
      const value = json(payload, transform);
      const b64 = typeof value === 'string' ? value : (value as { b64?: unknown } | null)?.b64;
      if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
        throw new TransformError(`${transform}: expected {"b64": "<base64>"} or a base64 JSON string`);
      }
      const inner = (value as { contentType?: unknown } | null)?.contentType;
      return {
        payload: new Uint8Array(Buffer.from(b64, 'base64')),
        contentType: typeof inner === 'string' ? inner : null,
        payloadFormat: 0,
      };
    }
  }
}

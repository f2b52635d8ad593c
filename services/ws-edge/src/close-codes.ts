/**
 * WebSocket close codes ws-edge uses, with their meaning and whether a client should
 * reconnect (RFC 6455 §7.4.1 for 1000–1011; 1012 is registered with IANA; 4000–4999 are
 * private-use codes, RFC 6455 §7.4.2, and ours mirror the HTTP status they resemble).
 * docs/ws-protocol.md carries the same table; a unit test keeps the two equal.
 */

/** One close code and what a client should do about it. */
export interface CloseCode {
  readonly code: number;
  /** Short name, as in the protocol document. */
  readonly name: string;
  /** What it means, for documentation and logs. */
  readonly meaning: string;
  /** True: reconnect (with backoff), the next attempt may succeed. False: final, do not retry the same thing. */
  readonly reconnect: boolean;
}

function closeCode(code: number, name: string, reconnect: boolean, meaning: string): CloseCode {
  return Object.freeze({ code, name, meaning, reconnect });
}

/** Every close code ws-edge sends (or that `ws` sends on its behalf), by name. */
export const CLOSE = Object.freeze({
  /** RFC 6455 §7.4.1: normal closure. */
  normal: closeCode(1000, 'normal', false, 'Normal closure: the connection did what it was for.'),
  /** RFC 6455 §7.4.1: an endpoint is going away. */
  goingAway: closeCode(1001, 'going away', true, 'The endpoint is going away (browser page left, server stopping).'),
  /** RFC 6455 §7.4.1: WebSocket protocol error (sent by `ws`, e.g. an unmasked client frame). */
  wsProtocolError: closeCode(
    1002,
    'protocol error',
    false,
    'WebSocket framing error (RFC 6455): the client library is broken.',
  ),
  /** RFC 6455 §7.4.1: a text frame that is not valid UTF-8 (sent by `ws`). */
  invalidPayload: closeCode(1007, 'invalid frame payload data', false, 'A text frame was not valid UTF-8.'),
  /** RFC 6455 §7.4.1: a message larger than the server accepts (sent by `ws`, WS_MAX_FRAME_SIZE). */
  messageTooBig: closeCode(
    1009,
    'message too big',
    false,
    'A frame was larger than WS_MAX_FRAME_SIZE; do not resend it.',
  ),
  /** RFC 6455 §7.4.1: an unexpected condition in the server. */
  internalError: closeCode(1011, 'internal error', true, 'The server hit an unexpected fault; reconnect with backoff.'),
  /** IANA registry: service restart. Sent to every client on graceful shutdown. */
  serviceRestart: closeCode(
    1012,
    'service restart',
    true,
    'The server is shutting down; reconnect (to another replica).',
  ),
  /** Private use: the client did not read fast enough (like HTTP 408 for a stalled peer). */
  slowConsumer: closeCode(
    4008,
    'slow consumer',
    true,
    'Too many bytes were queued for the client; read faster, then reconnect.',
  ),
  /** Private use: no valid credentials, or the token expired without a refresh (like HTTP 401). */
  unauthorized: closeCode(
    4401,
    'unauthorized',
    false,
    'No valid token (missing, invalid or expired); reconnect only with a new token.',
  ),
  /** Private use: the client sent nothing, not even a pong, within WS_IDLE_TIMEOUT (like HTTP 408). */
  idleTimeout: closeCode(
    4408,
    'idle timeout',
    true,
    'Nothing arrived from the client within WS_IDLE_TIMEOUT; reconnect.',
  ),
  /** Private use: repeated malformed frames or refused requests (like HTTP 400). */
  protocolError: closeCode(
    4400,
    'protocol error',
    false,
    'Repeated malformed frames or refused requests (Protomesh protocol v1); fix the client.',
  ),
});

/** Every close code, in numeric order. */
export const CLOSE_CODES: readonly CloseCode[] = Object.freeze(Object.values(CLOSE).sort((a, b) => a.code - b.code));

/** The entry for `code`, or undefined for a code ws-edge never sends. */
export function closeCodeInfo(code: number): CloseCode | undefined {
  return CLOSE_CODES.find((entry) => entry.code === code);
}

/** Longest close reason RFC 6455 §5.5 allows: a control frame payload is ≤ 125 bytes, 2 of them the code. */
export const MAX_CLOSE_REASON_BYTES = 123;

/** `reason` cut to {@link MAX_CLOSE_REASON_BYTES} UTF-8 bytes without splitting a character. */
export function closeReason(reason: string): string {
  if (Buffer.byteLength(reason) <= MAX_CLOSE_REASON_BYTES) return reason;
  let out = '';
  let bytes = 0;
  for (const char of reason) {
    const size = Buffer.byteLength(char);
    if (bytes + size > MAX_CLOSE_REASON_BYTES) break;
    out += char;
    bytes += size;
  }
  return out;
}

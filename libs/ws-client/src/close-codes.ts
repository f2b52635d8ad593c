/**
 * WebSocket close codes of Protomesh protocol v1 (docs/ws-protocol.md "Close codes") and
 * whether the client should reconnect. ws-edge's tests keep this table equal to the server's.
 */

/** One close code and what the client does about it. */
export interface CloseCodeInfo {
  readonly code: number;
  readonly name: string;
  /** True: reconnect with backoff. False: final, retrying the same thing fails the same way. */
  readonly reconnect: boolean;
}

const table: readonly CloseCodeInfo[] = [
  { code: 1000, name: 'normal', reconnect: false },
  { code: 1001, name: 'going away', reconnect: true },
  { code: 1002, name: 'protocol error', reconnect: false },
  { code: 1007, name: 'invalid frame payload data', reconnect: false },
  { code: 1009, name: 'message too big', reconnect: false },
  { code: 1011, name: 'internal error', reconnect: true },
  { code: 1012, name: 'service restart', reconnect: true },
  { code: 4008, name: 'slow consumer', reconnect: true },
  { code: 4400, name: 'protocol error', reconnect: false },
  { code: 4401, name: 'unauthorized', reconnect: false },
  { code: 4408, name: 'idle timeout', reconnect: true },
];

/** Every close code the server sends, in numeric order. */
export const CLOSE_CODES: readonly CloseCodeInfo[] = Object.freeze(table.map((entry) => Object.freeze(entry)));

/** Close code 4401: the token is missing, invalid or expired. */
export const CLOSE_UNAUTHORIZED = 4401;

/**
 * Whether a close with `code` calls for a reconnect. Codes the server never sends (1006: the
 * connection dropped without a close frame, 1005, anything unknown) do: the network failed,
 * not the request.
 */
export function shouldReconnect(code: number): boolean {
  const entry = CLOSE_CODES.find((candidate) => candidate.code === code);
  return entry === undefined ? true : entry.reconnect;
}

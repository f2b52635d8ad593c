/** An error from the server (`{"op":"error"}`) or from the client itself, with a stable code. */
export class ProtomeshError extends Error {
  /** `PM_WS_*` from the server (docs/ws-protocol.md), or one of the client codes below. */
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'ProtomeshError';
    this.code = code;
  }
}

/** A request got no reply within its timeout. */
export const CLIENT_TIMEOUT = 'PM_WS_CLIENT_TIMEOUT';
/** The client was closed (by `close()` or a final close code) before the request completed. */
export const CLIENT_CLOSED = 'PM_WS_CLIENT_CLOSED';
/** No WebSocket implementation: pass one (`WebSocket` option), e.g. the `ws` package in Node. */
export const NO_WEBSOCKET = 'PM_WS_CLIENT_NO_WEBSOCKET';

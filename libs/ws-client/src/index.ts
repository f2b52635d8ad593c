export type {
  ClientEvents,
  ClientOptions,
  ClientState,
  Message,
  PublishOptions,
  PublishResult,
  ReconnectOptions,
  SubscribeOptions,
  SubscribeResult,
  SubscriptionEvents,
  WebSocketConstructor,
  WebSocketLike,
} from './client.js';
export { ProtomeshClient, SUBPROTOCOL, Subscription } from './client.js';
export type { CloseCodeInfo } from './close-codes.js';
export { CLOSE_CODES, CLOSE_UNAUTHORIZED, shouldReconnect } from './close-codes.js';
export { Emitter } from './emitter.js';
export { CLIENT_CLOSED, CLIENT_TIMEOUT, NO_WEBSOCKET, ProtomeshError } from './errors.js';
export { decodeFrame, encodeBinary, fromBase64, toBase64, tryText } from './frames.js';

export type { WsEdgeOptions } from './app.js';
export {
  createWsEdge,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_IN_FLIGHT_PUBLISHES,
  DEFAULT_MAX_SUBSCRIPTIONS,
  MAX_MALFORMED_FRAMES,
} from './app.js';
export type { CloseCode } from './close-codes.js';
export { CLOSE, CLOSE_CODES, closeCodeInfo, closeReason, MAX_CLOSE_REASON_BYTES } from './close-codes.js';
export {
  BadRequestError,
  FilterInvalidError,
  FrameTooLargeError,
  InternalError,
  MALFORMED_CODES,
  MalformedFrameError,
  PublishFailedError,
  ShuttingDownError,
  SlowConsumerError,
  SubscriptionLimitError,
  TopicInvalidError,
  UnknownOpError,
  WS_ERRORS,
} from './errors.js';
export type {
  ClientRequest,
  Delivery,
  FilterRequest,
  ParseResult,
  PingRequest,
  PublishRequest,
  RequestId,
  WsQos,
} from './protocol.js';
export { deliveryFrame, errorFrame, MAX_ID_CHARS, okFrame, parseFrame, pongFrame, SUBPROTOCOL } from './protocol.js';
export { startWsEdge } from './start.js';

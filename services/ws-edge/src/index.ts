export type { Access, Authenticator } from './access.js';
export { ANONYMOUS_ACCESS } from './access.js';
export type { WsEdgeOptions } from './app.js';
export {
  COMPRESSION_THRESHOLD_BYTES,
  createWsEdge,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_IN_FLIGHT_PUBLISHES,
  DEFAULT_MAX_SUBSCRIPTIONS,
  MAX_MALFORMED_FRAMES,
  MAX_REJECTED_REQUESTS,
} from './app.js';
export type { WsAuthSetup } from './auth.js';
export { JwtAuthenticator, wsAuthSetup } from './auth.js';
export type { CloseCode } from './close-codes.js';
export { CLOSE, CLOSE_CODES, closeCodeInfo, closeReason, MAX_CLOSE_REASON_BYTES } from './close-codes.js';
export type { WsEdgeCore } from './edge.js';
export {
  BadRequestError,
  FilterInvalidError,
  ForbiddenError,
  FrameTooLargeError,
  IdleTimeoutError,
  InternalError,
  MALFORMED_CODES,
  MalformedFrameError,
  NotSubscribedError,
  PublishFailedError,
  RateLimitedError,
  REJECTED_CODES,
  ShuttingDownError,
  SlowConsumerError,
  SubscribeFailedError,
  SubscriptionLimitError,
  TopicInvalidError,
  UnauthorizedError,
  UnknownOpError,
  WS_ERRORS,
} from './errors.js';
export { MAX_BATCH_MESSAGES, PUBLISH_API_PATH } from './http-api.js';
export { UNTRACED_PATHS } from './http-tracing.js';
export type {
  AckRequest,
  ClientRequest,
  ConnectRequest,
  Delivery,
  FilterRequest,
  ParseResult,
  PingRequest,
  PublishRequest,
  RefreshRequest,
  RequestId,
  SubscribeRequest,
  UnsubscribeRequest,
  WsQos,
} from './protocol.js';
export {
  BINARY_HEADER_LENGTH_BYTES,
  binaryDeliveryFrame,
  binaryFrame,
  CLIENT_OPS,
  deliveryFrame,
  errorFrame,
  MAX_ACK_WINDOW,
  MAX_CLIENT_ID_CHARS,
  MAX_ID_CHARS,
  MAX_MSG_ID_CHARS,
  MAX_TRACEPARENT_CHARS,
  MAX_TRACESTATE_CHARS,
  okFrame,
  parseBinaryFrame,
  parseFrame,
  pongFrame,
  SUBPROTOCOL,
  validTraceparent,
  validTracestate,
} from './protocol.js';
export { TokenBucket } from './rate-limit.js';
export { startWsEdge } from './start.js';
export type { AuthFailureReason } from './telemetry.js';

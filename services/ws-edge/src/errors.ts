/**
 * The error catalogue of `@protomesh/ws-edge`: every `code` a client can see in an
 * `{"op":"error"}` frame or a close reason, and every `code` label of the ws-edge
 * protocol-error metrics. Codes are stable and never reused (docs/ws-protocol.md lists
 * them; `test/unit/errors.test.ts` checks both).
 */
import { defineError } from '@protomesh/errors';

/** A text frame is not a JSON object, or a binary frame breaks the binary form. Counts toward the malformed limit. */
export const MalformedFrameError = defineError(
  'PM_WS_MALFORMED_FRAME',
  'MalformedFrameError',
  'A text frame is not a JSON object (invalid JSON, a JSON value that is not an object), or a binary frame does not follow the binary form (length prefix, JSON header, payload). Counts toward the malformed-frame limit.',
  (reason: string) => `malformed frame: ${reason}`,
);

/** The `op` of a request is not one the protocol defines. Counts toward the malformed limit. */
export const UnknownOpError = defineError(
  'PM_WS_UNKNOWN_OP',
  'UnknownOpError',
  'The "op" of a request is not one of connect, refresh, sub, unsub, pub, ack or ping. Counts toward the malformed-frame limit.',
  (op: string) => `unknown op ${JSON.stringify(op)}: expected connect, refresh, sub, unsub, pub, ack or ping`,
);

/** A request field is missing or has the wrong type or value; the message names the field. Counts toward the malformed limit. */
export const BadRequestError = defineError(
  'PM_WS_BAD_REQUEST',
  'BadRequestError',
  'A request field is missing, of the wrong type or out of range; the message names the field. Counts toward the malformed-frame limit.',
  (field: string, problem: string) => `${field}: ${problem}`,
);

/** The topic of a `pub` is not a valid MQTT topic name (or maps to an over-long subject). */
export const TopicInvalidError = defineError(
  'PM_WS_TOPIC_INVALID',
  'TopicInvalidError',
  'The topic of a pub is not a valid MQTT topic name (empty, contains + or #, U+0000, too long). Not counted as malformed.',
  (detail: string) => detail,
);

/** The filter of a `sub` or `unsub` is not a valid MQTT topic filter, or is a shared subscription. */
export const FilterInvalidError = defineError(
  'PM_WS_FILTER_INVALID',
  'FilterInvalidError',
  'The filter of a sub or unsub is not a valid MQTT topic filter (misplaced wildcard, U+0000, too long) or is a $share/ filter, which the WebSocket tier does not support. Not counted as malformed.',
  (detail: string) => detail,
);

/** The backbone did not accept a publish; for QoS 1 nothing may have been stored. */
export const PublishFailedError = defineError(
  'PM_WS_PUBLISH_FAILED',
  'PublishFailedError',
  'The backbone did not accept the message (QoS 1: it was not confirmed as stored). The client may retry; a retry can duplicate a message that was in fact stored.',
  (reason: string) => `publish failed: ${reason}`,
);

/** A frame exceeded `WS_MAX_FRAME_SIZE`; the connection was closed with 1009. */
export const FrameTooLargeError = defineError(
  'PM_WS_FRAME_TOO_LARGE',
  'FrameTooLargeError',
  'A frame (message) was larger than WS_MAX_FRAME_SIZE; the connection is closed with 1009 (metrics label; no error frame can be sent).',
  (limit: number) => `frame larger than ${limit} bytes`,
);

/** The client read too slowly: too many bytes queued for it; closed with 4008. */
export const SlowConsumerError = defineError(
  'PM_WS_SLOW_CONSUMER',
  'SlowConsumerError',
  'More bytes were queued for the client than the server buffers per connection (it stopped reading); the connection is closed with 4008 and the client should reconnect.',
  (queued: number, limit: number) => `slow consumer: ${queued} bytes queued, limit ${limit}`,
);

/** A `sub` would exceed the subscriptions allowed per connection. */
export const SubscriptionLimitError = defineError(
  'PM_WS_SUBSCRIPTION_LIMIT',
  'SubscriptionLimitError',
  'A sub would give the connection more distinct filters than the server allows per connection; unsubscribe first.',
  (limit: number) => `at most ${limit} subscriptions per connection`,
);

/** A request arrived while the server was shutting down; it was not processed. */
export const ShuttingDownError = defineError(
  'PM_WS_SHUTTING_DOWN',
  'ShuttingDownError',
  'The server is shutting down and did not process the request; a 1012 close follows. Reconnect (to another replica) and resend.',
  () => 'server is shutting down: request not processed, reconnect and resend',
);

/** An unexpected server fault while handling a request; the connection is closed with 1011. */
export const InternalError = defineError(
  'PM_WS_INTERNAL',
  'InternalError',
  'An unexpected fault in the server while handling a request; the connection is closed with 1011 and the client should reconnect.',
  () => 'internal error',
);

/** A publish exceeded the connection's rate limit (token bucket); it was not published. */
export const RateLimitedError = defineError(
  'PM_WS_RATE_LIMITED',
  'RateLimitedError',
  'A pub exceeded the publish rate allowed per connection (WS_PUBLISH_RATE, burst WS_PUBLISH_BURST); the message was not published. Slow down and resend.',
  (rate: number, burst: number) => `publish rate limit: at most ${rate} messages per second (burst ${burst})`,
);

/** No valid credentials: missing, invalid or expired token (close reason of 4401, HTTP 401). */
export const UnauthorizedError = defineError(
  'PM_WS_UNAUTHORIZED',
  'UnauthorizedError',
  'The connection (or HTTP request) has no valid credentials: the token or API key is missing, invalid or expired. WebSocket connections are closed with 4401.',
  (reason: string) => `unauthorized: ${reason}`,
);

/** The credentials do not allow this topic or filter. */
export const ForbiddenError = defineError(
  'PM_WS_FORBIDDEN',
  'ForbiddenError',
  'The token does not allow publishing to this topic or subscribing to this filter. Counts toward the rejected-request limit.',
  (action: string, target: string) => `not allowed to ${action} ${JSON.stringify(target)}`,
);

/** An `ack` names a subscription the connection does not hold, or one without client acks. */
export const NotSubscribedError = defineError(
  'PM_WS_NOT_SUBSCRIBED',
  'NotSubscribedError',
  'An ack names a filter the connection is not subscribed to with "ack": true.',
  (filter: string) => `no acknowledged subscription ${JSON.stringify(filter)}`,
);

/** The client sent nothing (not even a pong) for too long; closed with 4408. */
export const IdleTimeoutError = defineError(
  'PM_WS_IDLE_TIMEOUT',
  'IdleTimeoutError',
  'Nothing (no frame, no pong) arrived from the client within WS_IDLE_TIMEOUT; the connection is closed with 4408 and the client should reconnect.',
  (ms: number) => `idle for more than ${ms} ms`,
);

/** The backbone could not set up delivery for a `sub` (stream unavailable); nothing is subscribed. */
export const SubscribeFailedError = defineError(
  'PM_WS_SUBSCRIBE_FAILED',
  'SubscribeFailedError',
  'The backbone could not set up delivery for a sub (for example JetStream is unavailable); the filter is not subscribed. Retry later.',
  (reason: string) => `subscribe failed: ${reason}`,
);

/** Every error of this package, for documentation checks. */
export const WS_ERRORS = [
  MalformedFrameError,
  UnknownOpError,
  BadRequestError,
  TopicInvalidError,
  FilterInvalidError,
  PublishFailedError,
  FrameTooLargeError,
  SlowConsumerError,
  SubscriptionLimitError,
  ShuttingDownError,
  InternalError,
  RateLimitedError,
  UnauthorizedError,
  ForbiddenError,
  NotSubscribedError,
  IdleTimeoutError,
  SubscribeFailedError,
] as const;

/**
 * Codes of requests that were well-formed but refused (invalid or forbidden topics and
 * filters): MAX_REJECTED_REQUESTS of them close the connection with 4400.
 */
export const REJECTED_CODES: ReadonlySet<string> = new Set([
  'PM_WS_TOPIC_INVALID',
  'PM_WS_FILTER_INVALID',
  'PM_WS_FORBIDDEN',
]);

/** Codes that count toward the malformed-frame limit (the second one closes the connection with 4400). */
export const MALFORMED_CODES: ReadonlySet<string> = new Set([
  MalformedFrameError.code,
  UnknownOpError.code,
  BadRequestError.code,
]);

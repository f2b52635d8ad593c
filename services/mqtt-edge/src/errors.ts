import { defineError } from '@protomesh/errors';

/**
 * The error catalogue of mqtt-edge: why a connection was closed. Codes are stable and never
 * reused; they label `protomesh_protocol_errors{code}` and the disconnect log line. The MQTT 5
 * reason code sent with each is chosen where the error is raised (see `reason-codes.ts`).
 */

/** The bytes are not a well-formed MQTT packet. */
export const MalformedPacketError = defineError(
  'PM_MQTT_MALFORMED_PACKET',
  'MalformedPacketError',
  'The client sent bytes that are not a well-formed MQTT packet (MQTT 5 reason 0x81); the connection is closed.',
  (reason: string) => `malformed packet: ${reason}`,
);

/** A well-formed packet that breaks a protocol rule. */
export const ProtocolViolationError = defineError(
  'PM_MQTT_PROTOCOL_ERROR',
  'ProtocolViolationError',
  'The client broke an MQTT protocol rule, e.g. a packet other than CONNECT first or a second CONNECT (MQTT 5 reason 0x82); the connection is closed.',
  (reason: string) => `protocol error: ${reason}`,
);

/** A packet over the configured maximum packet size, detected from its fixed header. */
export const PacketTooLargeError = defineError(
  'PM_MQTT_PACKET_TOO_LARGE',
  'PacketTooLargeError',
  'The fixed header announced a packet larger than MQTT_MAX_PACKET_SIZE (MQTT 5 reason 0x95); it is refused before it is buffered and the connection is closed.',
  (size: number, max: number) => `packet of ${size} bytes is over the maximum of ${max} bytes`,
);

/** No CONNECT within the connect timeout. */
export const ConnectTimeoutError = defineError(
  'PM_MQTT_CONNECT_TIMEOUT',
  'ConnectTimeoutError',
  'A new connection sent no CONNECT within MQTT_CONNECT_TIMEOUT; it is closed.',
  (ms: number) => `no CONNECT within ${ms} ms`,
);

/** No packet within one and a half keep-alive periods. */
export const KeepAliveTimeoutError = defineError(
  'PM_MQTT_KEEPALIVE_TIMEOUT',
  'KeepAliveTimeoutError',
  'The client sent no packet within 1.5 times its keep alive (MQTT 5 reason 0x8D); the connection is closed.',
  (seconds: number) => `no packet within 1.5 x keep alive of ${seconds} s`,
);

/** A PUBLISH topic name that is not a valid topic name (wildcards, U+0000, empty …). */
export const TopicNameInvalidError = defineError(
  'PM_MQTT_TOPIC_NAME_INVALID',
  'TopicNameInvalidError',
  'A PUBLISH or Will topic name is not a valid MQTT topic name, e.g. it contains + or # (MQTT 5 reason 0x90); the connection is closed.',
  (topic: string, reason: string) => `invalid topic name ${JSON.stringify(topic)}: ${reason}`,
);

/** A PUBLISH used a topic alias; this broker announces Topic Alias Maximum 0. */
export const TopicAliasInvalidError = defineError(
  'PM_MQTT_TOPIC_ALIAS_INVALID',
  'TopicAliasInvalidError',
  'An MQTT 5 PUBLISH carried a Topic Alias although the broker announced Topic Alias Maximum 0 (reason 0x94); the connection is closed.',
  (alias: number) => `topic alias ${alias} used but Topic Alias Maximum is 0`,
);

/** An MQTT 5 PUBLISH with RETAIN set although the broker announced Retain Available 0. */
export const RetainNotSupportedError = defineError(
  'PM_MQTT_RETAIN_NOT_SUPPORTED',
  'RetainNotSupportedError',
  'An MQTT 5 PUBLISH had the RETAIN flag although the broker announced Retain Available 0 (reason 0x9A); the connection is closed.',
  () => 'retained messages are not available on this broker yet',
);

/** An MQTT 5 SUBSCRIBE with a Subscription Identifier, which this broker does not support. */
export const SubscriptionIdentifiersNotSupportedError = defineError(
  'PM_MQTT_SUBSCRIPTION_IDS_NOT_SUPPORTED',
  'SubscriptionIdentifiersNotSupportedError',
  'An MQTT 5 SUBSCRIBE carried a Subscription Identifier although the broker announced Subscription Identifiers Available 0 (reason 0xA1); the connection is closed.',
  () => 'subscription identifiers are not supported',
);

/** The client does not read fast enough: its unsent bytes passed the bound. */
export const SlowClientError = defineError(
  'PM_MQTT_SLOW_CLIENT',
  'SlowClientError',
  'The client read too slowly: more bytes waited to be sent to it than the per-connection bound, even after QoS 0 deliveries were dropped; the connection is closed.',
  (buffered: number, limit: number) => `${buffered} bytes waiting to be sent, over the bound of ${limit} bytes`,
);

/** The backbone did not store a QoS 1/2 message; an MQTT 3.1.1 client is disconnected so it retries. */
export const StoreFailedError = defineError(
  'PM_MQTT_STORE_FAILED',
  'StoreFailedError',
  'The backbone did not store a QoS 1/2 PUBLISH. MQTT 5 clients get a negative acknowledgement (0x80); MQTT 3.1.1 has none, so the connection is closed without PUBACK and the client resends.',
  (topic: string, reason: string) => `could not store the message on ${JSON.stringify(topic)}: ${reason}`,
);

/** A bug: a handler threw. The connection is closed; the process keeps running. */
export const InternalError = defineError(
  'PM_MQTT_INTERNAL',
  'InternalError',
  'A packet handler failed unexpectedly (MQTT 5 reason 0x80); only that connection is closed and the error is logged.',
  (reason: string) => `internal error: ${reason}`,
);

/** Every error code of this package, for documentation checks. */
export const MQTT_EDGE_ERRORS = [
  MalformedPacketError,
  ProtocolViolationError,
  PacketTooLargeError,
  ConnectTimeoutError,
  KeepAliveTimeoutError,
  TopicNameInvalidError,
  TopicAliasInvalidError,
  RetainNotSupportedError,
  SubscriptionIdentifiersNotSupportedError,
  SlowClientError,
  StoreFailedError,
  InternalError,
] as const;

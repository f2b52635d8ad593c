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

/** A PUBLISH used topic alias 0 or one above the Topic Alias Maximum the broker announced. */
export const TopicAliasInvalidError = defineError(
  'PM_MQTT_TOPIC_ALIAS_INVALID',
  'TopicAliasInvalidError',
  'An MQTT 5 PUBLISH carried Topic Alias 0 or one above the Topic Alias Maximum in CONNACK (MQTT_TOPIC_ALIAS_MAXIMUM; reason 0x94); the connection is closed.',
  (alias: number, maximum: number) => `topic alias ${alias} is outside 1..${maximum}`,
);

/** An MQTT 5 PUBLISH with RETAIN set although the broker announced Retain Available 0. */
export const RetainNotSupportedError = defineError(
  'PM_MQTT_RETAIN_NOT_SUPPORTED',
  'RetainNotSupportedError',
  'Retired: raised by mqtt-edge 0.1 when an MQTT 5 PUBLISH had RETAIN while Retain Available was 0 (0x9A). Retained messages are supported now; the code stays reserved.',
  () => 'retained messages are not available on this broker yet',
);

/** An MQTT 5 SUBSCRIBE with a Subscription Identifier, which this broker does not support. */
export const SubscriptionIdentifiersNotSupportedError = defineError(
  'PM_MQTT_SUBSCRIPTION_IDS_NOT_SUPPORTED',
  'SubscriptionIdentifiersNotSupportedError',
  'Retired: raised by mqtt-edge 0.1 for a Subscription Identifier while Subscription Identifiers Available was 0 (0xA1). They are supported now; the code stays reserved.',
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

/** Another connection claimed this client's session (found by a failed compare-and-set). */
export const SessionTakenOverError = defineError(
  'PM_MQTT_SESSION_TAKEN_OVER',
  'SessionTakenOverError',
  'A newer connection with the same client id claimed the session, on this or another replica (MQTT 5 reason 0x8E); the older connection is closed.',
  () => 'session taken over by another connection',
);

/** The client sent more unacknowledged QoS 1/2 PUBLISH packets than the Receive Maximum allows. */
export const ReceiveMaximumExceededError = defineError(
  'PM_MQTT_RECEIVE_MAXIMUM_EXCEEDED',
  'ReceiveMaximumExceededError',
  'An MQTT 5 client had more QoS 1/2 PUBLISH packets unacknowledged than the Receive Maximum in CONNACK (reason 0x93); the connection is closed.',
  (maximum: number) => `more than ${maximum} unacknowledged QoS 1/2 PUBLISH packets`,
);

/** A PUBLISH whose Payload Format Indicator says UTF-8 but whose payload is not. */
export const PayloadFormatInvalidError = defineError(
  'PM_MQTT_PAYLOAD_FORMAT_INVALID',
  'PayloadFormatInvalidError',
  'An MQTT 5 PUBLISH or Will had Payload Format Indicator 1 and a payload that is not valid UTF-8 (reason 0x99).',
  (topic: string) =>
    `payload on ${JSON.stringify(topic)} is not valid UTF-8 although its Payload Format Indicator says so`,
);

/** A client published to a reserved (`$`) topic. */
export const TopicReservedError = defineError(
  'PM_MQTT_TOPIC_RESERVED',
  'TopicReservedError',
  'A client published to a topic starting with $ (reserved for the broker, e.g. $SYS); MQTT 5 gets reason 0x87 on PUBACK/PUBREC (QoS 0 is dropped), MQTT 3.1.1 is acknowledged and dropped.',
  (topic: string) => `topic ${JSON.stringify(topic)} is reserved`,
);

/** A client was denied a publish or subscription by its ACL. */
export const NotAuthorizedError = defineError(
  'PM_MQTT_NOT_AUTHORIZED',
  'NotAuthorizedError',
  'The ACL denied a publish (MQTT 5 reason 0x87; MQTT 3.1.1 acknowledged and dropped) or a subscription (SUBACK 0x87 or 0x80).',
  (action: string, topic: string) => `not authorized to ${action} ${JSON.stringify(topic)}`,
);

/** The TLS certificate, key or CA file could not be read. */
export const TlsConfigError = defineError(
  'PM_MQTT_TLS_CONFIG',
  'TlsConfigError',
  'MQTT_TLS_CERT_FILE is set but the certificate, key (MQTT_TLS_KEY_FILE) or CA (MQTT_TLS_CA_FILE) could not be read; mqtt-edge does not start.',
  (setting: string, reason: string) => `${setting}: ${reason}`,
);

/** CONNECT credentials were wrong: bad password, invalid or expired token. */
export const AuthenticationFailedError = defineError(
  'PM_MQTT_AUTHENTICATION_FAILED',
  'AuthenticationFailedError',
  'The user name and password (or the JWT given as password) were not accepted (MQTT 5 CONNACK 0x86, MQTT 3.1.1 return code 4); the connection is closed.',
  (reason: string) => `authentication failed: ${reason}`,
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
  SessionTakenOverError,
  ReceiveMaximumExceededError,
  PayloadFormatInvalidError,
  TopicReservedError,
  NotAuthorizedError,
  TlsConfigError,
  AuthenticationFailedError,
] as const;

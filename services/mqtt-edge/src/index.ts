export type { MqttEdge, MqttEdgeOverrides } from './app.js';
export { createMqttEdge } from './app.js';
export type { Credentials, MqttAuth } from './auth.js';
export { createMqttAuth, loadMqttAuth } from './auth.js';
export type { MqttBrokerOptions } from './broker.js';
export {
  createMqttBroker,
  DEFAULT_CONSUMER_ACK_WAIT_MS,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_PENDING_STORES,
  DEFAULT_MAX_QUEUED_DELIVERIES,
  DEFAULT_SWEEP_INTERVAL_MS,
  DEFAULT_TAKEOVER_WAIT_MS,
  MqttBroker,
} from './broker.js';
export {
  AuthenticationFailedError,
  ConnectTimeoutError,
  InternalError,
  KeepAliveTimeoutError,
  MalformedPacketError,
  MQTT_EDGE_ERRORS,
  NotAuthorizedError,
  PacketTooLargeError,
  PayloadFormatInvalidError,
  ProtocolViolationError,
  ReceiveMaximumExceededError,
  RetainNotSupportedError,
  SessionTakenOverError,
  SlowClientError,
  StoreFailedError,
  SubscriptionIdentifiersNotSupportedError,
  TlsConfigError,
  TopicAliasInvalidError,
  TopicNameInvalidError,
  TopicReservedError,
} from './errors.js';
export type { ConnectReturnCode, ReasonCode } from './reason-codes.js';
export { ConnectReturn, Reason } from './reason-codes.js';
export { mqttEdgeStarter, startMqttEdge } from './start.js';

export type { MqttEdge, MqttEdgeOverrides } from './app.js';
export { createMqttEdge } from './app.js';
export type { MqttBrokerOptions } from './broker.js';
export {
  createMqttBroker,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_PENDING_STORES,
  DEFAULT_MAX_QUEUED_DELIVERIES,
  MqttBroker,
} from './broker.js';
export {
  ConnectTimeoutError,
  InternalError,
  KeepAliveTimeoutError,
  MalformedPacketError,
  MQTT_EDGE_ERRORS,
  PacketTooLargeError,
  ProtocolViolationError,
  RetainNotSupportedError,
  SlowClientError,
  StoreFailedError,
  SubscriptionIdentifiersNotSupportedError,
  TopicAliasInvalidError,
  TopicNameInvalidError,
} from './errors.js';
export type { ConnectReturnCode, ReasonCode } from './reason-codes.js';
export { ConnectReturn, Reason } from './reason-codes.js';
export { startMqttEdge } from './start.js';

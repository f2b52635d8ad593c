export type { ConnectBackboneOptions } from './connect.js';
export { connectBackbone } from './connect.js';
export type {
  AppendOptions,
  AppendResult,
  Backbone,
  BackboneMessage,
  BackboneStatus,
  ConsumerHandle,
  ConsumerHandler,
  ConsumerSpec,
  ConsumerState,
  DeliveredMessage,
  DeliverFrom,
  HeaderEntries,
  KvBucket,
  KvEntry,
  KvSpec,
  ReadStreamOptions,
  StoredMessage,
  StreamSpec,
  StreamState,
  SubscribeOptions,
  Subscription,
} from './contract.js';
export {
  DEFAULT_ACK_WAIT_MS,
  DEFAULT_APPEND_TIMEOUT_MS,
  DEFAULT_DUPLICATE_WINDOW_MS,
  DEFAULT_MAX_ACK_PENDING,
} from './defaults.js';
export type { EmbeddedBackboneOptions } from './embedded/embedded-backbone.js';
export { createEmbeddedBackbone } from './embedded/embedded-backbone.js';
export {
  AppendTimeoutError,
  BACKBONE_ERRORS,
  BackboneClosedError,
  BackboneConnectError,
  BackboneRequestError,
  ConsumerConflictError,
  HeaderInvalidError,
  KvConflictError,
  KvKeyInvalidError,
  NameInvalidError,
  NoStreamError,
  SpecInvalidError,
  StreamConflictError,
  StreamMismatchError,
  StreamNotFoundError,
  SubjectInvalidError,
} from './errors.js';
export type { FanoutHandler } from './fanout.js';
export { LocalFanout } from './fanout.js';
export { EXPECTED_STREAM_HEADER, MSG_ID_HEADER } from './jetstream-headers.js';
export { decodeKey, encodeKey } from './kv-key.js';
export type { BackboneLogger } from './logger.js';
export type { MeshLayout, MeshLayoutOptions } from './mesh-layout.js';
export {
  DEFAULT_STREAM_MAX_AGE_MS,
  LEASE_TTL_MS,
  layoutStem,
  meshLayout,
  provisionMesh,
  STREAM_DUPLICATE_WINDOW_MS,
} from './mesh-layout.js';
export type { NatsBackboneOptions } from './nats/nats-backbone.js';
export { connectNats } from './nats/nats-backbone.js';

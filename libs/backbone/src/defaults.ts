/** Defaults of the contract, with units, shared by both implementations. */

/** `StreamSpec.duplicateWindowMs` default: 2 minutes, as nats-server. */
export const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;
/** `AppendOptions.timeoutMs` default. */
export const DEFAULT_APPEND_TIMEOUT_MS = 5_000;
/** `ConsumerSpec.ackWaitMs` default: 30 seconds, as nats-server. */
export const DEFAULT_ACK_WAIT_MS = 30_000;
/** `ConsumerSpec.maxAckPending` default. */
export const DEFAULT_MAX_ACK_PENDING = 1_000;
/** Replicas of streams and buckets when neither the spec nor the connection names a count. */
export const DEFAULT_REPLICAS = 1;

/**
 * The narrow backbone contract every service uses. Two implementations honour it:
 * NATS JetStream (`connectNats`) for production and an in-process one
 * (`createEmbeddedBackbone`) for the one-command local mesh. One contract test suite
 * (`test/integration/contract.test.ts`) runs every case against both.
 *
 * Subjects use NATS syntax (`.`-separated tokens, `*` one token, `>` one or more
 * trailing tokens). Payloads are bytes, never re-encoded.
 */

/**
 * Message headers as ordered `[name, value]` pairs; a name may repeat. Values never contain CR or LF.
 * Names are printable ASCII without `:`. As NATS carries them, receivers see the pairs grouped by
 * name (in order of each name's first appearance; the values of one name keep their order) and
 * values trimmed of surrounding whitespace.
 */
export type HeaderEntries = ReadonlyArray<readonly [name: string, value: string]>;

/** A message as seen by a live subscriber. */
export interface BackboneMessage {
  readonly subject: string;
  readonly payload: Uint8Array;
  /** Undefined when the message carried no headers. */
  readonly headers: HeaderEntries | undefined;
}

/** A message stored in a stream. */
export interface StoredMessage extends BackboneMessage {
  readonly stream: string;
  /** Stream sequence, starting at 1. */
  readonly seq: number;
  /** When the stream stored it, in epoch milliseconds. */
  readonly time: number;
}

/** A stored message handed to a consumer; it must be acked, or it is redelivered after the ack wait. */
export interface DeliveredMessage extends StoredMessage {
  /** 1 on first delivery, 2 on the first redelivery, and so on. */
  readonly deliveryCount: number;
  /** Messages still to be delivered to this consumer after this one (0 = caught up). */
  readonly pending: number;
  /** Acknowledges the message: it is never delivered to this consumer again. */
  ack(): void;
  /** Negative acknowledgement: redeliver after `delayMs` (default: at once). */
  nak(delayMs?: number): void;
  /** Resets the ack-wait timer for slow work. */
  working(): void;
}

/** A live subscription. */
export interface Subscription {
  readonly subject: string;
  unsubscribe(): void;
}

export interface SubscribeOptions {
  /** Queue group: each message goes to one member of the group. */
  readonly queue?: string;
}

export interface AppendOptions {
  readonly headers?: HeaderEntries;
  /**
   * Deduplication id: a second append with the same id inside the stream's window stores nothing.
   * The stored message carries it as a `Nats-Msg-Id` header (and `expectStream` as
   * `Nats-Expected-Stream`), as on NATS.
   */
  readonly msgId?: string;
  /** Fail unless the subject is captured by this stream. */
  readonly expectStream?: string;
  /** Give up after this long, in milliseconds (default 5,000). */
  readonly timeoutMs?: number;
}

export interface AppendResult {
  readonly stream: string;
  readonly seq: number;
  /** True when `msgId` matched an earlier append: nothing new was stored. */
  readonly duplicate: boolean;
}

/** A stream definition; provisioning is idempotent and updates a differing stream in place. */
export interface StreamSpec {
  readonly name: string;
  readonly subjects: readonly string[];
  /** Keep only the newest message per subject (retained messages). */
  readonly lastValuePerSubject?: boolean;
  /** Maximum age of a message, in milliseconds (0 or undefined = unlimited). */
  readonly maxAgeMs?: number;
  /** Maximum total size, in bytes (undefined = unlimited). */
  readonly maxBytes?: number;
  /** Maximum number of messages (undefined = unlimited). */
  readonly maxMsgs?: number;
  /** Window for `msgId` deduplication, in milliseconds (default 120,000). */
  readonly duplicateWindowMs?: number;
  /** Server-side replicas (NATS only; 1 in tests, 3 in production). */
  readonly replicas?: number;
  /** `file` (default) or `memory`. */
  readonly storage?: 'file' | 'memory';
}

/** What {@link Backbone.readStream} reads. */
export interface ReadStreamOptions {
  /** Only messages whose subject matches (wildcards allowed; default: every subject of the stream). */
  readonly filter?: string;
  /** First stream sequence to consider (inclusive, ≥ 1). */
  readonly fromSeq: number;
  /** At most this many messages (≥ 1). */
  readonly maxMessages: number;
}

export interface StreamState {
  readonly name: string;
  /** Sequence of the oldest message still held (lastSeq + 1 when empty). */
  readonly firstSeq: number;
  /** Sequence of the newest message ever stored (0 when none). */
  readonly lastSeq: number;
  readonly messages: number;
}

/** Where a new consumer starts reading. */
export type DeliverFrom =
  | { readonly kind: 'all' }
  | { readonly kind: 'new' }
  | { readonly kind: 'last-per-subject' }
  | { readonly kind: 'seq'; readonly seq: number };

export interface ConsumerSpec {
  readonly stream: string;
  /** Durable name: every `consume` with the same name shares one consumer (work is split). Omit for ephemeral. */
  readonly durable?: string;
  /** Only messages whose subject matches (default: every subject of the stream). */
  readonly filterSubject?: string;
  /** Where a newly created consumer starts; ignored when the durable consumer already exists. */
  readonly deliver: DeliverFrom;
  /** Redeliver an unacked message after this long, in milliseconds (default 30,000). */
  readonly ackWaitMs?: number;
  /** At most this many delivered-but-unacked messages (default 1,000). */
  readonly maxAckPending?: number;
  /** Give up on a message after this many deliveries (default unlimited). */
  readonly maxDeliver?: number;
}

export interface ConsumerState {
  readonly name: string;
  /** Highest stream sequence below which every message was acked. */
  readonly ackFloor: number;
  /** Messages matching the filter not yet delivered. */
  readonly pending: number;
  /** Delivered, not yet acked. */
  readonly ackPending: number;
}

/**
 * A running consumer. Messages reach the handler one at a time in stream order
 * (redeliveries may come later, out of order); the consumer does not wait for a returned
 * promise, so handlers can pipeline work, bounded by `maxAckPending`.
 */
export interface ConsumerHandle {
  readonly name: string;
  /** Stops delivery to this handle; an ephemeral consumer is deleted. Unacked messages are redelivered later. */
  stop(): Promise<void>;
}

export type ConsumerHandler = (message: DeliveredMessage) => void | Promise<void>;

export interface KvSpec {
  readonly bucket: string;
  /** Entries expire this long after their last write, in milliseconds (undefined = never). */
  readonly ttlMs?: number;
  readonly replicas?: number;
  /** `file` (default) or `memory`. */
  readonly storage?: 'file' | 'memory';
}

export interface KvEntry {
  readonly key: string;
  readonly value: Uint8Array;
  /** Revision of this write; pass it to `update` for compare-and-set. */
  readonly revision: number;
}

/**
 * A key/value bucket. Keys use NATS KV rules: `[-/_=.a-zA-Z0-9]+`, no leading or trailing
 * `.`; callers encode arbitrary ids (see `encodeKey`).
 */
export interface KvBucket {
  readonly name: string;
  get(key: string): Promise<KvEntry | undefined>;
  /** Unconditional write; resolves to the new revision. */
  put(key: string, value: Uint8Array): Promise<number>;
  /** Writes only if the key does not exist (or was deleted); else throws `KvConflictError`. */
  create(key: string, value: Uint8Array): Promise<number>;
  /** Writes only if the key's current revision is `revision`; else throws `KvConflictError`. */
  update(key: string, value: Uint8Array, revision: number): Promise<number>;
  /** Deletes the key; with `revision`, only if it is still at that revision (else `KvConflictError`). */
  delete(key: string, options?: { readonly revision?: number }): Promise<void>;
  /** Keys currently present, optionally matching a NATS-style filter (`sessions.>`). */
  keys(filter?: string): Promise<string[]>;
}

export type BackboneStatus = 'connected' | 'reconnecting' | 'closed';

/** What the services use of the backbone. */
export interface Backbone {
  readonly kind: 'nats' | 'embedded';
  /** Server version (NATS) or `embedded`. */
  readonly serverVersion: string;
  /** True while connected and accepting traffic. */
  isReady(): boolean;
  /** Called on every status change; returns an unsubscribe function. */
  onStatus(listener: (status: BackboneStatus) => void): () => void;

  /** Fire-and-forget publish to live subscribers (at most once). */
  publish(subject: string, payload: Uint8Array, headers?: HeaderEntries): void;
  /** Live subscription; `subject` may contain wildcards. */
  subscribe(subject: string, onMessage: (message: BackboneMessage) => void, options?: SubscribeOptions): Subscription;
  /** Resolves once every publish so far reached the server (no-op in embedded mode). */
  flush(): Promise<void>;

  /** Creates or updates a stream (idempotent). */
  ensureStream(spec: StreamSpec): Promise<void>;
  streamState(stream: string): Promise<StreamState | undefined>;
  /**
   * Stores a message in the stream that captures `subject` and resolves once it is stored.
   * Live subscribers of `subject` receive it too (a deduplicated append included). Rejects when
   * no stream captures it (`PM_NO_STREAM`; on NATS only after `timeoutMs` if a live subscriber
   * listens on the subject). A plain `publish` to a captured subject is stored as well.
   */
  append(subject: string, payload: Uint8Array, options?: AppendOptions): Promise<AppendResult>;
  /** Reads one stored message by sequence; undefined when it is gone or never existed. */
  getMessage(stream: string, seq: number): Promise<StoredMessage | undefined>;

  /**
   * Optional (both built-in backbones implement it): stored messages with sequence ≥ `fromSeq`
   * matching `filter`, oldest first, at most `maxMessages`, as the stream holds them when the
   * call is served. Fewer than `maxMessages` means the read reached the end of the stream;
   * page on with `fromSeq` = last sequence + 1. For catching a client up from an offset.
   */
  readStream?(stream: string, options: ReadStreamOptions): Promise<StoredMessage[]>;

  /** Starts (creating if needed) a consumer and delivers to `handler`. */
  consume(spec: ConsumerSpec, handler: ConsumerHandler): Promise<ConsumerHandle>;
  consumerState(stream: string, durable: string): Promise<ConsumerState | undefined>;
  /**
   * Deletes a durable consumer; false when it did not exist. Stop its handles first: a handle
   * still consuming recreates it and carries on after its last delivered message.
   */
  deleteConsumer(stream: string, durable: string): Promise<boolean>;

  /** Newest message on exactly `subject` (no wildcards); undefined when none. */
  lastBySubject(stream: string, subject: string): Promise<StoredMessage | undefined>;
  /** Newest message of every subject matching `filter` (wildcards allowed), in stream order. */
  lastPerSubject(stream: string, filter: string): Promise<StoredMessage[]>;
  /** Removes every message on subjects matching `filter` from the stream. */
  purge(stream: string, filter: string): Promise<void>;

  /** Opens (creating if needed) a key/value bucket. */
  kv(spec: KvSpec): Promise<KvBucket>;

  /** Drains subscriptions and in-flight work, then closes. Idempotent. */
  close(): Promise<void>;
}

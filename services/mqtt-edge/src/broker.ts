import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import {
  type Backbone,
  type BackboneMessage,
  decodeKey,
  LocalFanout,
  layoutStem,
  type MeshLayout,
  MSG_ID_HEADER,
  meshLayout,
  STREAM_DUPLICATE_WINDOW_MS,
} from '@protomesh/backbone';
import { decodeMeta } from '@protomesh/envelope';
import { disabledTracing, type Logger, type ServiceMetrics, type Tracing } from '@protomesh/telemetry';
import { parseSharedSubscription, subjectToTopic } from '@protomesh/topic-map';
import { createMqttAuth, type MqttAuth } from './auth.js';
import { Connection } from './connection.js';
import type { BrokerContext, BrokerSettings, SubscriptionTap } from './context.js';
import { recordDeliveryLatency, type Span, startDelivery } from './delivery-telemetry.js';
import { createMqttInstruments, MessageCounts, type MqttInstruments } from './metrics.js';
import { PublishCache } from './publish-encoder.js';
import { Publisher } from './publisher.js';
import { Reason } from './reason-codes.js';
import { RetainedStore } from './retained.js';
import { ConsumerSet, deleteQuietly } from './session/consumers.js';
import { SessionControl, type TakeoverNotice } from './session/control.js';
import { Presence } from './session/presence.js';
import { decodeRecord, encodeRecord, isExpired, type SessionRecord, sessionConsumerName } from './session/record.js';
import { type Claim, type ClaimRequest, SessionStore } from './session/store.js';
import { SharedSubscriptions } from './shared.js';
import { Wills } from './will.js';

/** Bytes waiting to be sent to one client before it counts as slow: 8 MiB. */
export const DEFAULT_MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** QoS 1/2 deliveries queued per client while its Receive Maximum window is full. */
export const DEFAULT_MAX_QUEUED_DELIVERIES = 1_000;
/** Inbound QoS 1/2 stores pending per client before the broker stops reading from it. */
export const DEFAULT_MAX_PENDING_STORES = 1_000;
/** Redelivery of unacknowledged session messages after a replica crash, in milliseconds. */
export const DEFAULT_CONSUMER_ACK_WAIT_MS = 10_000;
/** How long a new owner waits for the replica that held a session to hand it over, in milliseconds. */
export const DEFAULT_TAKEOVER_WAIT_MS = 3_000;
/** Sweeper interval (due Wills, orphaned and expired sessions), in milliseconds. */
export const DEFAULT_SWEEP_INTERVAL_MS = 5_000;
/** Longest Session Expiry Interval granted when none is configured, in seconds (24 h). */
const DEFAULT_MAX_SESSION_EXPIRY_S = 24 * 3_600;
/** Time allowed to a graceful close when none is given, in milliseconds. */
const DEFAULT_CLOSE_GRACE_MS = 10_000;
/** Part of the grace period kept for clients to read DISCONNECT and close, in milliseconds. */
const DISCONNECT_WAIT_MS = 1_000;
/** Sweeper ticks per scan of the session records (the scan reads every record). */
const SESSION_SCAN_EVERY_TICKS = 6;
/** Deduplication ids of live QoS 2 deliveries remembered (within the stream's duplicate window). */
const LIVE_QOS2_IDS = 100_000;
/** Messages a session or shared consumer hands out before acknowledgements. */
const CONSUMER_MAX_ACK_PENDING = 1_000;

const TIER = { tier: 'mqtt' } as const;
/** Period of the shared keep-alive sweep, in milliseconds (the precision of keep-alive timeouts). */
const KEEPALIVE_TICK_MS = 250;
/** Subjects whose topic is remembered for delivery; the cache starts over when full. */
const TOPIC_CACHE_SIZE = 10_000;

/** What an MQTT broker front is built from. */
export interface MqttBrokerOptions {
  readonly backbone: Backbone;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  /** Tracing of this instance (default: disabled). */
  readonly tracing?: Tracing;
  /** Mesh subject prefix (`config.prefix`). */
  readonly prefix: string;
  /** Stream and bucket names (default: `meshLayout(prefix)`). */
  readonly layout?: MeshLayout;
  /** Largest packet accepted, in bytes (`config.mqtt.maxPacketSize`). */
  readonly maxPacketSize: number;
  /** Time a new connection has to send CONNECT, in milliseconds. */
  readonly connectTimeoutMs: number;
  /** Largest keep alive granted to MQTT 5 clients, in seconds (0 = no cap). */
  readonly maxKeepalive: number;
  /** Accept clients without credentials (used when no `auth` is given). */
  readonly allowAnonymous: boolean;
  /** Authentication and ACLs (default: anonymous access as `allowAnonymous` says, everything allowed). */
  readonly auth?: MqttAuth;
  /** MQTT 5 SUBACK code for a subscription the ACL denies (default 0x87). */
  readonly denySubscribeCode?: 0x80 | 0x87;
  /** Bytes waiting to be sent to one client before it is treated as slow (default 8 MiB). */
  readonly maxBufferedBytes?: number;
  /** QoS 1/2 deliveries queued per client while its in-flight window is full (default 1,000). */
  readonly maxQueuedDeliveries?: number;
  /** Inbound stores pending per client before reading pauses (default 1,000). */
  readonly maxPendingStores?: number;
  /** Longest Session Expiry Interval granted, in seconds (default 24 h). */
  readonly maxSessionExpiry?: number;
  /** Receive Maximum announced to MQTT 5 clients (default 65,535). */
  readonly receiveMaximum?: number;
  /** Topic Alias Maximum announced to MQTT 5 clients (default 64). */
  readonly topicAliasMaximum?: number;
  /** Redelivery delay of unacknowledged session messages after a crash, in ms (default 10 s). */
  readonly consumerAckWaitMs?: number;
  /** Wait for another replica to hand a session over, in ms (default 3 s). */
  readonly takeoverWaitMs?: number;
  /** Sweeper interval, in ms (default 5 s). */
  readonly sweepIntervalMs?: number;
}

/**
 * The MQTT 3.1.1 / 5.0 broker front, independent of the transport: `handle()` takes any
 * Duplex stream (a TCP or TLS socket, a WebSocket stream). It keeps per-connection protocol
 * state only; sessions, retained messages, pending Wills and QoS 1/2 messages live in the
 * backbone, so a client can resume on any replica. One `LocalFanout` subscription per
 * subject serves every local subscriber.
 */
export class MqttBroker {
  readonly #backbone: Backbone;
  readonly #logger: Logger;
  readonly #settings: BrokerSettings;
  readonly #layout: MeshLayout;
  readonly #stem: string;
  readonly #node = randomBytes(6).toString('hex');
  readonly #instruments: MqttInstruments;
  readonly #fanout: LocalFanout<SubscriptionTap>;
  readonly #store: SessionStore;
  readonly #control: SessionControl;
  readonly #presence: Presence;
  readonly #retained: RetainedStore;
  readonly #publisher: Publisher;
  readonly #wills: Wills;
  readonly #shared: SharedSubscriptions;
  readonly #context: BrokerContext;
  /** Every open connection, connected or not. */
  readonly #connections = new Set<Connection>();
  /** Connected clients by client identifier (this replica only). */
  readonly #byClientId = new Map<string, Connection>();
  /** Sessions being handed back after their connection closed, by client id. */
  readonly #detaching = new Map<string, Promise<void>>();
  readonly #background = new Set<Promise<unknown>>();
  readonly #sweeper: NodeJS.Timeout;
  readonly #keepaliveSweeper: NodeJS.Timeout;
  #sweeps = 0;
  #sweeping = false;
  #serial = 0;
  /** Topics of recent subjects (mapping a subject back unescapes it character by character). */
  readonly #topics = new Map<string, ReturnType<typeof subjectToTopic> | null>();
  #closing: Promise<void> | undefined;

  constructor(options: MqttBrokerOptions) {
    this.#backbone = options.backbone;
    this.#logger = options.logger;
    this.#layout = options.layout ?? meshLayout(options.prefix);
    this.#stem = layoutStem(options.prefix);
    this.#settings = Object.freeze({
      prefix: options.prefix,
      maxPacketSize: options.maxPacketSize,
      connectTimeoutMs: options.connectTimeoutMs,
      maxKeepalive: options.maxKeepalive,
      maxBufferedBytes: options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES,
      maxQueuedDeliveries: options.maxQueuedDeliveries ?? DEFAULT_MAX_QUEUED_DELIVERIES,
      maxPendingStores: options.maxPendingStores ?? DEFAULT_MAX_PENDING_STORES,
      maxSessionExpiry: options.maxSessionExpiry ?? DEFAULT_MAX_SESSION_EXPIRY_S,
      receiveMaximum: options.receiveMaximum ?? 65_535,
      topicAliasMaximum: options.topicAliasMaximum ?? 64,
      consumerAckWaitMs: options.consumerAckWaitMs ?? DEFAULT_CONSUMER_ACK_WAIT_MS,
      takeoverWaitMs: options.takeoverWaitMs ?? DEFAULT_TAKEOVER_WAIT_MS,
      sweepIntervalMs: options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS,
      denySubscribeCode: options.denySubscribeCode ?? Reason.NotAuthorized,
    });
    this.#instruments = createMqttInstruments(options.metrics);
    this.#fanout = new LocalFanout<SubscriptionTap>(options.backbone, this.#onMessage);
    this.#store = new SessionStore(this.#backbone, this.#layout.buckets.sessions);
    this.#presence = new Presence(this.#backbone, this.#layout.buckets.leases, this.#node, this.#logger);
    this.#control = new SessionControl(this.#backbone, options.prefix, this.#node, this.#onNotice);
    this.#retained = new RetainedStore(this.#backbone, this.#layout);
    this.#publisher = new Publisher(this.#backbone, options.prefix, this.#retained);
    const track = (work: Promise<unknown>) => this.#track(work);
    this.#wills = new Wills(this.#store.bucket(), this.#publisher, this.#logger, track);
    this.#shared = new SharedSubscriptions(
      this.#backbone,
      this.#layout,
      this.#stem,
      this.#store.bucket(),
      this.#node,
      { ackWaitMs: this.#settings.consumerAckWaitMs, maxAckPending: CONSUMER_MAX_ACK_PENDING },
      this.#logger,
    );
    this.#context = {
      settings: this.#settings,
      backbone: this.#backbone,
      layout: this.#layout,
      stem: this.#stem,
      node: this.#node,
      fanout: this.#fanout,
      instruments: this.#instruments,
      counts: new MessageCounts(this.#instruments),
      logger: this.#logger,
      tracing: options.tracing ?? disabledTracing('mqtt-edge'),
      publisher: this.#publisher,
      retained: this.#retained,
      wills: this.#wills,
      shared: this.#shared,
      auth: options.auth ?? createMqttAuth({ allowAnonymous: options.allowAnonymous }),
      nextSerial: () => ++this.#serial,
      openSession: (connection, request) => this.#openSession(connection, request),
      discardSession: (record, clientId) => this.#discardSession(record, clientId),
      register: (connection) => this.#register(connection),
      release: (connection) => this.#release(connection),
      track,
      createConsumers: (onMessage) =>
        new ConsumerSet(
          this.#backbone,
          this.#layout.streams.mqtt.name,
          { ackWaitMs: this.#settings.consumerAckWaitMs, maxAckPending: CONSUMER_MAX_ACK_PENDING },
          this.#logger,
          onMessage,
        ),
      deleteConsumer: (durable) => deleteQuietly(this.#backbone, this.#layout.streams.mqtt.name, durable, this.#logger),
      streamNextSeq: async () => ((await this.#backbone.streamState(this.#layout.streams.mqtt.name))?.lastSeq ?? 0) + 1,
      topicOf: (subject) => {
        const decoded = subjectToTopic(this.#settings.prefix, subject);
        return decoded?.tier === 'mqtt' ? decoded.topic : undefined;
      },
      decodeMeta: (message) => decodeMeta(message.headers),
    };
    this.#sweeper = setInterval(() => void this.#sweep(), this.#settings.sweepIntervalMs);
    this.#sweeper.unref();
    this.#keepaliveSweeper = setInterval(() => {
      for (const connection of this.#connections) connection.sweepKeepalive(KEEPALIVE_TICK_MS);
    }, KEEPALIVE_TICK_MS);
    this.#keepaliveSweeper.unref();
  }

  /** Open connections (including those that have not sent CONNECT yet). */
  get connections(): number {
    return this.#connections.size;
  }

  /** Distinct backbone subscriptions held for local subscribers. */
  get backboneSubscriptions(): number {
    return this.#fanout.subscriptions;
  }

  /** This replica's id (owner of the sessions it serves). */
  get node(): string {
    return this.#node;
  }

  /** The address a connected client came from (its socket's, or from PROXY protocol / X-Forwarded-For). */
  clientAddress(clientId: string): string | undefined {
    return this.#byClientId.get(clientId)?.remoteAddress;
  }

  /** Serves one client over `stream` until it closes. Never throws. */
  handle(stream: Duplex, remoteAddress?: string): void {
    if (this.#closing) {
      stream.destroy();
      return;
    }
    const connection = new Connection(this.#context, stream, remoteAddress ?? socketAddress(stream));
    this.#connections.add(connection);
    connection.onClose(() => this.#connections.delete(connection));
  }

  /**
   * Graceful stop: stop reading, let stores under way finish and their acknowledgements go
   * out, then send MQTT 5 clients DISCONNECT 0x8B (server shutting down) and end every
   * connection; sessions stay in the backbone for the client's next connection, on another
   * replica. Whatever is still open when `graceMs` is over is destroyed. Idempotent.
   */
  close(graceMs = DEFAULT_CLOSE_GRACE_MS): Promise<void> {
    this.#closing ??= this.#close(graceMs);
    return this.#closing;
  }

  async #close(graceMs: number): Promise<void> {
    clearInterval(this.#sweeper);
    clearInterval(this.#keepaliveSweeper);
    const deadline = Date.now() + graceMs;
    const connections = [...this.#connections];
    for (const connection of connections) connection.stopReading();
    const drainFor = Math.max(0, graceMs - DISCONNECT_WAIT_MS);
    await within(Promise.all([...connections.map((c) => c.drained()), ...this.#background]), drainFor);
    for (const connection of connections) connection.disconnect(Reason.ServerShuttingDown, 'server shutting down');
    await within(Promise.all(connections.map((c) => c.closed())), Math.max(0, deadline - Date.now()));
    for (const connection of this.#connections) connection.destroy();
    // Sessions handed back and Wills published by the disconnects above.
    await within(Promise.all([...this.#background]), Math.max(0, deadline - Date.now()));
    this.#wills.close();
    this.#control.close();
    await within(this.#shared.close(), 1_000);
    await within(this.#presence.stop(), 1_000);
    this.#fanout.close();
  }

  #track(work: Promise<unknown>): void {
    this.#background.add(work);
    void work.finally(() => this.#background.delete(work));
  }

  // ---------------------------------------------------------------- sessions

  /**
   * Claims the session of a connecting client [MQTT-3.1.2-4] [MQTT-3.1.2-5]: compare-and-set
   * in the sessions bucket, then the older connection — on this replica or another — is
   * closed with 0x8E and hands its session back before this one resumes it [MQTT-3.1.4-3].
   */
  async #openSession(connection: Connection, request: Omit<ClaimRequest, 'owner'>): Promise<Claim> {
    const claim = await this.#store.claim({ ...request, owner: { node: this.#node, conn: connection.serial } }, () =>
      connection.sessionLost(),
    );
    const local = this.#byClientId.get(request.clientId);
    if (local && local !== connection) await local.takeOver(!claim.resumed);
    await this.#detaching.get(request.clientId);
    const previousOwner = claim.previous?.owner;
    const remote =
      previousOwner && previousOwner.node !== this.#node && (await this.#presence.isAlive(previousOwner.node))
        ? previousOwner.node
        : undefined;
    const notice: TakeoverNotice = {
      clientId: request.clientId,
      node: this.#node,
      conn: connection.serial,
      at: connection.connectedAt,
      clean: !claim.resumed,
      ...(remote !== undefined && { prev: remote }),
      ...(claim.handle && { rev: claim.handle.claimRevision }),
    };
    const answered = await this.#control.announceAndWait(notice, this.#settings.takeoverWaitMs);
    if (!answered)
      this.#logger.warn({ clientId: request.clientId, node: remote }, 'previous session owner did not answer');
    if (claim.previous) {
      if (!claim.resumed) await this.#discardSession(claim.previous, request.clientId);
      // [MQTT-3.1.3-9]: a resumed session cancels its pending Will; an ended one publishes it.
      await this.#wills.settle(request.clientId, !claim.resumed);
    }
    return claim;
  }

  /** Deletes the durable consumers of an ended session and leaves its shared groups. */
  async #discardSession(record: SessionRecord, clientId: string): Promise<void> {
    const stream = this.#layout.streams.mqtt.name;
    for (const [filter, sub] of Object.entries(record.subs)) {
      const share = shareOf(filter);
      if (share) {
        await this.#shared.forget(share.group, share.filter, clientId).catch(() => undefined);
        continue;
      }
      for (const subject of Object.keys(sub.from ?? {})) {
        await deleteQuietly(this.#backbone, stream, sessionConsumerName(this.#stem, record.gen, subject), this.#logger);
      }
    }
  }

  /** A notice from any replica: close the local connection it supersedes, wait for its hand-back. */
  #onNotice = async (notice: TakeoverNotice): Promise<void> => {
    if (notice.node === this.#node) return; // handled directly in #openSession
    const local = this.#byClientId.get(notice.clientId);
    if (local && supersedes(notice, local)) await local.takeOver(notice.clean);
    await this.#detaching.get(notice.clientId);
  };

  #register(connection: Connection): void {
    const previous = this.#byClientId.get(connection.clientId);
    if (previous && previous !== connection && isNewer(previous, connection)) {
      // A newer connection claimed the session while this one was connecting.
      connection.sessionLost();
      return;
    }
    this.#byClientId.set(connection.clientId, connection);
    if (previous && previous !== connection) void previous.takeOver(false);
  }

  #release(connection: Connection): void {
    if (this.#byClientId.get(connection.clientId) === connection) this.#byClientId.delete(connection.clientId);
    const clientId = connection.clientId;
    const detached = connection.detached();
    this.#detaching.set(clientId, detached);
    void detached.finally(() => {
      if (this.#detaching.get(clientId) === detached) this.#detaching.delete(clientId);
    });
  }

  /**
   * Background upkeep any replica may do: publish Wills whose delay is over (also those of
   * a replica that stopped), mark sessions of crashed replicas as disconnected, and remove
   * expired sessions with their consumers.
   */
  async #sweep(): Promise<void> {
    if (this.#sweeping || this.#closing) return;
    this.#sweeping = true;
    try {
      await this.#wills.sweep();
      if (this.#sweeps++ % SESSION_SCAN_EVERY_TICKS === 0) {
        // Replica liveness asked once per replica in this sweep.
        const verdicts = new Map<string, Promise<boolean>>();
        const isAlive = (node: string): Promise<boolean> => {
          let alive = verdicts.get(node);
          if (alive === undefined) {
            alive = this.#presence.isAlive(node);
            verdicts.set(node, alive);
          }
          return alive;
        };
        await this.#wills.sweepHeld(this.#node, isAlive, async (clientId) => {
          const owner = (await this.#store.read(clientId))?.record.owner;
          return owner != null && (await isAlive(owner.node));
        });
        await this.#sweepSessions();
        await this.#shared.sweepCrashed(isAlive, async (clientId) => {
          const record = (await this.#store.read(clientId))?.record;
          return record !== undefined && record.expiry > 0 && !isExpired(record, Date.now());
        });
      }
    } catch (error) {
      this.#logger.debug({ err: error }, 'sweep failed');
    } finally {
      this.#sweeping = false;
    }
  }

  async #sweepSessions(): Promise<void> {
    const kv = await this.#store.bucket();
    for (const key of await this.#store.keys()) {
      if (this.#closing) return;
      const entry = await kv.get(key);
      const record = entry && decodeRecord(entry.value);
      if (!entry || !record) continue;
      const now = Date.now();
      if (record.owner && record.owner.node !== this.#node && !(await this.#presence.isAlive(record.owner.node))) {
        // Its replica crashed: the session is disconnected from now on.
        const orphan: SessionRecord = { ...record, owner: null, endedAt: now };
        await kv.update(key, encodeRecord(orphan), entry.revision).catch(() => undefined);
        continue;
      }
      if (isExpired(record, now) && (await this.#store.deleteIfUnchanged(key, entry.revision))) {
        const clientId = clientIdOfKey(key);
        await this.#discardSession(record, clientId);
        this.#logger.info({ clientId }, 'session expired');
      }
    }
  }

  // ---------------------------------------------------------------- delivery

  /**
   * True when a QoS 2 message with this deduplication id was delivered live in the last
   * duplicate window. The stream stores an inbound QoS 2 message once by its id (`q2-<nonce>`),
   * but live subscribers get every append: after a replica crash between storing it and marking
   * it stored, the client's resend would reach them a second time. Remembered per NATS
   * subscription subject, as a message arrives once through each.
   */
  readonly #liveQos2 = new Map<string, number>();

  #liveDuplicate(message: BackboneMessage, taps: ReadonlySet<SubscriptionTap>): boolean {
    let msgId: string | undefined;
    for (const [name, value] of message.headers ?? []) if (name === MSG_ID_HEADER) msgId = value;
    if (msgId === undefined) return false;
    // Per NATS subscription: with overlapping filters one message arrives once through each.
    let via = '';
    for (const tap of taps) {
      via = tap.subject;
      break;
    }
    const id = `${msgId}\u0000${via}`;
    const now = Date.now();
    const seen = this.#liveQos2.get(id);
    if (seen !== undefined && now - seen < STREAM_DUPLICATE_WINDOW_MS) return true;
    // Insertion order is time order: forget from the oldest.
    for (const [old, at] of this.#liveQos2) {
      if (now - at < STREAM_DUPLICATE_WINDOW_MS && this.#liveQos2.size < LIVE_QOS2_IDS) break;
      this.#liveQos2.delete(old);
    }
    this.#liveQos2.set(id, now);
    return false;
  }

  /** One backbone message on a subscribed subject, with the taps (connection subscriptions) that want it. */
  #onMessage = (message: BackboneMessage, taps: ReadonlySet<SubscriptionTap>): void => {
    let decoded = this.#topics.get(message.subject);
    if (decoded === undefined) {
      decoded = subjectToTopic(this.#settings.prefix, message.subject) ?? null;
      if (this.#topics.size >= TOPIC_CACHE_SIZE) this.#topics.clear();
      this.#topics.set(message.subject, decoded);
    }
    if (decoded?.tier !== 'mqtt') return;
    let meta = decodeMeta(message.headers);
    if (meta.expiresAt !== undefined && meta.expiresAt <= Date.now()) {
      // [MQTT-3.3.2-5]: an expired message is not delivered.
      this.#instruments.dropped.add(taps.size, { ...TIER, reason: 'expired' });
      return;
    }
    const publishedQos = meta.qos ?? (decoded.cls === '1' ? 1 : 0);
    if (publishedQos === 2 && this.#liveDuplicate(message, taps)) return;
    recordDeliveryLatency(this.#instruments, meta, publishedQos);
    let span: Span | undefined;
    if (this.#context.tracing.enabled) {
      let only: SubscriptionTap | undefined;
      if (taps.size === 1) for (const tap of taps) only = tap;
      ({ span, meta } = startDelivery(this.#context.tracing, meta, {
        topic: decoded.topic,
        qos: publishedQos,
        recipients: taps.size,
        clientId: only?.connection.clientId,
        bodySize: message.payload.length,
      }));
    }
    // Encoded once for all local recipients that get the same bytes.
    const cache = new PublishCache();
    for (const tap of taps) {
      try {
        tap.connection.deliver(tap, message, decoded.topic, decoded.cls, meta, publishedQos, cache);
      } catch (error) {
        this.#logger.error({ err: error, clientId: tap.connection.clientId }, 'mqtt delivery failed');
      }
    }
    span?.end();
  };
}

/** Creates an MQTT broker front (see {@link MqttBroker}). */
export function createMqttBroker(options: MqttBrokerOptions): MqttBroker {
  return new MqttBroker(options);
}

/** True when `notice` announces a connection newer than `local`. */
function supersedes(notice: TakeoverNotice, local: Connection): boolean {
  const localRevision = local.session?.claimRevision;
  if (notice.rev !== undefined && localRevision !== undefined) return localRevision < notice.rev;
  return local.connectedAt <= notice.at;
}

/** True when `a` is newer than `b` (claim revision first, then connect time). */
function isNewer(a: Connection, b: Connection): boolean {
  const ra = a.session?.claimRevision;
  const rb = b.session?.claimRevision;
  if (ra !== undefined && rb !== undefined) return ra > rb;
  return a.connectedAt > b.connectedAt || (a.connectedAt === b.connectedAt && a.serial > b.serial);
}

function shareOf(filter: string): { group: string; filter: string } | undefined {
  try {
    return parseSharedSubscription(filter);
  } catch {
    return undefined;
  }
}

function clientIdOfKey(key: string): string {
  try {
    return decodeKey(key.slice(2));
  } catch {
    return key;
  }
}

/** The peer address of a socket-like stream, if it has one. */
function socketAddress(stream: Duplex): string | undefined {
  const address = (stream as Duplex & { remoteAddress?: string }).remoteAddress;
  return typeof address === 'string' ? address : undefined;
}

/** Waits for `work`, at most `ms` milliseconds; never rejects. */
async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    work.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

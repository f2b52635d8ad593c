import type { Duplex } from 'node:stream';
import { type Backbone, type BackboneMessage, LocalFanout } from '@protomesh/backbone';
import { decodeMeta } from '@protomesh/envelope';
import type { Logger, ServiceMetrics } from '@protomesh/telemetry';
import { subjectToTopic } from '@protomesh/topic-map';
import { Connection } from './connection.js';
import type { BrokerContext, BrokerSettings, SubscriptionTap } from './context.js';
import { createMqttInstruments, type MqttInstruments } from './metrics.js';
import { Reason } from './reason-codes.js';

/** Bytes waiting to be sent to one client before it counts as slow: 8 MiB. */
export const DEFAULT_MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** QoS 1 deliveries queued per client while its Receive Maximum window is full. */
export const DEFAULT_MAX_QUEUED_DELIVERIES = 1_000;
/** Inbound QoS 1/2 stores pending per client before the broker stops reading from it. */
export const DEFAULT_MAX_PENDING_STORES = 1_000;
/** Time allowed to a graceful close when none is given, in milliseconds. */
const DEFAULT_CLOSE_GRACE_MS = 10_000;
/** Part of the grace period kept for clients to read DISCONNECT and close, in milliseconds. */
const DISCONNECT_WAIT_MS = 1_000;

const TIER = { tier: 'mqtt' } as const;

/** What an MQTT broker front is built from. */
export interface MqttBrokerOptions {
  readonly backbone: Backbone;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  /** Mesh subject prefix (`config.prefix`). */
  readonly prefix: string;
  /** Largest packet accepted, in bytes (`config.mqtt.maxPacketSize`). */
  readonly maxPacketSize: number;
  /** Time a new connection has to send CONNECT, in milliseconds. */
  readonly connectTimeoutMs: number;
  /** Largest keep alive granted to MQTT 5 clients, in seconds (0 = no cap). */
  readonly maxKeepalive: number;
  readonly allowAnonymous: boolean;
  /** Bytes waiting to be sent to one client before it is treated as slow (default 8 MiB). */
  readonly maxBufferedBytes?: number;
  /** QoS 1 deliveries queued per client while its in-flight window is full (default 1,000). */
  readonly maxQueuedDeliveries?: number;
  /** Inbound stores pending per client before reading pauses (default 1,000). */
  readonly maxPendingStores?: number;
}

/**
 * The MQTT 3.1.1 / 5.0 broker front, independent of the transport: `handle()` takes any
 * Duplex stream (a TCP or TLS socket, a WebSocket stream). It keeps per-connection protocol
 * state only; messages go through the injected backbone, and one `LocalFanout` subscription
 * per subject serves every local subscriber.
 */
export class MqttBroker {
  readonly #backbone: Backbone;
  readonly #logger: Logger;
  readonly #settings: BrokerSettings;
  readonly #instruments: MqttInstruments;
  readonly #fanout: LocalFanout<SubscriptionTap>;
  readonly #context: BrokerContext;
  /** Every open connection, connected or not. */
  readonly #connections = new Set<Connection>();
  /** Connected clients by client identifier (this replica only). */
  readonly #byClientId = new Map<string, Connection>();
  readonly #background = new Set<Promise<unknown>>();
  #closing: Promise<void> | undefined;

  constructor(options: MqttBrokerOptions) {
    this.#backbone = options.backbone;
    this.#logger = options.logger;
    this.#settings = Object.freeze({
      prefix: options.prefix,
      maxPacketSize: options.maxPacketSize,
      connectTimeoutMs: options.connectTimeoutMs,
      maxKeepalive: options.maxKeepalive,
      allowAnonymous: options.allowAnonymous,
      maxBufferedBytes: options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES,
      maxQueuedDeliveries: options.maxQueuedDeliveries ?? DEFAULT_MAX_QUEUED_DELIVERIES,
      maxPendingStores: options.maxPendingStores ?? DEFAULT_MAX_PENDING_STORES,
    });
    this.#instruments = createMqttInstruments(options.metrics);
    this.#fanout = new LocalFanout<SubscriptionTap>(options.backbone, this.#onMessage);
    this.#context = {
      settings: this.#settings,
      backbone: this.#backbone,
      fanout: this.#fanout,
      instruments: this.#instruments,
      logger: this.#logger,
      claim: (connection) => this.#claim(connection),
      release: (connection) => {
        if (this.#byClientId.get(connection.clientId) === connection) this.#byClientId.delete(connection.clientId);
      },
      track: (work) => {
        this.#background.add(work);
        void work.finally(() => this.#background.delete(work));
      },
    };
  }

  /** Open connections (including those that have not sent CONNECT yet). */
  get connections(): number {
    return this.#connections.size;
  }

  /** Distinct backbone subscriptions held for local subscribers. */
  get backboneSubscriptions(): number {
    return this.#fanout.subscriptions;
  }

  /** Serves one client over `stream` until it closes. Never throws. */
  handle(stream: Duplex): void {
    if (this.#closing) {
      stream.destroy();
      return;
    }
    const connection = new Connection(this.#context, stream);
    this.#connections.add(connection);
    void connection.closed().then(() => this.#connections.delete(connection));
  }

  /**
   * Graceful stop: stop reading, let stores under way finish and their acknowledgements go
   * out, then send MQTT 5 clients DISCONNECT 0x8B (server shutting down) and end every
   * connection; whatever is still open when `graceMs` is over is destroyed. Idempotent.
   */
  close(graceMs = DEFAULT_CLOSE_GRACE_MS): Promise<void> {
    this.#closing ??= this.#close(graceMs);
    return this.#closing;
  }

  async #close(graceMs: number): Promise<void> {
    const deadline = Date.now() + graceMs;
    const connections = [...this.#connections];
    for (const connection of connections) connection.stopReading();
    const drainFor = Math.max(0, graceMs - DISCONNECT_WAIT_MS);
    await within(Promise.all([...connections.map((c) => c.drained()), ...this.#background]), drainFor);
    for (const connection of connections) connection.disconnect(Reason.ServerShuttingDown, 'server shutting down');
    await within(Promise.all(connections.map((c) => c.closed())), Math.max(0, deadline - Date.now()));
    for (const connection of this.#connections) connection.destroy();
    // Wills published by the disconnects above.
    await within(Promise.all([...this.#background]), Math.max(0, deadline - Date.now()));
    this.#fanout.close();
  }

  /** [MQTT-3.1.4-3]: a second connection with the same client id takes over from the first. */
  #claim(connection: Connection): void {
    const previous = this.#byClientId.get(connection.clientId);
    this.#byClientId.set(connection.clientId, connection);
    if (previous && previous !== connection) {
      previous.disconnect(Reason.SessionTakenOver, 'session taken over by a new connection');
    }
  }

  /** One backbone message on a subscribed subject, with the taps (connection subscriptions) that want it. */
  #onMessage = (message: BackboneMessage, taps: ReadonlySet<SubscriptionTap>): void => {
    const decoded = subjectToTopic(this.#settings.prefix, message.subject);
    if (decoded?.tier !== 'mqtt') return;
    const meta = decodeMeta(message.headers);
    const now = Date.now();
    if (meta.expiresAt !== undefined && meta.expiresAt <= now) {
      // [MQTT-3.3.2-5]: an expired message is not delivered.
      this.#instruments.dropped.add(taps.size, { ...TIER, reason: 'expired' });
      return;
    }
    const publishedQos = meta.qos ?? (decoded.cls === '1' ? 1 : 0);
    for (const tap of taps) {
      try {
        tap.connection.deliver(tap, message, decoded.topic, meta, publishedQos, now);
      } catch (error) {
        this.#logger.error({ err: error, clientId: tap.connection.clientId }, 'mqtt delivery failed');
      }
    }
  };
}

/** Creates an MQTT broker front (see {@link MqttBroker}). */
export function createMqttBroker(options: MqttBrokerOptions): MqttBroker {
  return new MqttBroker(options);
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

import type { Backbone, LocalFanout } from '@protomesh/backbone';
import type { Logger } from '@protomesh/telemetry';
import type { Connection } from './connection.js';
import type { MqttInstruments } from './metrics.js';

/** Broker-wide limits and policies, resolved from configuration. */
export interface BrokerSettings {
  /** Mesh subject prefix (`config.prefix`). */
  readonly prefix: string;
  /** Largest packet accepted and announced as Maximum Packet Size, in bytes. */
  readonly maxPacketSize: number;
  /** Time a new connection has to send CONNECT, in milliseconds. */
  readonly connectTimeoutMs: number;
  /** Largest keep alive granted to MQTT 5 clients, in seconds (0 = no cap). */
  readonly maxKeepalive: number;
  readonly allowAnonymous: boolean;
  /**
   * Bytes waiting to be sent to one client above which QoS 0 deliveries are dropped and any
   * other send closes the client as too slow.
   */
  readonly maxBufferedBytes: number;
  /** QoS 1 deliveries queued per client while its in-flight window is full; more are dropped. */
  readonly maxQueuedDeliveries: number;
  /** Inbound QoS 1/2 PUBLISH packets awaiting the backbone per client before reading pauses. */
  readonly maxPendingStores: number;
}

/**
 * One backbone subject a connection listens to, shared by the connection's filters that
 * produce it; it is the member type of the broker's `LocalFanout`, so a delivery knows which
 * subscription brought it.
 */
export interface SubscriptionTap {
  readonly connection: Connection;
  readonly subject: string;
  /** The connection's topic filters that map to this subject. */
  readonly filters: Set<string>;
}

/** What a connection and its packet handlers use of the broker. */
export interface BrokerContext {
  readonly settings: BrokerSettings;
  readonly backbone: Backbone;
  readonly fanout: LocalFanout<SubscriptionTap>;
  readonly instruments: MqttInstruments;
  readonly logger: Logger;
  /** Registers a connected client id, closing an older connection with the same id [MQTT-3.1.4-3]. */
  claim(connection: Connection): void;
  /** Forgets a closed connection (only if it still owns its client id). */
  release(connection: Connection): void;
  /** Tracks background backbone work (Will Messages) so a graceful close can wait for it. */
  track(work: Promise<unknown>): void;
}

import type { Backbone, BackboneMessage, DeliveredMessage, LocalFanout, MeshLayout } from '@protomesh/backbone';
import type { MessageMeta } from '@protomesh/envelope';
import type { Logger, Tracing } from '@protomesh/telemetry';
import type { MqttAuth } from './auth.js';
import type { Connection } from './connection.js';
import type { MessageCounts, MqttInstruments } from './metrics.js';
import type { Publisher } from './publisher.js';
import type { RetainedStore } from './retained.js';
import type { ConsumerSet } from './session/consumers.js';
import type { SessionRecord } from './session/record.js';
import type { Claim, ClaimRequest } from './session/store.js';
import type { SharedSubscriptions } from './shared.js';
import type { Wills } from './will.js';

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
  /**
   * Bytes waiting to be sent to one client above which QoS 0 deliveries are dropped and any
   * other send closes the client as too slow.
   */
  readonly maxBufferedBytes: number;
  /** QoS 1/2 deliveries queued per client while its in-flight window is full; more are dropped (or returned to the stream). */
  readonly maxQueuedDeliveries: number;
  /** Inbound QoS 1/2 PUBLISH packets awaiting the backbone per client before reading pauses. */
  readonly maxPendingStores: number;
  /** Longest Session Expiry Interval granted, in seconds; the expiry of 3.1.1 persistent sessions. */
  readonly maxSessionExpiry: number;
  /** Receive Maximum announced to MQTT 5 clients (inbound QoS 1/2 window). */
  readonly receiveMaximum: number;
  /** Topic Alias Maximum announced to MQTT 5 clients. */
  readonly topicAliasMaximum: number;
  /** Redelivery delay of session and shared consumers after a replica crash, in milliseconds. */
  readonly consumerAckWaitMs: number;
  /** How long a new owner waits for another replica to hand a session over, in milliseconds. */
  readonly takeoverWaitMs: number;
  /** Interval of the sweeper (due Wills, expired sessions), in milliseconds. */
  readonly sweepIntervalMs: number;
  /** MQTT 5 SUBACK code for a subscription the ACL denies (0x87 or 0x80). */
  readonly denySubscribeCode: number;
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
  readonly layout: MeshLayout;
  /** Upper-case name stem of the mesh (consumer names). */
  readonly stem: string;
  /** This replica's id. */
  readonly node: string;
  readonly fanout: LocalFanout<SubscriptionTap>;
  readonly instruments: MqttInstruments;
  /** Per-message counts, batched into `instruments` once per event-loop turn. */
  readonly counts: MessageCounts;
  readonly logger: Logger;
  /** This instance's tracing (`enabled` false when nothing is exported). */
  readonly tracing: Tracing;
  readonly publisher: Publisher;
  readonly retained: RetainedStore;
  readonly wills: Wills;
  readonly shared: SharedSubscriptions;
  /** Authentication and ACLs. */
  readonly auth: MqttAuth;
  /** A serial number for a new connection. */
  nextSerial(): number;
  /** Claims the session of a connecting client, taking it over from any replica. */
  openSession(connection: Connection, request: Omit<ClaimRequest, 'owner'>): Promise<Claim>;
  /** Removes what an ended session left behind (durable consumers, shared memberships). */
  discardSession(record: SessionRecord, clientId: string): Promise<void>;
  /** Registers a connected client on this replica. */
  register(connection: Connection): void;
  /** Forgets a closed connection (only if it still owns its client id). */
  release(connection: Connection): void;
  /** Tracks background backbone work (Will Messages, session hand-backs) so a graceful close can wait for it. */
  track(work: Promise<unknown>): void;
  /** Durable consumers for a persistent session. */
  createConsumers(onMessage: (subject: string, message: DeliveredMessage) => void): ConsumerSet;
  /** Deletes a durable consumer of the tier stream (quietly). */
  deleteConsumer(durable: string): Promise<void>;
  /** The next sequence the MQTT tier stream will assign. */
  streamNextSeq(): Promise<number>;
  /** The topic of an MQTT-tier subject, if it is one. */
  topicOf(subject: string): string | undefined;
  decodeMeta(message: BackboneMessage): MessageMeta;
}

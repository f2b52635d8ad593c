import type { Duplex } from 'node:stream';
import type { BackboneMessage } from '@protomesh/backbone';
import type { MessageMeta } from '@protomesh/envelope';
import { type MeshError, messageOf } from '@protomesh/errors';
import { subjectMatches } from '@protomesh/topic-map';
import {
  parser as createParser,
  generate,
  type IConnackPacket,
  type IPublishPacket,
  type Packet,
  type Parser,
  type QoS,
} from 'mqtt-packet';
import type { BrokerContext, SubscriptionTap } from './context.js';
import { dispatch } from './dispatch.js';
import {
  ConnectTimeoutError,
  InternalError,
  KeepAliveTimeoutError,
  MalformedPacketError,
  PacketTooLargeError,
  ProtocolViolationError,
  SlowClientError,
} from './errors.js';
import { connectProtocolLevel, PacketFramer } from './framing.js';
import { ingest } from './ingest.js';
import type { DropReason } from './metrics.js';
import { type PublishProperties, publishPropertiesFromMeta } from './properties.js';
import {
  ConnectReturn,
  connectReturnFor,
  describeReason,
  PROTOCOL_VERSION_NAMES,
  Reason,
  type ReasonCode,
} from './reason-codes.js';

/** Where a connection is in its life. Packets are only handled in `awaiting-connect` and `connected`. */
export type ConnectionState = 'awaiting-connect' | 'connected' | 'closing' | 'closed';

/** Protocol level: 3 = MQTT 3.1, 4 = 3.1.1, 5 = 5.0. */
export type ProtocolLevel = 3 | 4 | 5;

/** How a client asked to receive one subscription (MQTT 5 subscription options; 3.1.1 uses defaults). */
export interface SubscriptionOptions {
  /** Granted QoS: outbound QoS 2 comes later, so at most 1. */
  readonly qos: 0 | 1;
  /** MQTT 5 No Local: never send the client its own messages on this subscription. */
  readonly noLocal: boolean;
  /** MQTT 5 Retain As Published: keep the RETAIN flag on forwarded messages. */
  readonly retainAsPublished: boolean;
}

/** A Will Message from CONNECT, published when the connection ends without a normal DISCONNECT. */
export interface WillMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly properties: PublishProperties | undefined;
}

/** What the CONNECT handler decided for an accepted client. */
export interface AcceptedConnect {
  readonly version: ProtocolLevel;
  readonly clientId: string;
  /** Keep alive enforced, in seconds (0 = none). */
  readonly keepalive: number;
  readonly will: WillMessage | undefined;
  /** MQTT 5 Receive Maximum of the client: QoS 1 deliveries it accepts unacknowledged. */
  readonly receiveMaximum: number;
  /** MQTT 5 Maximum Packet Size of the client, in bytes (undefined = protocol limit). */
  readonly maximumPacketSize: number | undefined;
  /** Properties of the CONNACK (MQTT 5 only). */
  readonly connackProperties: IConnackPacket['properties'];
}

/**
 * What happens once an inbound QoS 1/2 PUBLISH has settled: an acknowledgement to send, or
 * a reason to close the connection (MQTT 3.1.1 has no negative acknowledgement).
 */
export type AckOutcome =
  | { readonly send: Packet }
  | { readonly fail: MeshError; readonly reason: ReasonCode }
  | undefined;

/** Why a connection ended, for the log line and the metrics. */
interface CloseInfo {
  readonly reason: string;
  /** MQTT 5 DISCONNECT reason code to send first (only after a successful CONNACK). */
  readonly disconnect?: ReasonCode;
  /** The client sent DISCONNECT with reason 0x00: its Will Message is discarded [MQTT-3.1.2-10]. */
  readonly normal?: boolean;
  readonly error?: MeshError;
  /** Destroy at once instead of flushing (the client is not reading). */
  readonly abort?: boolean;
}

/** How long a closing connection may linger for the peer to read the last bytes, in milliseconds. */
const CLOSE_LINGER_MS = 2_000;
/** Largest packet identifier; identifiers run 1..65,535 (MQTT 5 §2.2.1). */
const MAX_PACKET_ID = 65_535;

const TIER = { tier: 'mqtt' } as const;
/** Control packet type of CONNECT (MQTT 5 §2.1.2). */
const CONNECT_TYPE = 1;

/**
 * One client connection over any Duplex stream (TCP socket, TLS socket, WebSocket stream):
 * framing and parsing, the connection state that the dispatcher enforces, subscriptions,
 * in-flight QoS state and the one write path. Packet handlers (`handlers/`) drive it
 * through its public methods.
 */
export class Connection {
  readonly context: BrokerContext;
  readonly #stream: Duplex;
  readonly #framer: PacketFramer;
  readonly #parser: Parser;
  #state: ConnectionState = 'awaiting-connect';
  #sawInput = false;
  #version: ProtocolLevel | undefined;
  #clientId = '';
  #will: WillMessage | undefined;
  #receiveMaximum = MAX_PACKET_ID;
  #clientMaxPacketSize: number | undefined;
  #generateOptions: { protocolVersion: number; maximumPacketSize?: number } = { protocolVersion: 4 };

  #connectTimer: NodeJS.Timeout | undefined;
  #keepaliveTimer: NodeJS.Timeout | undefined;
  #lingerTimer: NodeJS.Timeout | undefined;
  #closeInfo: CloseInfo | undefined;
  #closedListeners: Array<() => void> = [];

  /** Topic filter → subscription options and the subjects it maps to. */
  readonly #filters = new Map<string, SubscriptionOptions & { readonly subjects: readonly string[] }>();
  /** Subject → the tap registered with the broker's fan-out. */
  readonly #taps = new Map<string, SubscriptionTap>();

  /** Inbound QoS 2 packet identifiers awaiting PUBREL, with the outcome of their store. */
  readonly inboundQos2 = new Map<number, Promise<AckOutcome>>();
  #ackTail: Promise<void> = Promise.resolve();
  #pendingAcks = 0;
  /** Reading paused because too many stores are pending (flow control). */
  #flowPaused = false;
  /** Reading stopped for a graceful shutdown. */
  #shutdownPaused = false;

  /** Outbound QoS 1 packet identifiers awaiting PUBACK. */
  readonly #inFlight = new Set<number>();
  /** QoS 1 deliveries waiting for room in the client's Receive Maximum window. */
  #queued: IPublishPacket[] = [];
  #nextPacketId = 1;

  constructor(context: BrokerContext, stream: Duplex) {
    this.context = context;
    this.#stream = stream;
    this.#framer = new PacketFramer(context.settings.maxPacketSize);
    this.#parser = createParser();
    this.#parser.on('packet', this.#onPacket);
    this.#parser.on('error', this.#onParseError);
    stream.on('data', this.#onData);
    stream.on('error', this.#onStreamError);
    stream.on('end', this.#onEnd);
    stream.on('close', this.#onStreamClose);
    // [MQTT-3.1.0-1]: a connection that sends no CONNECT is closed after the timeout.
    this.#connectTimer = setTimeout(() => {
      const error = new ConnectTimeoutError(context.settings.connectTimeoutMs);
      this.#countProtocolError(error);
      this.#close({ reason: error.message, error });
    }, context.settings.connectTimeoutMs);
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** Protocol level from CONNECT; undefined before it. */
  get version(): ProtocolLevel | undefined {
    return this.#version;
  }

  /** The client identifier (assigned by the broker when the client sent an empty one). */
  get clientId(): string {
    return this.#clientId;
  }

  /** Topic filters this connection is subscribed to. */
  get filters(): ReadonlyMap<string, SubscriptionOptions> {
    return this.#filters;
  }

  /** Inbound QoS 1/2 messages whose store has not settled yet. */
  get pendingStores(): number {
    return this.#pendingAcks;
  }

  // ---------------------------------------------------------------- input

  #onData = (chunk: Buffer): void => {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    if (!this.#sawInput && chunk.length > 0) {
      this.#sawInput = true;
      // [MQTT-3.1.0-1]: decided by the first byte, without waiting for a whole packet of junk.
      if (chunk[0]! >> 4 !== CONNECT_TYPE) {
        this.fail(new ProtocolViolationError('first packet must be CONNECT'), Reason.ProtocolError);
        return;
      }
    }
    try {
      const problem = this.#framer.push(chunk, this.#onPacketBytes);
      if (problem?.kind === 'too-large') {
        this.fail(new PacketTooLargeError(problem.size, this.context.settings.maxPacketSize), Reason.PacketTooLarge);
      } else if (problem) {
        this.fail(new MalformedPacketError(problem.reason), Reason.MalformedPacket);
      }
    } catch (error) {
      this.#internalError(error);
    }
  };

  #onPacketBytes = (bytes: Buffer): boolean => {
    if (this.#state === 'awaiting-connect' && bytes[0]! >> 4 === CONNECT_TYPE) {
      const level = connectProtocolLevel(bytes);
      // mqtt-packet treats an unknown level as a parse error; MQTT wants a refusal [MQTT-3.1.2-2].
      if (level !== undefined && ![3, 4, 5].includes(level & 0x7f)) {
        this.#refuseProtocolLevel(level);
        return false;
      }
    }
    this.#parser.parse(bytes);
    return this.#state === 'awaiting-connect' || this.#state === 'connected';
  };

  #onPacket = (packet: Packet): void => {
    if (this.#state !== 'awaiting-connect' && this.#state !== 'connected') return;
    // Any packet counts as activity for the keep alive [MQTT-3.1.2-22] / [MQTT-3.1.2-24] (v3.1.1).
    this.#keepaliveTimer?.refresh();
    dispatch(this, packet);
  };

  #onParseError = (error: unknown): void => {
    this.fail(new MalformedPacketError(messageOf(error)), Reason.MalformedPacket);
  };

  #onStreamError = (error: Error): void => {
    this.#close({ reason: `network error: ${error.message}`, abort: true });
  };

  #onEnd = (): void => {
    this.#close({ reason: 'client closed the connection' });
  };

  #onStreamClose = (): void => {
    this.#close({ reason: 'connection closed' });
    this.#state = 'closed';
    clearTimeout(this.#lingerTimer);
    const listeners = this.#closedListeners;
    this.#closedListeners = [];
    for (const listener of listeners) listener();
  };

  /** Stops reading for good (graceful shutdown); packets already received are still handled. */
  stopReading(): void {
    this.#shutdownPaused = true;
    this.#updateFlow();
  }

  /** Pauses reading while too many stores are pending or after `stopReading`; resumes otherwise. */
  #updateFlow(): void {
    if (this.#state !== 'awaiting-connect' && this.#state !== 'connected') return;
    const pause = this.#flowPaused || this.#shutdownPaused;
    if (pause && !this.#stream.isPaused()) this.#stream.pause();
    else if (!pause && this.#stream.isPaused()) this.#stream.resume();
  }

  // ---------------------------------------------------------------- connect

  /**
   * Completes a CONNECT: takes over the client id, sends CONNACK (success, session present 0:
   * sessions are not kept yet) and starts the keep-alive timer.
   */
  accept(accepted: AcceptedConnect): void {
    clearTimeout(this.#connectTimer);
    this.#version = accepted.version;
    this.#clientId = accepted.clientId;
    this.#will = accepted.will;
    this.#receiveMaximum = accepted.receiveMaximum;
    this.#clientMaxPacketSize = accepted.maximumPacketSize;
    this.#generateOptions =
      accepted.maximumPacketSize === undefined
        ? { protocolVersion: accepted.version }
        : { protocolVersion: accepted.version, maximumPacketSize: accepted.maximumPacketSize };
    this.#state = 'connected';
    this.context.claim(this);
    const connack: IConnackPacket =
      accepted.version === 5
        ? { cmd: 'connack', sessionPresent: false, reasonCode: Reason.Success, properties: accepted.connackProperties }
        : { cmd: 'connack', sessionPresent: false, returnCode: ConnectReturn.Accepted };
    this.send(connack);
    if (accepted.keepalive > 0) {
      // [MQTT-3.1.2-22] / [MQTT-3.1.2-24] (v3.1.1): one and a half keep-alive periods.
      this.#keepaliveTimer = setTimeout(() => this.#keepaliveExpired(accepted.keepalive), accepted.keepalive * 1500);
    }
    this.context.instruments.connections.add(1, this.#connectionAttributes());
    this.context.logger.info(
      { clientId: this.#clientId, version: PROTOCOL_VERSION_NAMES[accepted.version], keepalive: accepted.keepalive },
      'client connected',
    );
  }

  /** Refuses a CONNECT with a CONNACK carrying `reason` (mapped to a 3.1.1 return code), then closes. */
  refuse(version: ProtocolLevel, reason: ReasonCode, detail: string): void {
    clearTimeout(this.#connectTimer);
    const connack: IConnackPacket =
      version === 5
        ? { cmd: 'connack', sessionPresent: false, reasonCode: reason }
        : { cmd: 'connack', sessionPresent: false, returnCode: connectReturnFor(reason) };
    this.#generateOptions = { protocolVersion: version };
    this.send(connack);
    this.context.logger.info({ version: PROTOCOL_VERSION_NAMES[version], reason: detail }, 'connection refused');
    this.#close({ reason: `refused: ${detail}` });
  }

  /** A CONNECT with a protocol level this broker does not speak [MQTT-3.1.2-2]. */
  #refuseProtocolLevel(level: number): void {
    clearTimeout(this.#connectTimer);
    // A newer client reads MQTT 5 CONNACKs (reason 0x84); an older one the 3.1.1 form (0x01).
    const bytes =
      (level & 0x7f) > 5
        ? Buffer.from([0x20, 0x03, 0x00, Reason.UnsupportedProtocolVersion, 0x00])
        : Buffer.from([0x20, 0x02, 0x00, ConnectReturn.UnacceptableProtocolVersion]);
    this.#stream.write(bytes);
    this.context.logger.info({ level }, 'connection refused: unsupported protocol level');
    this.#close({ reason: `unsupported protocol level ${level}` });
  }

  #keepaliveExpired(seconds: number): void {
    const error = new KeepAliveTimeoutError(seconds);
    this.#countProtocolError(error);
    this.#close({ reason: error.message, error, disconnect: Reason.KeepAliveTimeout });
  }

  // ---------------------------------------------------------------- closing

  /**
   * Closes this connection for bad input: counts it, sends an MQTT 5 DISCONNECT with
   * `reason` when CONNECT succeeded [MQTT-3.14.0-1], and closes only this connection.
   */
  fail(error: MeshError, reason: ReasonCode): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    this.#countProtocolError(error);
    this.#close({ reason: error.message, error, disconnect: reason });
  }

  /** Server-initiated close (takeover, shutdown): MQTT 5 clients get DISCONNECT `reason` first. */
  disconnect(reason: ReasonCode, why: string): void {
    this.#close({ reason: why, disconnect: reason });
  }

  /** The client sent DISCONNECT (MQTT 5: with `reasonCode`). */
  clientDisconnected(reasonCode: number | undefined): void {
    const code = reasonCode ?? Reason.Success;
    this.#close({
      reason: this.#version === 5 ? `client disconnected (${describeReason(code)})` : 'client disconnected',
      normal: code === Reason.Success,
    });
  }

  /** Resolves once the stream has closed. */
  closed(): Promise<void> {
    if (this.#state === 'closed') return Promise.resolve();
    return new Promise((resolve) => this.#closedListeners.push(resolve));
  }

  /** Destroys the stream at once (end of a graceful shutdown's grace period). */
  destroy(): void {
    this.#close({ reason: 'shutdown grace period over', abort: true });
    this.#stream.destroy();
  }

  #internalError(error: unknown): void {
    this.context.logger.error({ err: error, clientId: this.#clientId }, 'mqtt connection handler failed');
    this.fail(new InternalError(messageOf(error), { cause: error }), Reason.UnspecifiedError);
  }

  #countProtocolError(error: MeshError): void {
    this.context.instruments.protocolErrors.add(1, { ...TIER, code: error.code });
  }

  #close(info: CloseInfo): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    const wasConnected = this.#state === 'connected';
    this.#state = 'closing';
    this.#closeInfo = info;
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#keepaliveTimer);
    if (info.disconnect !== undefined && wasConnected && this.#version === 5 && !info.abort) {
      this.#writeNow({ cmd: 'disconnect', reasonCode: info.disconnect });
    }
    this.#cleanUp(wasConnected, info);
    if (info.abort) {
      this.#stream.destroy();
    } else {
      // Keep reading (and ignoring) so the peer's close is seen and the stream can finish.
      if (this.#stream.isPaused()) this.#stream.resume();
      this.#stream.end();
      // A peer that never closes its side must not hold the socket open.
      this.#lingerTimer = setTimeout(() => this.#stream.destroy(), CLOSE_LINGER_MS);
      this.#lingerTimer.unref();
    }
  }

  /** Drops subscriptions and registrations, publishes the Will Message, logs and counts once. */
  #cleanUp(wasConnected: boolean, info: CloseInfo): void {
    for (const tap of this.#taps.values()) this.context.fanout.remove(tap.subject, tap);
    this.#taps.clear();
    this.#filters.clear();
    this.#queued = [];
    if (!wasConnected) {
      this.context.logger.debug({ reason: info.reason, code: info.error?.code }, 'connection closed before CONNECT');
      return;
    }
    this.context.release(this);
    this.context.instruments.connections.add(-1, this.#connectionAttributes());
    this.context.logger.info(
      {
        clientId: this.#clientId,
        version: PROTOCOL_VERSION_NAMES[this.#version!],
        reason: info.reason,
        ...(info.error && { code: info.error.code }),
        ...(info.disconnect !== undefined && this.#version === 5 && { reasonCode: describeReason(info.disconnect) }),
      },
      'client disconnected',
    );
    // [MQTT-3.1.2-8]: publish the Will unless the client disconnected normally.
    if (this.#will && !info.normal) this.#publishWill(this.#will);
    this.#will = undefined;
  }

  #publishWill(will: WillMessage): void {
    const publish = {
      topic: will.topic,
      qos: will.qos,
      retain: will.retain,
      clientId: this.#clientId,
      properties: will.properties,
    };
    try {
      const stored = ingest(this.context.backbone, this.context.settings.prefix, publish, will.payload);
      this.context.instruments.messagesIn.add(1, { ...TIER, qos: will.qos });
      this.context.instruments.bytesIn.add(will.payload.length, TIER);
      if (stored) {
        this.context.track(
          stored.catch((error: unknown) =>
            this.context.logger.warn({ err: error, clientId: this.#clientId }, 'will message not stored'),
          ),
        );
      }
    } catch (error) {
      this.context.logger.warn({ err: error, clientId: this.#clientId }, 'will message not published');
    }
  }

  #connectionAttributes() {
    return { ...TIER, protocol: 'mqtt', version: PROTOCOL_VERSION_NAMES[this.#version ?? 4] };
  }

  // ---------------------------------------------------------------- output

  /**
   * The one write path. `kind` says what to do when the client reads too slowly: over
   * `maxBufferedBytes` waiting to be sent, a QoS 0 delivery is dropped and anything else
   * closes the client. Deliveries over the client's Maximum Packet Size are dropped
   * [MQTT-3.1.2-25]. Returns false when nothing was written.
   */
  send(packet: Packet, kind: 'control' | 'qos0' | 'qos1' = 'control'): boolean {
    if (this.#state === 'closing' || this.#state === 'closed') return false;
    const buffered = this.#stream.writableLength;
    if (buffered > this.context.settings.maxBufferedBytes) {
      if (kind === 'qos0') {
        this.#drop('backpressure');
        return false;
      }
      this.context.instruments.slowClients.add(1, TIER);
      const error = new SlowClientError(buffered, this.context.settings.maxBufferedBytes);
      this.#close({ reason: error.message, error, abort: true });
      return false;
    }
    let bytes: Buffer;
    try {
      bytes = generate(packet, this.#generateOptions);
    } catch (error) {
      this.context.logger.warn({ err: error, clientId: this.#clientId, cmd: packet.cmd }, 'mqtt packet not encodable');
      return false;
    }
    if (kind !== 'control' && this.#clientMaxPacketSize !== undefined && bytes.length > this.#clientMaxPacketSize) {
      this.#drop('too-large');
      return false;
    }
    this.#stream.write(bytes);
    return true;
  }

  /** Writes without the backpressure policy (the last packet before closing). */
  #writeNow(packet: Packet): void {
    try {
      this.#stream.write(generate(packet, this.#generateOptions));
    } catch (error) {
      this.context.logger.debug({ err: error, clientId: this.#clientId }, 'final packet not written');
    }
  }

  #drop(reason: DropReason): void {
    this.context.instruments.dropped.add(1, { ...TIER, reason });
  }

  // ---------------------------------------------------------------- inbound acknowledgements

  /**
   * Queues the acknowledgement of an inbound QoS 1/2 PUBLISH. Stores run concurrently, but
   * acknowledgements leave in the order the PUBLISH packets arrived [MQTT-4.6.0-2]
   * [MQTT-4.6.0-3], each only once its store settled. Reading pauses while too many stores
   * are pending, which pushes back on the client through TCP.
   */
  acknowledgeInOrder(outcome: Promise<AckOutcome>): void {
    this.#pendingAcks += 1;
    if (this.#pendingAcks >= this.context.settings.maxPendingStores && !this.#flowPaused) {
      this.#flowPaused = true;
      this.#updateFlow();
    }
    this.#ackTail = this.#ackTail
      .then(() => outcome)
      .then(
        (result) => {
          this.#pendingAcks -= 1;
          if (this.#flowPaused && this.#pendingAcks <= this.context.settings.maxPendingStores / 2) {
            this.#flowPaused = false;
            this.#updateFlow();
          }
          if (!result || this.#state !== 'connected') return;
          if ('send' in result) this.send(result.send);
          else this.fail(result.fail, result.reason);
        },
        (error: unknown) => {
          this.#pendingAcks -= 1;
          this.#internalError(error);
        },
      );
  }

  /** Resolves when every acknowledgement queued so far has been handled. */
  drained(): Promise<void> {
    return this.#ackTail;
  }

  // ---------------------------------------------------------------- subscriptions

  /**
   * Adds the subscription for `filter`, or replaces an identical one [MQTT-3.8.4-3]: its
   * options change, its subjects are the same.
   */
  subscribe(filter: string, subjects: readonly string[], options: SubscriptionOptions): void {
    const existing = this.#filters.get(filter);
    this.#filters.set(filter, { ...options, subjects: existing?.subjects ?? subjects });
    if (existing) return;
    for (const subject of subjects) {
      let tap = this.#taps.get(subject);
      if (!tap) {
        tap = { connection: this, subject, filters: new Set() };
        this.#taps.set(subject, tap);
        this.context.fanout.add(subject, tap);
      }
      tap.filters.add(filter);
    }
  }

  /** Removes the subscription for `filter`; false when there was none. */
  unsubscribe(filter: string): boolean {
    const entry = this.#filters.get(filter);
    if (!entry) return false;
    this.#filters.delete(filter);
    for (const subject of entry.subjects) {
      const tap = this.#taps.get(subject);
      if (!tap) continue;
      tap.filters.delete(filter);
      if (tap.filters.size === 0) {
        this.#taps.delete(subject);
        this.context.fanout.remove(subject, tap);
      }
    }
    return true;
  }

  // ---------------------------------------------------------------- outbound delivery

  /**
   * Delivers a backbone message that arrived through `tap`. With overlapping subscriptions
   * the message arrives once per matching subject; only the arrival through the smallest
   * matching subject is delivered, at the highest QoS granted by any matching subscription
   * [MQTT-3.3.5-1]. `publishedQos` is the QoS it was published with; delivery uses the lower
   * of that and the granted QoS.
   */
  deliver(
    tap: SubscriptionTap,
    message: BackboneMessage,
    topic: string,
    meta: MessageMeta,
    publishedQos: QoS,
    now: number,
  ): void {
    if (this.#state !== 'connected') return;
    const local = meta.originTier === 'mqtt' && meta.originClient === this.#clientId;
    let granted = -1;
    let retain = false;
    const consider = (candidate: SubscriptionTap) => {
      for (const filter of candidate.filters) {
        const options = this.#filters.get(filter);
        if (!options || (options.noLocal && local)) continue; // MQTT 5 No Local [MQTT-3.8.3-3]
        if (options.qos > granted) granted = options.qos;
        // [MQTT-3.3.1-12]: live deliveries carry RETAIN 0 unless Retain As Published is set.
        if (options.retainAsPublished && meta.retain) retain = true;
      }
    };
    if (this.#taps.size === 1) {
      consider(tap);
    } else {
      for (const other of this.#taps.values()) {
        if (other !== tap && !subjectMatches(other.subject, message.subject)) continue;
        if (other.subject < tap.subject) return; // that subscription delivers this message
        consider(other);
      }
    }
    if (granted < 0) return;
    const qos = Math.min(publishedQos, granted) as 0 | 1;
    const packet: IPublishPacket = {
      cmd: 'publish',
      topic,
      payload: Buffer.from(message.payload.buffer, message.payload.byteOffset, message.payload.byteLength),
      qos,
      retain,
      dup: false,
    };
    if (this.#version === 5) {
      const properties = publishPropertiesFromMeta(meta, now);
      if (properties) packet.properties = properties;
    }
    if (qos === 0) {
      if (this.send(packet, 'qos0')) this.#countOut(packet);
      return;
    }
    if (this.#inFlight.size >= this.#receiveMaximum) {
      // [MQTT-3.3.4-9]: never more unacknowledged QoS 1 deliveries than the client's Receive Maximum.
      if (this.#queued.length >= this.context.settings.maxQueuedDeliveries) this.#drop('in-flight-full');
      else this.#queued.push(packet);
      return;
    }
    this.#sendQos1(packet);
  }

  #sendQos1(packet: IPublishPacket): void {
    const id = this.#allocatePacketId();
    packet.messageId = id;
    this.#inFlight.add(id);
    if (this.send(packet, 'qos1')) this.#countOut(packet);
    else this.#inFlight.delete(id);
  }

  /** The next non-zero packet identifier not in use by an unacknowledged delivery [MQTT-2.2.1-4]. */
  #allocatePacketId(): number {
    for (;;) {
      const id = this.#nextPacketId;
      this.#nextPacketId = id === MAX_PACKET_ID ? 1 : id + 1;
      if (!this.#inFlight.has(id)) return id;
    }
  }

  #countOut(packet: IPublishPacket): void {
    this.context.instruments.messagesOut.add(1, { ...TIER, qos: packet.qos });
    this.context.instruments.bytesOut.add((packet.payload as Buffer).length, TIER);
  }

  /** PUBACK from the client: frees the identifier and sends a queued delivery, if any. */
  outboundAcknowledged(packetId: number): void {
    if (!this.#inFlight.delete(packetId)) return; // unknown identifiers are ignored
    while (this.#queued.length > 0 && this.#inFlight.size < this.#receiveMaximum && this.#state === 'connected') {
      this.#sendQos1(this.#queued.shift()!);
    }
  }

  /** Outbound QoS 1 deliveries awaiting PUBACK. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Why the connection closed, once it has. */
  get closeReason(): string | undefined {
    return this.#closeInfo?.reason;
  }
}

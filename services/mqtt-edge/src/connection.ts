import type { Duplex } from 'node:stream';
import type { Identity } from '@protomesh/auth';
import type { BackboneMessage, DeliveredMessage } from '@protomesh/backbone';
import type { MessageMeta } from '@protomesh/envelope';
import { type MeshError, messageOf } from '@protomesh/errors';
import { parseSharedSubscription, type QosClass } from '@protomesh/topic-map';
import {
  parser as createParser,
  generate,
  type IConnackPacket,
  type IPublishPacket,
  type Packet,
  type Parser,
} from 'mqtt-packet';
import type { BrokerContext, SubscriptionTap } from './context.js';
import { recordDeliveryLatency, type Span, startDelivery } from './delivery-telemetry.js';
import { dispatch } from './dispatch.js';
import {
  AuthenticationFailedError,
  ConnectTimeoutError,
  InternalError,
  KeepAliveTimeoutError,
  MalformedPacketError,
  NotAuthorizedError,
  PacketTooLargeError,
  ProtocolViolationError,
  SessionTakenOverError,
  SlowClientError,
} from './errors.js';
import { connectProtocolLevel, decodePublish, PacketFramer } from './framing.js';
import { AUTH_FAILURE, type DropReason } from './metrics.js';
import { MAX_PACKET_ID, Outbound, type Outgoing } from './outbound.js';
import { type PublishProperties, publishPropertiesFromMeta } from './properties.js';
import { encodePublish, type PublishCache } from './publish-encoder.js';
import {
  ConnectReturn,
  connectReturnFor,
  describeReason,
  PROTOCOL_VERSION_NAMES,
  Reason,
  type ReasonCode,
} from './reason-codes.js';
import type { MutableSessionRecord } from './session/record.js';
import type { Claim, SessionHandle } from './session/store.js';
import { type SubscriptionEntry, Subscriptions, toBuffer } from './subscriptions.js';
import type { HeldWill, WillMessage } from './will.js';

export type { SubscriptionOptions } from './subscriptions.js';
export type { WillMessage } from './will.js';

/** Where a connection is in its life. Packets are handled in `awaiting-connect` and `connected`, queued in `connecting`. */
export type ConnectionState = 'awaiting-connect' | 'connecting' | 'connected' | 'closing' | 'closed';

/** Protocol level: 3 = MQTT 3.1, 4 = 3.1.1, 5 = 5.0. */
export type ProtocolLevel = 3 | 4 | 5;

/** What the CONNECT handler decided for an accepted client. */
export interface AcceptedConnect {
  readonly version: ProtocolLevel;
  readonly clientId: string;
  /** Keep alive enforced, in seconds (0 = none). */
  readonly keepalive: number;
  readonly will: WillMessage | undefined;
  /** MQTT 5 Receive Maximum of the client: QoS 1/2 deliveries it accepts unacknowledged. */
  readonly receiveMaximum: number;
  /** MQTT 5 Maximum Packet Size of the client, in bytes (undefined = protocol limit). */
  readonly maximumPacketSize: number | undefined;
  /** MQTT 5 Topic Alias Maximum of the client: aliases the broker may use towards it. */
  readonly topicAliasMaximum: number;
  /** MQTT 5 Request Problem Information (reason strings and user properties on acknowledgements). */
  readonly problemInformation: boolean;
  /** Session Expiry Interval granted, in seconds (0 = the session ends with the connection). */
  readonly sessionExpiry: number;
  /** MQTT 5 Clean Start / 3.1.1 Clean Session. */
  readonly cleanStart: boolean;
  /** Properties of the CONNACK (MQTT 5 only). */
  readonly connackProperties: IConnackPacket['properties'];
  /** Authenticated user name, if any (for ACLs and logs). */
  readonly username?: string;
}

/**
 * What happens once an inbound QoS 1/2 PUBLISH has settled: an acknowledgement to send, or
 * a reason to close the connection (MQTT 3.1.1 has no negative acknowledgement).
 */
export type AckOutcome =
  | { readonly send: Packet; readonly done?: boolean }
  | { readonly fail: MeshError; readonly reason: ReasonCode }
  | undefined;

/** Why a connection ended, for the log line and the metrics. */
interface CloseInfo {
  readonly reason: string;
  /** MQTT 5 DISCONNECT reason code to send first (only after a successful CONNACK). */
  readonly disconnect?: ReasonCode;
  /** The client sent DISCONNECT with reason 0x00: its Will Message is discarded [MQTT-3.1.2-10]. */
  readonly normal?: boolean;
  /** Taken over by a newer connection; `clean` = it started a new session. */
  readonly takenOver?: { readonly clean: boolean };
  readonly error?: MeshError;
  /** Destroy at once instead of flushing (the client is not reading). */
  readonly abort?: boolean;
}

/** How long a closing connection may linger for the peer to read the last bytes, in milliseconds. */
const CLOSE_LINGER_MS = 2_000;
const TIER = { tier: 'mqtt' } as const;
/** Attributes of the redelivery counter (docs/telemetry.md), one frozen object each. */
const SESSION_REDELIVERY = Object.freeze({ tier: 'mqtt', consumer: 'session' });
const SHARED_REDELIVERY = Object.freeze({ tier: 'mqtt', consumer: 'shared' });
/** mqtt-packet encoder options by protocol level, shared by the connections without a Maximum Packet Size. */
const GENERATE_OPTIONS = {
  3: Object.freeze({ protocolVersion: 3 }),
  4: Object.freeze({ protocolVersion: 4 }),
  5: Object.freeze({ protocolVersion: 5 }),
} as const;
/** A settled promise to start the acknowledgement and subscription chains from (shared, not one per connection). */
const RESOLVED: Promise<void> = Promise.resolve();
/** Control packet type of CONNECT (MQTT 5 §2.1.2). */
const CONNECT_TYPE = 1;
/** Control packet type of PUBLISH (MQTT 5 §2.1.2). */
const PUBLISH_TYPE = 3;
/** First byte of a PUBACK: type 4, reserved flags 0 [MQTT-2.2.2-1]. */
const PUBACK_BYTE = 0x40;

/**
 * One client connection over any Duplex stream (TCP socket, TLS socket, WebSocket stream):
 * framing and parsing, the connection state that the dispatcher enforces, the session it
 * owns, its subscriptions, the QoS flows in both directions and the one write path. Packet
 * handlers (`handlers/`) drive it through its public methods.
 */
export class Connection {
  readonly context: BrokerContext;
  /** Serial number on this replica (with the replica id, identifies the connection mesh-wide). */
  readonly serial: number;
  /** Client address: the socket's, or from PROXY protocol / X-Forwarded-For. */
  readonly remoteAddress: string | undefined;
  readonly #stream: Duplex;
  readonly #framer: PacketFramer;
  /**
   * mqtt-packet's parser, for CONNECT and the packets the PUBLISH fast path does not decode;
   * dropped once connected and made again on demand, so an idle connection holds none.
   */
  #parser: Parser | undefined;
  #state: ConnectionState = 'awaiting-connect';
  #sawInput = false;
  #version: ProtocolLevel | undefined;
  #clientId = '';
  #username: string | undefined;
  #will: WillMessage | undefined;
  /** The Will as kept in the store while connected (will.ts). */
  #heldWill: Promise<HeldWill | undefined> | undefined;
  #clientMaxPacketSize: number | undefined;
  #generateOptions: { readonly protocolVersion: number; readonly maximumPacketSize?: number } = GENERATE_OPTIONS[4];
  #problemInformation = true;
  #sessionExpiry = 0;
  /** The stored session was resumed (CONNACK Session Present 1). */
  #resumed = false;
  /** When CONNECT was accepted, epoch ms (orders takeovers). */
  connectedAt = 0;

  #connectTimer: NodeJS.Timeout | undefined;
  /** Keep alive enforced, in seconds (0 = none); checked by the broker's shared sweep. */
  #keepalive = 0;
  /** A packet arrived since the last keep-alive sweep. */
  #active = false;
  /** Time without a packet, in milliseconds, as counted by the sweeps. */
  #idleMs = 0;
  #lingerTimer: NodeJS.Timeout | undefined;
  #closeInfo: CloseInfo | undefined;
  #closedListeners: Array<() => void> | undefined;
  /** Packets received while the CONNECT is being decided (clients need not wait for CONNACK). */
  #early: Packet[] | undefined;
  /** Bad input seen while the CONNECT was being decided: answered after CONNACK, in order. */
  #earlyFailure: { readonly error: MeshError; readonly reason: ReasonCode } | undefined;
  /** Resolves once the connection's session is handed back after closing. */
  #detached: Promise<void> | undefined;

  /** Who the client is, for ACL checks (set once authenticated). */
  identity: Identity = { clientId: '' };
  /** The stored session, when the session outlives the connection or a record existed. */
  session: SessionHandle | undefined;
  #subscriptions: Subscriptions | undefined;
  #outbound: Outbound | undefined;
  #receiveMaximum = MAX_PACKET_ID;
  /** Inbound QoS 2 packet identifiers awaiting PUBREL, with the outcome of their store. */
  #inboundQos2: Map<number, Promise<AckOutcome>> | undefined;
  /** Inbound QoS 1/2 PUBLISH packets not yet fully acknowledged (our Receive Maximum). */
  inboundUnacknowledged = 0;
  /** MQTT 5 topic aliases the client set (alias → topic). */
  #topicAliasesIn: Map<number, string> | undefined;
  /** Topic aliases this broker assigned towards the client (topic → alias). */
  #topicAliasesOut: Map<string, number> | undefined;
  #topicAliasMaximumOut = 0;

  #ackTail: Promise<void> = RESOLVED;
  /** The stream is corked until the end of the current tick (see {@link #write}). */
  #corked = false;
  #pendingAcks = 0;
  /** Subscription changes run one at a time, in packet order. */
  #serialTail: Promise<void> = RESOLVED;
  /** Reading paused because too many stores are pending (flow control). */
  #flowPaused = false;
  /** Reading stopped for a graceful shutdown. */
  #shutdownPaused = false;

  constructor(context: BrokerContext, stream: Duplex, remoteAddress?: string) {
    this.context = context;
    this.serial = context.nextSerial();
    this.remoteAddress = remoteAddress;
    this.#stream = stream;
    this.#framer = new PacketFramer(context.settings.maxPacketSize);
    this.#parser = this.#newParser();
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

  #clearConnectTimer(): void {
    clearTimeout(this.#connectTimer);
    this.#connectTimer = undefined;
  }

  /** Calls `listener` once the stream has closed (no promise: one per connection adds up). */
  onClose(listener: () => void): void {
    if (this.#state === 'closed') listener();
    else this.#onClosed(listener);
  }

  #newParser(): Parser {
    const parser = createParser(this.#version === undefined ? {} : { protocolVersion: this.#version });
    parser.on('packet', this.#onPacket);
    parser.on('error', this.#onParseError);
    return parser;
  }

  /** The outbound QoS flows, made on first use (an idle connection has none). */
  get outbound(): Outbound {
    if (this.#outbound === undefined) {
      this.#outbound = new Outbound({
        maxQueued: this.context.settings.maxQueuedDeliveries,
        sendPublish: (message, id, dup) => this.#sendPublish(message, id, dup),
        sendPubrel: (id, reasonCode) => this.send(this.#ack('pubrel', id, reasonCode)),
        updateSession: (mutate) => this.updateSession(mutate),
        dropped: (reason) => this.#drop(reason),
        failed: (error) => this.#sessionWriteFailed(error),
      });
      this.#outbound.receiveMaximum = this.#receiveMaximum;
    }
    return this.#outbound;
  }

  /** The subscriptions, made on first use (an idle connection has none). */
  get subscriptions(): Subscriptions {
    if (this.#subscriptions === undefined) {
      const context = this.context;
      this.#subscriptions = new Subscriptions(
        {
          clientId: () => this.#clientId,
          prefix: context.settings.prefix,
          stem: context.stem,
          streamName: context.layout.streams.mqtt.name,
          // A resumed session keeps using its consumers even if this connection ends it (expiry 0).
          persistentGen: () => (this.#sessionExpiry > 0 || this.#resumed ? this.session?.record.gen : undefined),
          addTap: (subject, tap) => context.fanout.add(subject, tap),
          removeTap: (subject, tap) => context.fanout.remove(subject, tap),
          createConsumers: (onMessage) => context.createConsumers(onMessage),
          streamNextSeq: () => context.streamNextSeq(),
          joinShared: (entry) => context.shared.join(entry.filter, entry.share!.group, entry.share!.filter, this),
          leaveShared: (entry, forget) =>
            context.shared.leave(entry.filter, entry.share!.group, entry.share!.filter, this, forget),
          updateSession: (mutate) => this.updateSession(mutate),
          deleteConsumer: (durable) => context.deleteConsumer(durable),
          enqueue: (message) => this.enqueue(message),
          isConnected: () => this.#state === 'connected',
        },
        this,
      );
    }
    return this.#subscriptions;
  }

  /** Inbound QoS 2 packet identifiers awaiting PUBREL, with the outcome of their store. */
  get inboundQos2(): Map<number, Promise<AckOutcome>> {
    this.#inboundQos2 ??= new Map();
    return this.#inboundQos2;
  }

  /** MQTT 5 topic aliases the client set (alias → topic). */
  get topicAliasesIn(): Map<number, string> {
    this.#topicAliasesIn ??= new Map();
    return this.#topicAliasesIn;
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

  /** The authenticated user name, if any. */
  get username(): string | undefined {
    return this.#username;
  }

  /** Topic filters this connection is subscribed to. */
  get filters(): ReadonlyMap<string, SubscriptionEntry> {
    return this.subscriptions.entries;
  }

  /** Inbound QoS 1/2 messages whose store has not settled yet. */
  get pendingStores(): number {
    return this.#pendingAcks;
  }

  /** MQTT 5 Request Problem Information: reason strings may be sent on acknowledgements [MQTT-3.1.2-29]. */
  get problemInformation(): boolean {
    return this.#problemInformation;
  }

  /** True when the session outlives the connection (persistent session). */
  get persistent(): boolean {
    return this.#sessionExpiry > 0 && this.session !== undefined;
  }

  /** Session Expiry Interval in force, in seconds. */
  get sessionExpiry(): number {
    return this.#sessionExpiry;
  }

  /** An MQTT 5 DISCONNECT may change the Session Expiry Interval [MQTT-3.14.2-2 checked by the caller]. */
  set sessionExpiry(seconds: number) {
    this.#sessionExpiry = seconds;
  }

  // ---------------------------------------------------------------- input

  #onData = (chunk: Buffer): void => {
    if (this.#state === 'closing' || this.#state === 'closed' || this.#earlyFailure) return;
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

  #isOpen(): boolean {
    return this.#state === 'awaiting-connect' || this.#state === 'connecting' || this.#state === 'connected';
  }

  #onPacketBytes = (bytes: Buffer): boolean => {
    if (this.#state === 'awaiting-connect' && bytes[0]! >> 4 === CONNECT_TYPE) {
      const level = connectProtocolLevel(bytes);
      // mqtt-packet treats an unknown level as a parse error; MQTT wants a refusal [MQTT-3.1.2-2].
      if (level !== undefined && ![3, 4, 5].includes(level & 0x7f)) {
        this.#refuseProtocolLevel(level);
        return false;
      }
    }
    if (bytes[0] === PUBACK_BYTE && bytes.length === 4 && this.#state === 'connected') {
      // PUBACK without reason code or properties (every 3.1.1 one, most MQTT 5 ones): the
      // hot path of QoS 1 delivery, decoded here (MQTT 5 §3.4.2.1: no reason code = 0x00).
      const packet: Packet = { cmd: 'puback', messageId: bytes.readUInt16BE(2) };
      if (this.#version === 5) (packet as { reasonCode?: number }).reasonCode = 0;
      this.#onPacket(packet);
      return this.#isOpen();
    }
    if (bytes[0]! >> 4 === PUBLISH_TYPE && this.#state === 'connected') {
      const decoded = decodePublish(bytes, this.#version === 5);
      if (typeof decoded === 'string') {
        this.#onParseError(new Error(decoded));
        return false;
      }
      if (decoded !== undefined) {
        this.#onPacket(decoded);
        return this.#isOpen();
      }
    }
    this.#parser ??= this.#newParser();
    this.#parser.parse(bytes);
    return this.#isOpen() && this.#earlyFailure === undefined;
  };

  #onPacket = (packet: Packet): void => {
    if (!this.#isOpen()) return;
    // Any packet counts as activity for the keep alive [MQTT-3.1.2-22] / [MQTT-3.1.2-24] (v3.1.1).
    this.#active = true;
    if (this.#state === 'connecting') {
      if (this.#earlyFailure === undefined) {
        this.#early ??= [];
        this.#early.push(packet);
      }
      return;
    }
    try {
      dispatch(this, packet);
    } catch (error) {
      this.#internalError(error);
    }
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
    this.#closedListeners = undefined;
    for (const listener of listeners ?? []) listener();
  };

  /** Stops reading for good (graceful shutdown); packets already received are still handled. */
  stopReading(): void {
    this.#shutdownPaused = true;
    this.#updateFlow();
  }

  /** Pauses reading while too many stores are pending, while connecting, or after `stopReading`. */
  #updateFlow(): void {
    if (!this.#isOpen()) return;
    const pause = this.#flowPaused || this.#shutdownPaused || this.#state === 'connecting';
    if (pause && !this.#stream.isPaused()) this.#stream.pause();
    else if (!pause && this.#stream.isPaused()) this.#stream.resume();
  }

  /** Runs subscription changes one at a time, in the order their packets arrived. */
  serially(work: () => Promise<void>): void {
    const next = this.#serialTail.then(async () => {
      if (this.#state !== 'connected') return;
      try {
        await work();
      } catch (error) {
        if (this.#state === 'connected') this.#sessionWriteFailed(error);
      }
    });
    this.#serialTail = next;
  }

  // ---------------------------------------------------------------- connect

  /**
   * The CONNECT is valid: packets that follow are queued until the session is claimed
   * (possibly from another replica) and CONNACK is out.
   */
  beginConnect(accepted: AcceptedConnect, decide: Promise<Claim>): void {
    this.#clearConnectTimer();
    this.#state = 'connecting';
    this.#version = accepted.version;
    this.#clientId = accepted.clientId;
    this.#username = accepted.username;
    this.#generateOptions = GENERATE_OPTIONS[accepted.version];
    this.connectedAt = Date.now();
    this.#updateFlow();
    decide.then(
      (claim) => this.#accept(accepted, claim),
      (error: unknown) => {
        if (this.#state !== 'connecting') return;
        if (AuthenticationFailedError.is(error)) {
          this.#countProtocolError(error);
          this.context.instruments.authFailures.add(1, AUTH_FAILURE.badCredentials);
          this.refuse(accepted.version, Reason.BadUserNameOrPassword, error.message, 'bad user name or password');
        } else if (NotAuthorizedError.is(error)) {
          this.#countProtocolError(error);
          this.context.instruments.authFailures.add(1, AUTH_FAILURE.notAuthorized);
          this.refuse(accepted.version, Reason.NotAuthorized, error.message, 'not authorized');
        } else {
          this.context.logger.warn({ err: error, clientId: accepted.clientId }, 'session not claimed');
          this.refuse(accepted.version, Reason.ServerUnavailable, `session store unavailable: ${messageOf(error)}`);
        }
      },
    );
  }

  /** Completes a CONNECT: CONNACK, the resumed session's state, then the queued packets. */
  #accept(accepted: AcceptedConnect, claim: Claim): void {
    this.session = claim.handle;
    if (this.#state !== 'connecting') {
      // The client left while its session was being claimed: hand the session back.
      this.#sessionExpiry = accepted.sessionExpiry;
      this.#detached ??= this.#detach({ reason: 'closed while connecting' }, true);
      return;
    }
    this.#will = accepted.will;
    this.#sessionExpiry = accepted.sessionExpiry;
    if (accepted.will) {
      // Kept in the store while connected, so another replica publishes it if this one dies.
      const delay = accepted.sessionExpiry > 0 ? Math.min(accepted.will.delay, accepted.sessionExpiry) : 0;
      this.#heldWill = this.context.wills.hold(this.context.node, this.#clientId, accepted.will, delay * 1000);
    }
    this.#problemInformation = accepted.problemInformation;
    this.#receiveMaximum = accepted.receiveMaximum;
    if (this.#outbound) this.#outbound.receiveMaximum = accepted.receiveMaximum;
    this.#clientMaxPacketSize = accepted.maximumPacketSize;
    this.#topicAliasMaximumOut = accepted.topicAliasMaximum;
    this.#generateOptions =
      accepted.maximumPacketSize === undefined
        ? GENERATE_OPTIONS[accepted.version]
        : { protocolVersion: accepted.version, maximumPacketSize: accepted.maximumPacketSize };
    this.#state = 'connected';
    this.context.register(this);
    const sessionPresent = claim.resumed;
    this.#resumed = claim.resumed;
    const connack: IConnackPacket =
      accepted.version === 5
        ? { cmd: 'connack', sessionPresent, reasonCode: Reason.Success, properties: accepted.connackProperties }
        : { cmd: 'connack', sessionPresent, returnCode: ConnectReturn.Accepted };
    this.send(connack);
    if (accepted.keepalive > 0) {
      // [MQTT-3.1.2-22] / [MQTT-3.1.2-24] (v3.1.1): one and a half keep-alive periods.
      this.#keepalive = accepted.keepalive;
    }
    this.context.instruments.connections.add(1, this.#connectionAttributes());
    this.context.logger.info(
      {
        clientId: this.#clientId,
        version: PROTOCOL_VERSION_NAMES[accepted.version],
        keepalive: accepted.keepalive,
        sessionPresent,
        ...(this.remoteAddress !== undefined && { remote: this.remoteAddress }),
      },
      'client connected',
    );
    const record = claim.resumed ? claim.handle?.record : undefined;
    if (record) {
      // [MQTT-4.4.0-1]: PUBREL again for every QoS 2 delivery the client had received.
      this.outbound.resume(record.out2);
      this.serially(() => this.subscriptions.restore(record.subs, parseShareQuietly));
    }
    const early = this.#early ?? [];
    this.#early = undefined;
    for (const packet of early) {
      if (this.#state !== 'connected') break;
      this.#onPacket(packet);
    }
    // The parser was for CONNECT: later packets mostly take the PUBLISH fast path.
    this.#parser = undefined;
    const failure = this.#earlyFailure;
    if (failure) {
      // The packets before it were handled; now the bad input closes the connection.
      this.#earlyFailure = undefined;
      this.fail(failure.error, failure.reason);
      return;
    }
    this.#updateFlow();
  }

  /** Refuses a CONNECT with a CONNACK carrying `reason` (mapped to a 3.1.1 return code), then closes. */
  refuse(version: ProtocolLevel, reason: ReasonCode, detail: string, reasonString?: string): void {
    this.#clearConnectTimer();
    const connack: IConnackPacket =
      version === 5
        ? {
            cmd: 'connack',
            sessionPresent: false,
            reasonCode: reason,
            ...(reasonString !== undefined && { properties: { reasonString } }),
          }
        : { cmd: 'connack', sessionPresent: false, returnCode: connectReturnFor(reason) };
    this.#generateOptions = GENERATE_OPTIONS[version];
    this.#writeNow(connack);
    this.context.logger.info({ version: PROTOCOL_VERSION_NAMES[version], reason: detail }, 'connection refused');
    this.#close({ reason: `refused: ${detail}` });
  }

  /** A CONNECT with a protocol level this broker does not speak [MQTT-3.1.2-2]. */
  #refuseProtocolLevel(level: number): void {
    this.#clearConnectTimer();
    // A newer client reads MQTT 5 CONNACKs (reason 0x84); an older one the 3.1.1 form (0x01).
    const bytes =
      (level & 0x7f) > 5
        ? Buffer.from([0x20, 0x03, 0x00, Reason.UnsupportedProtocolVersion, 0x00])
        : Buffer.from([0x20, 0x02, 0x00, ConnectReturn.UnacceptableProtocolVersion]);
    this.#stream.write(bytes);
    this.context.logger.info({ level }, 'connection refused: unsupported protocol level');
    this.#close({ reason: `unsupported protocol level ${level}` });
  }

  /**
   * One tick of the broker's keep-alive sweep (one timer for every connection instead of one
   * each): closes the connection after one and a half keep-alive periods without a packet
   * [MQTT-3.1.2-22] / [MQTT-3.1.2-24] (v3.1.1), to within one tick of `tickMs`.
   */
  sweepKeepalive(tickMs: number): void {
    if (this.#keepalive === 0 || this.#state !== 'connected') return;
    if (this.#active) {
      this.#active = false;
      this.#idleMs = 0;
      return;
    }
    this.#idleMs += tickMs;
    if (this.#idleMs >= this.#keepalive * 1500) this.#keepaliveExpired(this.#keepalive);
  }

  #keepaliveExpired(seconds: number): void {
    const error = new KeepAliveTimeoutError(seconds);
    this.#countProtocolError(error);
    this.#close({ reason: error.message, error, disconnect: Reason.KeepAliveTimeout });
  }

  // ---------------------------------------------------------------- session

  /** Stores a change to the session record (no-op for a session that ends with the connection). */
  updateSession(mutate: (record: MutableSessionRecord) => void): Promise<void> {
    if (!this.session || (this.#sessionExpiry === 0 && !this.#resumed)) return Promise.resolve();
    return this.session.update(mutate);
  }

  /** A session write failed: lost to a newer connection (0x8E), or the store is unavailable. */
  #sessionWriteFailed(error: unknown): void {
    if (SessionTakenOverError.is(error)) {
      this.#close({ reason: error.message, disconnect: Reason.SessionTakenOver, takenOver: { clean: false } });
      return;
    }
    this.context.logger.warn({ err: error, clientId: this.#clientId }, 'session state not stored');
    this.#close({ reason: `session state not stored: ${messageOf(error)}`, disconnect: Reason.UnspecifiedError });
  }

  /** Another connection claimed this session (found by a failed compare-and-set). */
  sessionLost(): void {
    if (this.#state === 'connected') {
      this.#close({ reason: 'session taken over', disconnect: Reason.SessionTakenOver, takenOver: { clean: false } });
    }
  }

  /** A newer connection with the same client id, on any replica [MQTT-3.1.4-3]. */
  takeOver(clean: boolean): Promise<void> {
    this.#close({
      reason: 'session taken over by a new connection',
      disconnect: Reason.SessionTakenOver,
      takenOver: { clean },
    });
    return this.detached();
  }

  /** Resolves once the connection is closed and its session handed back (consumers stopped, record released). */
  detached(): Promise<void> {
    if (this.#detached) return this.#detached;
    return new Promise((resolve) => {
      this.#onClosed(() => void (this.#detached ?? Promise.resolve()).then(resolve));
    });
  }

  // ---------------------------------------------------------------- closing

  /**
   * Closes this connection for bad input: counts it, sends an MQTT 5 DISCONNECT with
   * `reason` when CONNECT succeeded [MQTT-3.14.0-1], and closes only this connection.
   */
  fail(error: MeshError, reason: ReasonCode): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    if (this.#state === 'connecting') {
      // [MQTT-3.1.4-?] CONNECT is answered first; the bad input after it closes the
      // connection once CONNACK is out (or with the refusal).
      this.#earlyFailure ??= { error, reason };
      return;
    }
    this.#countProtocolError(error);
    this.#close({ reason: error.message, error, disconnect: reason });
  }

  /** Server-initiated close (shutdown, administrative): MQTT 5 clients get DISCONNECT `reason` first. */
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
    return new Promise((resolve) => this.#onClosed(resolve));
  }

  #onClosed(listener: () => void): void {
    this.#closedListeners ??= [];
    this.#closedListeners.push(listener);
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
    this.#clearConnectTimer();
    this.#keepalive = 0;
    if (info.disconnect !== undefined && wasConnected && this.#version === 5 && !info.abort) {
      this.#writeNow({
        cmd: 'disconnect',
        reasonCode: info.disconnect,
        // DISCONNECT may carry a reason string whatever Request Problem Information says [MQTT-3.1.2-29].
        ...(info.disconnect !== Reason.Success && { properties: { reasonString: info.reason.slice(0, 200) } }),
      });
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

  /** Drops subscriptions and registrations, hands the session back, handles the Will, logs and counts once. */
  #cleanUp(wasConnected: boolean, info: CloseInfo): void {
    this.#early = undefined;
    this.#outbound?.close();
    if (!wasConnected) {
      this.context.logger.debug({ reason: info.reason, code: info.error?.code }, 'connection closed before CONNACK');
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
    this.#detached = this.#detach(info, false);
    this.context.track(this.#detached);
  }

  /**
   * Hands the session back after the connection ended: stops its consumers (unacknowledged
   * messages were returned by `outbound.close()`), releases or deletes the record, and
   * publishes or stores the Will [MQTT-3.1.2-8] [MQTT-3.1.3-9].
   */
  async #detach(info: CloseInfo, beforeConnack: boolean): Promise<void> {
    const session = this.session;
    const expiry = this.#sessionExpiry;
    const continues = expiry > 0 && session !== undefined && !session.lost;
    const takenOver = info.takenOver !== undefined || session?.lost === true;
    try {
      if (this.#subscriptions)
        await this.#subscriptions.detach(continues || (takenOver && info.takenOver?.clean !== true));
      if (session && !takenOver) {
        const final = await session.release(expiry, Date.now());
        if (final && expiry === 0) await this.context.discardSession(final, this.#clientId);
      }
    } catch (error) {
      this.context.logger.warn({ err: error, clientId: this.#clientId }, 'session not handed back cleanly');
    }
    if (beforeConnack) return;
    const will = this.#will;
    this.#will = undefined;
    if (this.#heldWill) {
      // This replica handles the Will now (below): the held copy is no longer needed.
      this.context.track(this.context.wills.release(this.#heldWill));
      this.#heldWill = undefined;
    }
    // [MQTT-3.1.2-8] [MQTT-3.1.2-10]: no Will after DISCONNECT 0x00.
    if (!will || info.normal) return;
    if (info.takenOver && !info.takenOver.clean && will.delay > 0) return; // the session continues elsewhere
    if (will.delay > 0 && continues && !takenOver) {
      // MQTT 5 §3.1.2.5: at the earlier of the Will Delay Interval and the end of the session.
      const dueAt = Date.now() + Math.min(will.delay, expiry) * 1000;
      try {
        await this.context.wills.schedule(this.#clientId, will, dueAt);
        return;
      } catch (error) {
        this.context.logger.warn({ err: error, clientId: this.#clientId }, 'delayed will not stored: publishing now');
      }
    }
    this.context.wills.publishNow(this.#clientId, will);
  }

  #connectionAttributes() {
    return { ...TIER, protocol: 'mqtt', version: PROTOCOL_VERSION_NAMES[this.#version ?? 4] };
  }

  // ---------------------------------------------------------------- output

  /**
   * The one write path. `kind` says what to do when the client reads too slowly: over
   * `maxBufferedBytes` waiting to be sent, a QoS 0 delivery is dropped and anything else
   * closes the client. Returns false when nothing was written.
   */
  send(packet: Packet, kind: 'control' | 'qos0' | 'qos1' = 'control'): boolean {
    if (this.#state !== 'connected') return false;
    const buffered = this.#stream.writableLength;
    if (buffered > this.context.settings.maxBufferedBytes) {
      if (kind === 'qos0') {
        this.#drop('backpressure');
        return false;
      }
      this.context.instruments.slowClients.add(1, TIER);
      this.context.instruments.slowConsumersDropped.add(1, TIER);
      const error = new SlowClientError(buffered, this.context.settings.maxBufferedBytes);
      this.#close({ reason: error.message, error, abort: true });
      return false;
    }
    let bytes: Buffer;
    try {
      bytes = shortAck(packet) ?? generate(packet, this.#generateOptions);
    } catch (error) {
      this.context.logger.warn({ err: error, clientId: this.#clientId, cmd: packet.cmd }, 'mqtt packet not encodable');
      return false;
    }
    this.#write(bytes);
    return true;
  }

  /** An acknowledgement packet for `id`; MQTT 5 carries the reason code (and a reason string when allowed). */
  #ack(
    cmd: 'puback' | 'pubrec' | 'pubrel' | 'pubcomp',
    id: number,
    reasonCode?: number,
    reasonString?: string,
  ): Packet {
    if (this.#version !== 5) return { cmd, messageId: id };
    return {
      cmd,
      messageId: id,
      reasonCode: reasonCode ?? Reason.Success,
      ...(reasonString !== undefined && this.#problemInformation && { properties: { reasonString } }),
    } as Packet;
  }

  /** An acknowledgement for handlers (see {@link #ack}). */
  ack(cmd: 'puback' | 'pubrec' | 'pubrel' | 'pubcomp', id: number, reasonCode?: number, reasonString?: string): Packet {
    return this.#ack(cmd, id, reasonCode, reasonString);
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

  /**
   * Sends one PUBLISH: MQTT 5 properties (what is left of the Message Expiry Interval, the
   * Subscription Identifiers, a topic alias when the client allows them), never over the
   * client's Maximum Packet Size [MQTT-3.1.2-25].
   */
  #sendPublish(message: Outgoing, id: number | undefined, dup: boolean): 'sent' | 'dropped' | 'closed' {
    if (this.#state !== 'connected') return 'closed';
    let bytes: Buffer | undefined;
    let properties: PublishProperties | undefined;
    if (this.#version === 5) {
      const now = Date.now();
      if (message.meta.expiresAt !== undefined && message.meta.expiresAt <= now) {
        this.#drop('expired'); // [MQTT-3.3.2-5]
        return 'dropped';
      }
      properties = publishPropertiesFromMeta(message.meta, now);
      if (message.subscriptionIds) {
        properties ??= {};
        properties.subscriptionIdentifier =
          message.subscriptionIds.length === 1 ? message.subscriptionIds[0]! : [...message.subscriptionIds];
      }
    }
    let topic = message.topic;
    if (this.#version === 5 && this.#topicAliasMaximumOut > 0) {
      this.#topicAliasesOut ??= new Map();
      const alias = this.#topicAliasesOut.get(message.topic);
      if (alias !== undefined) {
        topic = '';
        properties ??= {};
        properties.topicAlias = alias;
      } else if (this.#topicAliasesOut.size < this.#topicAliasMaximumOut) {
        // MQTT 5 §3.3.2.3.4: the first PUBLISH on a topic sets the alias, later ones use it.
        const assigned = this.#topicAliasesOut.size + 1;
        this.#topicAliasesOut.set(message.topic, assigned);
        properties ??= {};
        properties.topicAlias = assigned;
      }
    }
    if (properties === undefined) {
      // No properties: the bytes are the same for every recipient with this version, QoS
      // and RETAIN, so they are encoded once per backbone message (identifier patched in).
      const v5 = this.#version === 5;
      bytes = message.cache
        ? message.cache.packet(topic, message.payload, message.qos, message.retain, dup, v5, id)
        : encodePublish(topic, message.payload, message.qos, message.retain, dup, v5, id ?? 0)?.bytes;
      if (bytes === undefined) {
        this.context.logger.warn({ clientId: this.#clientId }, 'publish not encodable');
        return 'dropped';
      }
    } else {
      const packet: IPublishPacket = {
        cmd: 'publish',
        topic,
        payload: message.payload,
        qos: message.qos,
        retain: message.retain,
        dup,
        properties,
      };
      if (id !== undefined) packet.messageId = id;
      try {
        bytes = generate(packet, this.#generateOptions);
      } catch (error) {
        this.context.logger.warn({ err: error, clientId: this.#clientId }, 'publish not encodable');
        return 'dropped';
      }
    }
    if (this.#clientMaxPacketSize !== undefined && bytes.length > this.#clientMaxPacketSize) {
      this.#drop('too-large');
      return 'dropped';
    }
    const buffered = this.#stream.writableLength;
    if (buffered > this.context.settings.maxBufferedBytes) {
      if (message.qos === 0) {
        this.#drop('backpressure');
        return 'dropped';
      }
      this.context.instruments.slowClients.add(1, TIER);
      this.context.instruments.slowConsumersDropped.add(1, TIER);
      const error = new SlowClientError(buffered, this.context.settings.maxBufferedBytes);
      this.#close({ reason: error.message, error, abort: true });
      return 'closed';
    }
    this.#write(bytes);
    this.context.counts.out(message.qos, message.payload.length);
    return 'sent';
  }

  /**
   * Writes `bytes`, corked until the end of this tick: every packet produced while handling
   * one batch of input or deliveries leaves in one writev system call.
   */
  #write(bytes: Buffer): void {
    if (!this.#corked) {
      this.#corked = true;
      this.#stream.cork();
      process.nextTick(this.#uncork);
    }
    this.#stream.write(bytes);
  }

  #uncork = (): void => {
    this.#corked = false;
    this.#stream.uncork();
  };

  // ---------------------------------------------------------------- inbound acknowledgements

  /**
   * Queues the acknowledgement of an inbound QoS 1/2 PUBLISH. Stores run concurrently, but
   * acknowledgements leave in the order the PUBLISH packets arrived [MQTT-4.6.0-2]
   * [MQTT-4.6.0-3], each only once its store settled. Reading pauses while too many stores
   * are pending, which pushes back on the client through TCP. An outcome marked `done`
   * ends an inbound flow (Receive Maximum quota back).
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
          if ('send' in result) {
            if (result.done && this.inboundUnacknowledged > 0) this.inboundUnacknowledged -= 1;
            this.send(result.send);
          } else {
            this.fail(result.fail, result.reason);
          }
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

  // ---------------------------------------------------------------- outbound delivery

  /** Hands a message to the outbound flows (a stream redelivery of one already here only refreshes it). */
  enqueue(message: Outgoing): void {
    if (this.#state !== 'connected') {
      message.stored?.nak();
      return;
    }
    const stored = message.stored;
    if (stored && stored.deliveryCount > 1) {
      if (message.persistent) this.context.instruments.redeliveries.add(1, SESSION_REDELIVERY);
      const existing = this.outbound.holds(stored.seq, stored.stream);
      if (existing) {
        // The consumer's ack wait passed while the client holds it: never resend on a live connection.
        existing.stored = stored;
        return;
      }
    }
    if (message.persistent && stored) {
      // A session consumer's message: its own latency and deliver span (one recipient).
      recordDeliveryLatency(this.context.instruments, message.meta, message.meta.qos ?? 1);
      if (this.context.tracing.enabled) {
        const traced = startDelivery(this.context.tracing, message.meta, {
          topic: message.topic,
          qos: message.qos,
          recipients: 1,
          clientId: this.#clientId,
          messageId: stored.seq,
          bodySize: message.payload.length,
        });
        this.outbound.enqueue({ ...message, meta: traced.meta });
        traced.span.end();
        return;
      }
    }
    this.outbound.enqueue(message);
  }

  /** A live message from the broker's fan-out. */
  deliver(
    tap: SubscriptionTap,
    message: BackboneMessage,
    topic: string,
    cls: QosClass,
    meta: MessageMeta,
    publishedQos: 0 | 1 | 2,
    cache: PublishCache,
  ): void {
    if (this.#state !== 'connected') return;
    this.subscriptions.deliverLive(tap, message, topic, cls, meta, publishedQos, cache);
  }

  /** A message for shared subscription `shareFilter` (live or from the group's consumer). */
  deliverShared(shareFilter: string, message: BackboneMessage, stored: DeliveredMessage | undefined): boolean {
    if (this.#state !== 'connected') return false;
    const entry = this.#subscriptions?.entries.get(shareFilter);
    const topic = entry && this.context.topicOf(message.subject);
    if (!entry || topic === undefined) return false;
    let meta = this.context.decodeMeta(message);
    const publishedQos = meta.qos ?? (stored ? 1 : 0);
    if (stored && stored.deliveryCount > 1) this.context.instruments.redeliveries.add(1, SHARED_REDELIVERY);
    recordDeliveryLatency(this.context.instruments, meta, publishedQos);
    let span: Span | undefined;
    if (this.context.tracing.enabled) {
      ({ span, meta } = startDelivery(this.context.tracing, meta, {
        topic,
        qos: publishedQos,
        recipients: 1,
        clientId: this.#clientId,
        messageId: stored?.seq,
        bodySize: message.payload.length,
      }));
    }
    this.enqueue({
      topic,
      payload: toBuffer(message.payload),
      qos: Math.min(publishedQos, entry.qos) as 0 | 1 | 2,
      retain: entry.retainAsPublished && meta.retain === true,
      meta,
      ...(stored && { stored }),
      ...(entry.id !== undefined && { subscriptionIds: [entry.id] }),
    });
    span?.end();
    return true;
  }

  /** Outbound QoS 1/2 deliveries awaiting acknowledgement. */
  get inFlight(): number {
    return this.#outbound?.inFlight ?? 0;
  }

  /** Why the connection closed, once it has. */
  get closeReason(): string | undefined {
    return this.#closeInfo?.reason;
  }
}

function parseShareQuietly(filter: string): { group: string; filter: string } | undefined {
  try {
    return parseSharedSubscription(filter);
  } catch {
    return undefined;
  }
}

/** First bytes of the acknowledgements (MQTT 5 §3.4–3.7; PUBREL has flags 0b0010). */
const ACK_TYPE: Readonly<Record<string, number>> = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 };

/**
 * An acknowledgement with reason Success and no properties, in its 4-byte form (MQTT 5 allows
 * omitting the reason code then, §3.4.2.1; 3.1.1 has none): what mqtt-packet writes, without
 * its generic path. Undefined for anything else.
 */
function shortAck(packet: Packet): Buffer | undefined {
  const type = ACK_TYPE[packet.cmd];
  if (type === undefined) return undefined;
  const ack = packet as { messageId?: number; reasonCode?: number; properties?: object };
  if ((ack.reasonCode ?? 0) !== 0 || ack.properties !== undefined || ack.messageId === undefined) return undefined;
  const bytes = Buffer.allocUnsafe(4);
  bytes[0] = type;
  bytes[1] = 2;
  bytes.writeUInt16BE(ack.messageId, 2);
  return bytes;
}

import type { Backbone, DeliveredMessage, StoredMessage } from '@protomesh/backbone';
import { decodeMeta, type MessageMeta } from '@protomesh/envelope';
import { type MeshError, messageOf } from '@protomesh/errors';
import { injectTraceHeaders, type Logger, startDeliverSpan, type Tracing } from '@protomesh/telemetry';
import { filterToSubjects, type SubjectSpace, subjectToTopic } from '@protomesh/topic-map';
import type { WebSocket } from 'ws';
import type { Access, Authenticator } from './access.js';
import { tokenFailureReason } from './auth.js';
import { CLOSE, type CloseCode, closeReason } from './close-codes.js';
import type { DeliveryHub } from './delivery.js';
import {
  BadRequestError,
  FilterInvalidError,
  ForbiddenError,
  FrameTooLargeError,
  IdleTimeoutError,
  InternalError,
  MALFORMED_CODES,
  MalformedFrameError,
  NotSubscribedError,
  RateLimitedError,
  REJECTED_CODES,
  ShuttingDownError,
  SlowConsumerError,
  SubscribeFailedError,
  SubscriptionLimitError,
  UnauthorizedError,
} from './errors.js';
import { FrameSet } from './frames.js';
import {
  type AckRequest,
  type ClientRequest,
  type ConnectRequest,
  type Delivery,
  errorFrame,
  okFrame,
  type ParseResult,
  type PublishRequest,
  parseBinaryFrame,
  parseFrame,
  pongFrame,
  type RefreshRequest,
  type RequestId,
  type SubscribeRequest,
  type UnsubscribeRequest,
} from './protocol.js';
import type { Publisher } from './publisher.js';
import { TokenBucket } from './rate-limit.js';
import { readHistory } from './recovery.js';
import { type SubscriptionOwner, WsSubscription } from './subscription.js';
import type { AuthFailureReason, WsTelemetry } from './telemetry.js';

/** Per-connection bounds. */
export interface ConnectionLimits {
  /** Bytes queued for one client before it is closed with 4008. */
  readonly maxBufferedBytes: number;
  /** Distinct filters one connection may hold. */
  readonly maxSubscriptions: number;
  /** QoS 1 publishes awaiting the backbone before the connection stops reading. */
  readonly maxInFlightPublishes: number;
  /** Malformed requests (error codes in MALFORMED_CODES) that close the connection with 4400. */
  readonly maxMalformed: number;
  /** Refused requests (REJECTED_CODES: invalid or forbidden topics and filters) that close it with 4400. */
  readonly maxRejected: number;
  /** WS_MAX_FRAME_SIZE, for the 1009 error message. */
  readonly maxFrameSize: number;
  /** Publishes per second (0 = unlimited) and burst. */
  readonly publishRate: number;
  readonly publishBurst: number;
  /** Acked subscriptions: redelivery wait (ms) and most messages in flight. */
  readonly ackWaitMs: number;
  readonly ackMaxInFlight: number;
  /** Time a connection that must authenticate has to send its `connect` frame, in ms. */
  readonly authTimeoutMs: number;
}

/** What a connection needs from the edge that accepted it. */
export interface ConnectionHost {
  readonly space: SubjectSpace;
  readonly backbone: Backbone;
  /** The ws tier stream (QoS 1 messages, recovery). */
  readonly streamName: string;
  /** The retained store and its subject prefix. */
  readonly retainedStream: string;
  readonly retainedPrefix: string;
  readonly hub: DeliveryHub;
  readonly publisher: Publisher;
  readonly telemetry: WsTelemetry;
  /** Deliveries to this connection alone (history, retained, acked) get their own deliver span. */
  readonly tracing: Tracing;
  readonly logger: Logger;
  readonly limits: ConnectionLimits;
  /** Verifies tokens; undefined when no authentication is configured. */
  readonly authenticator: Authenticator | undefined;
  /** Registers work (a QoS 1 publish) a graceful shutdown waits for. */
  trackWork(work: Promise<unknown>): void;
  /** The connection's socket closed. */
  detach(connection: WsConnection): void;
}

/**
 * How the connection starts: authorized (anonymous), with a token from the handshake
 * (`Authorization` header or `token` query parameter) still to verify, or waiting for a
 * `connect` frame that carries one.
 */
export type InitialAccess = { readonly access: Access } | { readonly token: string } | { readonly awaitConnect: true };

/** `ws` error code for a frame that broke the size limit; `ws` closes the socket itself (1009). */
const WS_FRAME_TOO_LARGE = 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH';
const SEND_TEXT = Object.freeze({ binary: false });
const SEND_BINARY = Object.freeze({ binary: true });
/** Poll interval while waiting for a client's send buffer to drain during a recovery, in ms. */
const DRAIN_POLL_MS = 10;

/**
 * One WebSocket client speaking protocol v1: a thin dispatcher over one handler per op, and
 * one write path ({@link write}) that drops a client that stops reading.
 */
export class WsConnection implements SubscriptionOwner {
  /** Connection id: the default `Mesh-Client` of what it publishes, and the log key. */
  readonly id: string;
  /** When the client last sent anything (a frame or a pong), in epoch ms; read by the heartbeat sweep. */
  lastSeen = Date.now();
  /** Deliveries of non-UTF-8 payloads as binary frames (asked for in `connect`). */
  binary = false;
  readonly #socket: WebSocket;
  readonly #host: ConnectionHost;
  readonly #opened = Date.now();
  #subs: Map<string, WsSubscription> | undefined;
  #access: Access | undefined;
  /** Client id from `connect`: scopes publish dedup ids so they survive reconnects. */
  #client: string | undefined;
  #bucket: TokenBucket | undefined;
  #expiry: NodeJS.Timeout | undefined;
  #frames = 0;
  #malformed = 0;
  #rejected = 0;
  #inFlight = 0;
  #authPending = false;
  /** Requests that arrived while a token was being verified; handled in order afterwards. */
  #held: ClientRequest[] | undefined;
  #draining = false;
  #closeSent = false;
  #closed = false;
  #onClosed: (() => void) | undefined;

  constructor(host: ConnectionHost, socket: WebSocket, id: string, remote: string | undefined, initial: InitialAccess) {
    this.id = id;
    this.#host = host;
    this.#socket = socket;
    // Listeners are attached synchronously, before any await, so no frame is missed.
    socket.on('message', (data, isBinary) => this.#onFrame(data as Buffer | Buffer[], isBinary));
    socket.on('pong', () => {
      this.lastSeen = Date.now();
    });
    socket.on('close', (code, reason) => this.#onClose(code, reason.toString()));
    socket.on('error', (error) => this.#onSocketError(error));
    host.telemetry.connectionOpened();
    host.logger.info({ conn: id, remote, protocol: socket.protocol || undefined }, 'ws connection open');
    if ('access' in initial) this.#authorize(initial.access);
    else if ('token' in initial) this.#verify(initial.token, () => undefined);
    else {
      this.#authPending = true;
      this.#expiry = setTimeout(() => {
        if (this.#authPending) this.#unauthorized('no connect frame with a token in time', 'missing_credentials');
      }, host.limits.authTimeoutMs);
    }
  }

  /** Resolves once the socket has closed and the connection is cleaned up. */
  get closed(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.#onClosed;
      this.#onClosed = () => {
        previous?.();
        resolve();
      };
    });
  }

  /** Shutdown has begun: further requests are answered PM_WS_SHUTTING_DOWN, not processed. */
  drain(): void {
    this.#draining = true;
  }

  /** Starts the closing handshake with `code` (RFC 6455 §7.1.2). Idempotent. */
  close(code: CloseCode, reason: string = code.name): void {
    if (this.#closeSent) return;
    this.#closeSent = true;
    this.#socket.close(code.code, closeReason(reason));
  }

  /** Cuts the connection without a handshake (a peer that does not answer the close). */
  terminate(): void {
    this.#socket.terminate();
  }

  /**
   * Heartbeat (called by the edge's sweep): close a client silent for longer than `idleMs`
   * with 4408, ping one quiet for `pingMs` (RFC 6455 §5.5.2; browsers answer automatically).
   */
  heartbeat(now: number, pingMs: number, idleMs: number): void {
    if (this.#closeSent) {
      // It never answered our close frame: give up on the handshake.
      if (idleMs > 0 && now - this.lastSeen > idleMs + pingMs) this.terminate();
      return;
    }
    const quiet = now - this.lastSeen;
    if (idleMs > 0 && quiet > idleMs) {
      const error = new IdleTimeoutError(idleMs);
      this.#host.telemetry.closedForBadInput(error.code);
      this.close(CLOSE.idleTimeout, `${error.code}: ${error.message}`);
      return;
    }
    if (quiet >= pingMs && this.#socket.readyState === this.#socket.OPEN) this.#socket.ping();
  }

  /**
   * The one write path. Honours backpressure: when more than `maxBufferedBytes` are queued
   * (the client stopped reading), the client is closed with 4008 instead of buffering on.
   */
  write(frame: Buffer | string, binary: boolean): boolean {
    const socket = this.#socket;
    if (this.#closeSent || socket.readyState !== socket.OPEN) return false;
    const queued = socket.bufferedAmount;
    if (queued > this.#host.limits.maxBufferedBytes) {
      this.#slowConsumer(queued);
      return false;
    }
    socket.send(frame, binary ? SEND_BINARY : SEND_TEXT);
    return true;
  }

  recoveryOverflow(): void {
    this.#slowConsumer(this.#socket.bufferedAmount);
  }

  #slowConsumer(queued: number): void {
    const error = new SlowConsumerError(queued, this.#host.limits.maxBufferedBytes);
    this.#host.telemetry.slowConsumer();
    this.#host.telemetry.closedForBadInput(error.code);
    this.#host.logger.warn({ conn: this.id, queued }, 'closing slow consumer');
    this.close(CLOSE.slowConsumer, `${error.code}: ${error.message}`);
  }

  #send(text: string): boolean {
    return this.write(text, false);
  }

  #onFrame(data: Buffer | Buffer[], isBinary: boolean): void {
    this.lastSeen = Date.now();
    if (this.#closeSent) return;
    try {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : data;
      const parsed: ParseResult = isBinary ? parseBinaryFrame(bytes) : parseFrame(bytes.toString('utf8'));
      this.#frames += 1;
      if (!parsed.ok) {
        this.#reject(parsed.error, parsed.id);
        if (this.#authPending)
          this.#unauthorized('the first frame must be connect with a token', 'missing_credentials');
        return;
      }
      if (this.#held !== undefined) {
        this.#held.push(parsed.request);
        return;
      }
      if (this.#authPending) {
        this.#connectFirst(parsed.request);
        return;
      }
      if (this.#draining) {
        this.#reject(new ShuttingDownError(), parsed.request.id);
        return;
      }
      this.#dispatch(parsed.request);
    } catch (error) {
      // A bug here must cost this connection only, never the process or other clients.
      this.#host.logger.error({ err: error, conn: this.id }, 'ws request handler failed');
      this.#send(errorFrame(new InternalError(), undefined));
      this.close(CLOSE.internalError, new InternalError().code);
    }
  }

  #dispatch(request: ClientRequest): void {
    switch (request.op) {
      case 'sub':
        this.#subscribe(request);
        break;
      case 'unsub':
        this.#unsubscribe(request);
        break;
      case 'pub':
        this.#publish(request);
        break;
      case 'ack':
        this.#ack(request);
        break;
      case 'ping':
        this.#send(pongFrame(request.id));
        break;
      case 'connect':
        this.#connect(request, this.#access!);
        break;
      case 'refresh':
        this.#refresh(request);
        break;
    }
  }

  // --- connect, refresh: credentials ------------------------------------------------------

  /** The connection must authenticate: its first frame has to be `connect` with a token. */
  #connectFirst(request: ClientRequest): void {
    if (request.op !== 'connect' || request.token === undefined) {
      this.#reject(new UnauthorizedError('the first frame must be connect with a token'), request.id);
      this.#unauthorized('the first frame must be connect with a token', 'missing_credentials');
      return;
    }
    const authenticator = this.#host.authenticator;
    if (authenticator === undefined) {
      this.#unauthorized('no authentication is configured', 'bad_credentials');
      return;
    }
    this.#verify(request.token, (access) => {
      this.#authPending = false;
      this.#connected(request, access);
    });
  }

  /**
   * Verifies `token`; requests arriving meanwhile are held (a JWKS fetch may take a moment)
   * and handled in order once it is accepted. A rejected token closes the connection (4401).
   */
  #verify(token: string, then: (access: Access) => void): void {
    const authenticator = this.#host.authenticator!;
    this.#held = [];
    authenticator.verify(token).then(
      (access) => {
        if (this.#closeSent) return;
        this.#authorize(access);
        then(access);
        const held = this.#held ?? [];
        this.#held = undefined;
        for (const request of held) {
          if (this.#closeSent) return;
          if (this.#draining) this.#reject(new ShuttingDownError(), request.id);
          else this.#dispatch(request);
        }
      },
      (error: unknown) => {
        this.#held = undefined;
        this.#unauthorized(messageOf(error), tokenFailureReason(error));
      },
    );
  }

  #connect(request: ConnectRequest, access: Access): void {
    if (this.#frames > 1) {
      this.#reject(new BadRequestError('op', 'connect must be the first frame'), request.id);
      return;
    }
    if (request.token !== undefined && access.principal === undefined && this.#host.authenticator !== undefined) {
      // An anonymous connection presenting a token: verify it now (the first-frame form).
      this.#verify(request.token, (verified) => this.#connected(request, verified));
      return;
    }
    this.#connected(request, access);
  }

  #connected(request: ConnectRequest, access: Access): void {
    if (request.client !== undefined) this.#client = request.client;
    if (request.binary !== undefined) this.binary = request.binary;
    if (request.id !== undefined) {
      this.#send(
        okFrame(request.id, {
          conn: this.id,
          client: this.#client,
          principal: access.principal,
          expiresAt: access.expiresAt,
        }),
      );
    }
  }

  #refresh(request: RefreshRequest): void {
    const authenticator = this.#host.authenticator;
    if (authenticator === undefined) {
      this.#reject(new UnauthorizedError('no authentication is configured'), request.id);
      return;
    }
    authenticator.verify(request.token).then(
      (access) => {
        if (this.#closeSent) return;
        const current = this.#access;
        if (current?.principal !== undefined && access.principal !== current.principal) {
          this.#host.telemetry.authFailure('bad_credentials');
          this.#reject(new UnauthorizedError('a refreshed token must have the same subject'), request.id);
          return;
        }
        this.#authorize(access);
        if (request.id !== undefined) this.#send(okFrame(request.id, { expiresAt: access.expiresAt }));
      },
      (error: unknown) => {
        this.#host.telemetry.authFailure(tokenFailureReason(error));
        this.#reject(new UnauthorizedError(messageOf(error)), request.id);
      },
    );
  }

  /** Installs `access` and the timer that closes the connection (4401) when it expires. */
  #authorize(access: Access): void {
    this.#access = access;
    clearTimeout(this.#expiry);
    this.#expiry = undefined;
    if (access.expiresAt !== undefined) {
      const delay = Math.max(0, access.expiresAt - Date.now());
      // setTimeout holds at most 2^31-1 ms; a token valid for longer is re-checked then.
      this.#expiry = setTimeout(() => this.#onExpiry(), Math.min(delay, 2 ** 31 - 1));
      this.#expiry.unref();
    }
  }

  #onExpiry(): void {
    const expiresAt = this.#access?.expiresAt;
    if (expiresAt !== undefined && expiresAt > Date.now()) {
      this.#authorize(this.#access!);
      return;
    }
    this.#unauthorized('token expired', 'expired');
  }

  /** Closes with 4401: no usable credentials (`failure`: the auth failure metric's reason). */
  #unauthorized(reason: string, failure: AuthFailureReason): void {
    this.#host.telemetry.authFailure(failure);
    const error = new UnauthorizedError(reason);
    this.#host.telemetry.requestRejected(error.code);
    this.close(CLOSE.unauthorized, `${error.code}: ${error.message}`);
  }

  // --- sub, unsub, ack -------------------------------------------------------------------

  #subscribe(request: SubscribeRequest): void {
    const { filter, id } = request;
    const subjects = this.#subjectsOf(filter, id);
    if (!subjects) return;
    if (!this.#access!.canSubscribe(filter)) {
      this.#host.telemetry.authFailure('acl_denied');
      this.#reject(new ForbiddenError('subscribe to', filter), id);
      return;
    }
    this.#subs ??= new Map();
    const subs = this.#subs;
    if (subs.has(filter)) {
      // Already held: nothing changes (no second recovery or retained replay).
      if (id !== undefined) this.#send(okFrame(id, { seq: this.#host.hub.live.position }));
      return;
    }
    if (subs.size >= this.#host.limits.maxSubscriptions) {
      this.#reject(new SubscriptionLimitError(this.#host.limits.maxSubscriptions), id);
      return;
    }
    const sub = new WsSubscription(this, filter, request.ack);
    subs.set(filter, sub);
    this.#startSubscription(sub, request, subjects.live, subjects.stored).catch((error: unknown) => {
      if (!sub.active) return;
      this.#host.logger.warn({ err: error, conn: this.id, filter }, 'ws subscribe failed');
      this.#dropSubscription(sub);
      this.#reject(new SubscribeFailedError(messageOf(error)), id);
    });
  }

  /**
   * Sets up delivery, then replies. Plain: join the shared live delivery (class 1 from the
   * replica's live position `P`), send retained messages if asked, and with `since` read the
   * history (since, P] while live messages wait, so the client gets each message once, in
   * order. Acked: own consumers from `since + 1` (or the stream's end).
   */
  async #startSubscription(
    sub: WsSubscription,
    request: SubscribeRequest,
    live: readonly string[],
    stored: readonly string[],
  ): Promise<void> {
    const { backbone, hub, streamName } = this.#host;
    const { since, id } = request;
    if (!sub.acked) await hub.live.start();
    if (!sub.active) return;
    if (since !== undefined && !sub.acked) sub.beginRecovery();
    hub.join(sub, live, stored);
    const livePosition = hub.live.position;
    // The ok promises "published from now on reaches you": for class 0 that holds once NATS
    // has the SUB, which a flush (PING/PONG) confirms.
    await backbone.flush().catch(() => undefined);
    if (request.retained) await this.#sendRetained(sub);
    if (!sub.active) return;
    let position = livePosition;
    let recovered: boolean | undefined;
    if (sub.acked) {
      const state = await backbone.streamState(streamName);
      if (state === undefined) throw new Error(`stream ${streamName} not found`);
      recovered = since === undefined ? undefined : recoverable(since, state);
      const start = recovered ? since! + 1 : state.lastSeq + 1;
      const limits = this.#host.limits;
      const window = Math.min(request.window ?? limits.ackMaxInFlight, limits.ackMaxInFlight);
      sub.consumers = await Promise.all(
        stored.map((subject) =>
          backbone.consume(
            {
              stream: streamName,
              filterSubject: subject,
              deliver: { kind: 'seq', seq: start },
              ackWaitMs: limits.ackWaitMs,
              maxAckPending: window,
            },
            (message) => this.#deliverAcked(sub, message),
          ),
        ),
      );
      if (!sub.active) {
        await sub.stopConsumers();
        return;
      }
      position = start - 1;
    } else if (since !== undefined) {
      const state = await backbone.streamState(streamName);
      recovered = state !== undefined && recoverable(since, state);
      let floor = livePosition;
      if (recovered) {
        for await (const message of readHistoryOf(this.#host, stored, since + 1, livePosition)) {
          if (!sub.active) return;
          await this.#writable();
          this.#sendStored(sub, message, false);
        }
        floor = Math.max(since, livePosition);
      }
      if (!sub.active) return;
      position = sub.endRecovery(floor);
      this.#host.telemetry.recovery(recovered);
    }
    if (id !== undefined) this.#send(okFrame(id, { seq: position, recovered }));
  }

  /** The retained message of every topic matching the subscription, oldest first, as `retain: true` deliveries. */
  async #sendRetained(sub: WsSubscription): Promise<void> {
    const { backbone, retainedPrefix, retainedStream, space } = this.#host;
    const subjects = filterToSubjects({ prefix: retainedPrefix, tier: space.tier }, sub.filter, { classes: ['1'] });
    const found = (await Promise.all(subjects.map((subject) => backbone.lastPerSubject(retainedStream, subject))))
      .flat()
      .sort((a, b) => a.seq - b.seq);
    for (const message of found) {
      if (!sub.active) return;
      this.#sendStored(sub, message, true);
    }
  }

  /** One stored message (history or retained) to this connection only. */
  #sendStored(sub: WsSubscription, message: StoredMessage, retained: boolean): void {
    const prefix = retained ? this.#host.retainedPrefix : this.#host.space.prefix;
    const route = subjectToTopic(prefix, message.subject);
    if (!route) return;
    const meta = decodeMeta(message.headers);
    // No latency sample: a replay of history or of the retained store is not a live delivery.
    this.#writeDelivery(
      sub,
      {
        sub: sub.filter,
        topic: route.topic,
        qos: retained ? (meta.qos === 0 ? 0 : 1) : 1,
        payload: message.payload,
        contentType: meta.contentType,
        seq: retained ? undefined : message.seq,
        retain: retained,
        origin: meta.originTier,
      },
      meta,
    );
  }

  /** A message from an acked subscription's consumer: kept until the client acks it. */
  #deliverAcked(sub: WsSubscription, message: DeliveredMessage): void {
    if (!sub.active || this.#closeSent) {
      message.nak();
      return;
    }
    sub.unacked!.set(message.seq, message);
    const route = subjectToTopic(this.#host.space.prefix, message.subject);
    if (!route) {
      message.ack();
      return;
    }
    const meta = decodeMeta(message.headers);
    const redelivered = message.deliveryCount > 1 ? message.deliveryCount : undefined;
    if (redelivered !== undefined) this.#host.telemetry.redelivered();
    const written = this.#writeDelivery(
      sub,
      {
        sub: sub.filter,
        topic: route.topic,
        qos: 1,
        payload: message.payload,
        contentType: meta.contentType,
        seq: message.seq,
        origin: meta.originTier,
        ack: true,
        redelivered,
      },
      meta,
    );
    if (written) this.#host.telemetry.deliveryLatency(meta.publishedAt, meta.originTier, 1);
  }

  /**
   * Writes one delivery meant for this connection alone. Tracing off: the frame carries the
   * message's own trace context, if any. On: a deliver span (one recipient) parented on it,
   * whose context the frame carries instead.
   */
  #writeDelivery(sub: WsSubscription, delivery: Delivery, meta: MessageMeta): boolean {
    const tracing = this.#host.tracing;
    if (!tracing.enabled) {
      return new FrameSet({ ...delivery, traceparent: meta.traceparent, tracestate: meta.tracestate }).writeTo(this);
    }
    const span = startDeliverSpan(tracing, {
      system: 'websocket',
      destination: delivery.topic,
      template: sub.filter,
      qos: delivery.qos,
      tier: 'ws',
      recipients: 1,
      clientId: this.#client ?? this.id,
      messageId: delivery.seq,
      parent: meta,
    });
    const { traceparent, tracestate } = injectTraceHeaders(span);
    const written = new FrameSet({ ...delivery, traceparent, tracestate }).writeTo(this);
    span.end();
    return written;
  }

  #ack(request: AckRequest): void {
    const sub = this.#subs?.get(request.sub);
    if (!sub?.acked) {
      this.#reject(new NotSubscribedError(request.sub), request.id);
      return;
    }
    // Acking a message that is no longer outstanding (already acked) is not an error.
    const message = sub.unacked!.get(request.seq);
    if (message !== undefined) {
      sub.unacked!.delete(request.seq);
      message.ack();
    }
    if (request.id !== undefined) this.#send(okFrame(request.id));
  }

  /** Waits while the client's send buffer is over half full (recovery writes many frames at once). */
  async #writable(): Promise<void> {
    const socket = this.#socket;
    while (
      !this.#closeSent &&
      socket.readyState === socket.OPEN &&
      socket.bufferedAmount > this.#host.limits.maxBufferedBytes / 2
    ) {
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
  }

  #unsubscribe(request: UnsubscribeRequest): void {
    const { filter, id } = request;
    if (!this.#subjectsOf(filter, id)) return;
    const sub = this.#subs?.get(filter);
    if (sub) this.#dropSubscription(sub);
    // Unsubscribing a filter that is not subscribed is not an error (MQTT behaves alike).
    if (id !== undefined) this.#send(okFrame(id));
  }

  #dropSubscription(sub: WsSubscription): void {
    sub.active = false;
    this.#subs?.delete(sub.filter);
    this.#host.hub.leave(sub);
    if (sub.acked) void sub.stopConsumers();
  }

  /** The live (class 0) and stored (class 1) subjects of `filter`, or undefined after rejecting it. */
  #subjectsOf(
    filter: string,
    id: RequestId | undefined,
  ): { live: readonly string[]; stored: readonly string[] } | undefined {
    if (filter.startsWith('$share/')) {
      this.#reject(
        new FilterInvalidError('shared subscriptions ($share/…) are not supported on the WebSocket tier'),
        id,
      );
      return undefined;
    }
    try {
      const space = this.#host.space;
      return {
        live: filterToSubjects(space, filter, { classes: ['0'] }),
        stored: filterToSubjects(space, filter, { classes: ['1'] }),
      };
    } catch (error) {
      this.#reject(new FilterInvalidError(messageOf(error)), id);
      return undefined;
    }
  }

  // --- pub --------------------------------------------------------------------------------

  #publish(request: PublishRequest): void {
    const { id, topic, qos } = request;
    const { limits, publisher } = this.#host;
    this.#bucket ??= new TokenBucket(limits.publishRate, limits.publishBurst);
    if (!this.#bucket.take()) {
      this.#host.telemetry.rateLimited();
      this.#reject(new RateLimitedError(limits.publishRate, limits.publishBurst), id);
      return;
    }
    try {
      publisher.subjectOf(topic, qos);
    } catch (error) {
      this.#reject(error as MeshError, id);
      return;
    }
    const access = this.#access!;
    if (!access.canPublish(topic)) {
      this.#host.telemetry.authFailure('acl_denied');
      this.#reject(new ForbiddenError('publish to', topic), id);
      return;
    }
    // Dedup ids are scoped to who publishes, so one client cannot suppress another's messages.
    const scope = `${access.principal ?? ''}/${this.#client ?? this.id}`;
    const dedupId = request.msgId === undefined ? undefined : `${scope}:${request.msgId}`;
    if (qos === 1) {
      this.#inFlight += 1;
      if (this.#inFlight === limits.maxInFlightPublishes) this.#socket.pause();
    }
    const work = publisher
      .publish({
        topic,
        qos,
        retain: request.retain,
        payload: request.payload,
        contentType: request.contentType,
        payloadFormat: request.payloadFormat,
        originClient: this.#client ?? this.id,
        dedupId,
        // The request carries the client's validated traceparent/tracestate (if any).
        trace: request,
      })
      .then(
        (outcome) => {
          if (id !== undefined) this.#send(okFrame(id, outcome.seq === undefined ? undefined : { ...outcome }));
        },
        (error: unknown) => {
          this.#host.logger.debug({ err: error, conn: this.id, topic }, 'ws publish failed');
          this.#reject(error as MeshError, id);
        },
      )
      .finally(() => {
        if (qos !== 1) return;
        this.#inFlight -= 1;
        if (this.#inFlight === limits.maxInFlightPublishes - 1) this.#socket.resume();
      });
    if (qos === 1) this.#host.trackWork(work);
  }

  // --- errors, close ----------------------------------------------------------------------

  /** Sends an error frame; repeated malformed or refused requests close the connection with 4400. */
  #reject(error: MeshError, id: RequestId | undefined): void {
    this.#host.telemetry.requestRejected(error.code);
    this.#send(errorFrame(error, id));
    let count: number;
    let limit: number;
    if (MALFORMED_CODES.has(error.code)) {
      count = ++this.#malformed;
      limit = this.#host.limits.maxMalformed;
    } else if (REJECTED_CODES.has(error.code)) {
      count = ++this.#rejected;
      limit = this.#host.limits.maxRejected;
    } else return;
    if (count >= limit) {
      this.#host.telemetry.closedForBadInput(error.code);
      this.close(
        CLOSE.protocolError,
        `${error.code}: repeated ${MALFORMED_CODES.has(error.code) ? 'malformed frames' : 'refused requests'}`,
      );
    }
  }

  #onSocketError(error: Error & { code?: string }): void {
    // `ws` has already started the close with the matching code (1009, 1002, 1007).
    const code =
      error.code === WS_FRAME_TOO_LARGE
        ? new FrameTooLargeError(this.#host.limits.maxFrameSize).code
        : MalformedFrameError.code;
    this.#host.telemetry.closedForBadInput(code);
    this.#host.logger.debug({ conn: this.id, err: error }, 'ws frame error');
  }

  #onClose(code: number, reason: string): void {
    clearTimeout(this.#expiry);
    for (const sub of this.#subs?.values() ?? []) {
      sub.active = false;
      this.#host.hub.leave(sub);
      if (sub.acked) void sub.stopConsumers();
    }
    this.#subs = undefined;
    this.#host.telemetry.connectionClosed();
    this.#host.detach(this);
    this.#host.logger.info(
      { conn: this.id, code, reason: reason || undefined, durationMs: Date.now() - this.#opened },
      'ws connection closed',
    );
    this.#closed = true;
    this.#onClosed?.();
  }
}

/** True when every message after `since` is still in the stream (RFC-free: JetStream limits). */
function recoverable(since: number, state: { readonly firstSeq: number; readonly lastSeq: number }): boolean {
  return since + 1 >= state.firstSeq && since <= state.lastSeq;
}

function readHistoryOf(host: ConnectionHost, subjects: readonly string[], fromSeq: number, toSeq: number) {
  return readHistory(host.backbone, host.streamName, subjects, fromSeq, toSeq);
}

import type { WebSocket } from '@fastify/websocket';
import type { Backbone, LocalFanout } from '@protomesh/backbone';
import { encodeMeta } from '@protomesh/envelope';
import { type MeshError, messageOf } from '@protomesh/errors';
import type { Logger } from '@protomesh/telemetry';
import { filterToSubjects, type SubjectSpace, topicToSubject, validateTopicName } from '@protomesh/topic-map';
import { CLOSE, type CloseCode, closeReason } from './close-codes.js';
import {
  FilterInvalidError,
  FrameTooLargeError,
  InternalError,
  MALFORMED_CODES,
  MalformedFrameError,
  PublishFailedError,
  ShuttingDownError,
  SlowConsumerError,
  SubscriptionLimitError,
  TopicInvalidError,
} from './errors.js';
import {
  type ClientRequest,
  errorFrame,
  type FilterRequest,
  okFrame,
  type PublishRequest,
  parseFrame,
  pongFrame,
  type RequestId,
} from './protocol.js';
import type { WsTelemetry } from './telemetry.js';

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
  /** WS_MAX_FRAME_SIZE, for the 1009 error message. */
  readonly maxFrameSize: number;
}

/** What a connection needs from the edge that accepted it. */
export interface ConnectionHost {
  readonly space: SubjectSpace;
  readonly backbone: Backbone;
  /** The ws tier stream: QoS 1 appends must land there. */
  readonly streamName: string;
  readonly fanout: LocalFanout<WsConnection>;
  readonly telemetry: WsTelemetry;
  readonly logger: Logger;
  readonly limits: ConnectionLimits;
  /** Registers a QoS 1 append so a graceful shutdown can wait for it. */
  trackAppend(append: Promise<void>): void;
  /** The connection's socket closed. */
  detach(connection: WsConnection): void;
}

/** `ws` error codes for a frame that broke the limit or RFC 6455; `ws` closes the socket itself. */
const WS_FRAME_TOO_LARGE = 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH';

/**
 * One WebSocket client speaking protocol v1: a thin dispatcher over one handler per op, and
 * one write path (`#send`) that drops a client that stops reading.
 */
export class WsConnection {
  /** Connection id: the `Mesh-Client` of everything it publishes, and the log key. */
  readonly id: string;
  /** Resolves once the socket has closed and the connection is cleaned up. */
  readonly closed: Promise<void>;
  readonly #socket: WebSocket;
  readonly #host: ConnectionHost;
  readonly #opened = Date.now();
  /** filter → its subjects. */
  readonly #filters = new Map<string, readonly string[]>();
  /** subject → how many of this connection's filters use it (`a` and `a/#` share `…a`). */
  readonly #subjectRefs = new Map<string, number>();
  #malformed = 0;
  #inFlight = 0;
  #draining = false;
  #closeSent = false;
  #resolveClosed!: () => void;

  constructor(host: ConnectionHost, socket: WebSocket, id: string, remote: string | undefined) {
    this.id = id;
    this.#host = host;
    this.#socket = socket;
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    // Listeners are attached synchronously, before any await, so no frame is missed.
    socket.on('message', (data, isBinary) => this.#onFrame(data, isBinary));
    socket.on('close', (code, reason) => this.#onClose(code, reason.toString()));
    socket.on('error', (error) => this.#onSocketError(error));
    host.telemetry.connectionOpened();
    host.logger.info({ conn: id, remote, protocol: socket.protocol || undefined }, 'ws connection open');
  }

  /** Writes a delivery frame built once per fan-out; false when it was not written. */
  deliver(frame: string): boolean {
    return this.#send(frame);
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
   * The one write path. Honours backpressure: when more than `maxBufferedBytes` are queued
   * (the client stopped reading), the client is closed with 4008 instead of buffering on.
   */
  #send(frame: string): boolean {
    const socket = this.#socket;
    if (socket.readyState !== socket.OPEN || this.#closeSent) return false;
    const queued = socket.bufferedAmount;
    if (queued > this.#host.limits.maxBufferedBytes) {
      const error = new SlowConsumerError(queued, this.#host.limits.maxBufferedBytes);
      this.#host.telemetry.slowConsumer();
      this.#host.telemetry.closedForBadInput(error.code);
      this.#host.logger.warn({ conn: this.id, queued }, 'closing slow consumer');
      this.close(CLOSE.slowConsumer, `${error.code}: ${error.message}`);
      return false;
    }
    socket.send(frame);
    return true;
  }

  #onFrame(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    if (this.#closeSent) return;
    try {
      if (isBinary) {
        this.#reject(
          new MalformedFrameError('binary frame; send JSON text frames (binary payloads go in "b64")'),
          undefined,
        );
        return;
      }
      const text = Array.isArray(data)
        ? Buffer.concat(data).toString('utf8')
        : Buffer.from(data as ArrayBuffer).toString('utf8');
      const parsed = parseFrame(text);
      if (!parsed.ok) {
        this.#reject(parsed.error, parsed.id);
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
      case 'ping':
        this.#send(pongFrame(request.id));
        break;
    }
  }

  #subscribe(request: FilterRequest): void {
    const { filter, id } = request;
    const subjects = this.#subjectsOf(filter, id);
    if (!subjects) return;
    if (this.#filters.has(filter)) {
      if (id !== undefined) this.#send(okFrame(id));
      return;
    }
    if (this.#filters.size >= this.#host.limits.maxSubscriptions) {
      this.#reject(new SubscriptionLimitError(this.#host.limits.maxSubscriptions), id);
      return;
    }
    this.#filters.set(filter, subjects);
    for (const subject of subjects) {
      const refs = this.#subjectRefs.get(subject) ?? 0;
      this.#subjectRefs.set(subject, refs + 1);
      if (refs === 0) this.#host.fanout.add(subject, this);
    }
    if (id === undefined) return;
    // The ok promises "published from now on reaches you": on NATS that holds once the
    // server has the SUB, which a flush (PING/PONG) confirms. A failed flush still leaves
    // the subscription in place (the client re-subscribes it on reconnect).
    const ok = okFrame(id);
    this.#host.backbone.flush().then(
      () => this.#send(ok),
      () => this.#send(ok),
    );
  }

  #unsubscribe(request: FilterRequest): void {
    const { filter, id } = request;
    if (!this.#subjectsOf(filter, id)) return;
    const subjects = this.#filters.get(filter);
    if (subjects) {
      this.#filters.delete(filter);
      for (const subject of subjects) {
        const refs = (this.#subjectRefs.get(subject) ?? 1) - 1;
        if (refs > 0) this.#subjectRefs.set(subject, refs);
        else {
          this.#subjectRefs.delete(subject);
          this.#host.fanout.remove(subject, this);
        }
      }
    }
    // Unsubscribing a filter that is not subscribed is not an error (MQTT behaves alike).
    if (id !== undefined) this.#send(okFrame(id));
  }

  /** The live subjects of `filter`, or undefined after rejecting it. */
  #subjectsOf(filter: string, id: RequestId | undefined): readonly string[] | undefined {
    if (filter.startsWith('$share/')) {
      this.#reject(
        new FilterInvalidError('shared subscriptions ($share/…) are not supported on the WebSocket tier'),
        id,
      );
      return undefined;
    }
    try {
      return filterToSubjects(this.#host.space, filter);
    } catch (error) {
      this.#reject(new FilterInvalidError(messageOf(error)), id);
      return undefined;
    }
  }

  #publish(request: PublishRequest): void {
    const { id, topic, qos, payload } = request;
    let subject: string;
    try {
      validateTopicName(topic);
      subject = topicToSubject(this.#host.space, topic, qos === 0 ? '0' : '1');
    } catch (error) {
      this.#reject(new TopicInvalidError(messageOf(error)), id);
      return;
    }
    const headers = encodeMeta({
      originTier: 'ws',
      originClient: this.id,
      qos,
      retain: request.retain,
      contentType: request.contentType,
      payloadFormat: request.payloadFormat,
    });
    this.#host.telemetry.published(qos, payload.byteLength);
    if (qos === 0) {
      try {
        this.#host.backbone.publish(subject, payload, headers);
      } catch (error) {
        this.#reject(new PublishFailedError(messageOf(error)), id);
        return;
      }
      if (id !== undefined) this.#send(okFrame(id));
      return;
    }
    // QoS 1: acknowledge only once the backbone has stored the message.
    this.#inFlight += 1;
    if (this.#inFlight === this.#host.limits.maxInFlightPublishes) this.#socket.pause();
    const append = this.#host.backbone
      .append(subject, payload, { headers, expectStream: this.#host.streamName })
      .then(
        (stored) => {
          if (id !== undefined) this.#send(okFrame(id, { seq: stored.seq }));
        },
        (error: unknown) => {
          this.#host.logger.debug({ err: error, conn: this.id, subject }, 'ws publish not stored');
          this.#reject(new PublishFailedError(messageOf(error)), id);
        },
      )
      .finally(() => {
        this.#inFlight -= 1;
        if (this.#inFlight === this.#host.limits.maxInFlightPublishes - 1) this.#socket.resume();
      });
    this.#host.trackAppend(append);
  }

  /** Sends an error frame; the second malformed request closes the connection with 4400. */
  #reject(error: MeshError, id: RequestId | undefined): void {
    this.#host.telemetry.requestRejected(error.code);
    this.#send(errorFrame(error, id));
    if (!MALFORMED_CODES.has(error.code)) return;
    this.#malformed += 1;
    if (this.#malformed >= this.#host.limits.maxMalformed) {
      this.#host.telemetry.closedForBadInput(error.code);
      this.close(CLOSE.protocolError, `${error.code}: repeated malformed frames`);
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
    this.#host.fanout.removeMember(this);
    this.#filters.clear();
    this.#subjectRefs.clear();
    this.#host.telemetry.connectionClosed();
    this.#host.detach(this);
    this.#host.logger.info(
      { conn: this.id, code, reason: reason || undefined, durationMs: Date.now() - this.#opened },
      'ws connection closed',
    );
    this.#resolveClosed();
  }
}

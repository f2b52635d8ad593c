import { randomUUID } from 'node:crypto';
import type { WebSocket } from '@fastify/websocket';
import { type Backbone, type BackboneMessage, LocalFanout } from '@protomesh/backbone';
import { decodeMeta } from '@protomesh/envelope';
import type { Logger } from '@protomesh/telemetry';
import { type SubjectSpace, subjectToTopic } from '@protomesh/topic-map';
import { CLOSE } from './close-codes.js';
import { type ConnectionHost, type ConnectionLimits, WsConnection } from './connection.js';
import { deliveryFrame } from './protocol.js';
import type { WsTelemetry } from './telemetry.js';

/** How long closing handshakes may take on shutdown before sockets are cut, in milliseconds. */
export const CLOSE_HANDSHAKE_TIMEOUT_MS = 2_000;

export interface WsEdgeCoreOptions {
  readonly space: SubjectSpace;
  readonly backbone: Backbone;
  readonly streamName: string;
  readonly telemetry: WsTelemetry;
  readonly logger: Logger;
  readonly limits: ConnectionLimits;
}

/**
 * The transport-independent heart of ws-edge: the live connections, one {@link LocalFanout}
 * shared by all of them, and the graceful shutdown. Fastify only hands it sockets.
 */
export class WsEdgeCore implements ConnectionHost {
  readonly space: SubjectSpace;
  readonly backbone: Backbone;
  readonly streamName: string;
  readonly telemetry: WsTelemetry;
  readonly logger: Logger;
  readonly limits: ConnectionLimits;
  readonly fanout: LocalFanout<WsConnection>;
  readonly #connections = new Set<WsConnection>();
  readonly #appends = new Set<Promise<void>>();
  #closing = false;

  constructor(options: WsEdgeCoreOptions) {
    this.space = options.space;
    this.backbone = options.backbone;
    this.streamName = options.streamName;
    this.telemetry = options.telemetry;
    this.logger = options.logger;
    this.limits = options.limits;
    this.fanout = new LocalFanout(options.backbone, (message, members) => this.#fanOut(message, members));
  }

  /** Open connections. */
  get connections(): number {
    return this.#connections.size;
  }

  /** True once shutdown has begun. */
  get closing(): boolean {
    return this.#closing;
  }

  /** Takes over an upgraded socket. */
  accept(socket: WebSocket, remote: string | undefined): void {
    if (this.#closing) {
      socket.close(CLOSE.serviceRestart.code, CLOSE.serviceRestart.name);
      return;
    }
    this.#connections.add(new WsConnection(this, socket, randomUUID(), remote));
  }

  trackAppend(append: Promise<void>): void {
    this.#appends.add(append);
    void append.finally(() => this.#appends.delete(append));
  }

  detach(connection: WsConnection): void {
    this.#connections.delete(connection);
  }

  /**
   * Graceful shutdown: stop taking requests, let in-flight QoS 1 appends finish (so their
   * `ok` frames still reach the clients), then close every socket with 1012 so clients
   * reconnect elsewhere. Bounded by `graceMs` plus the closing handshake.
   */
  async shutdown(graceMs: number): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const deadline = Date.now() + graceMs;
    for (const connection of this.#connections) connection.drain();
    await settleBy(Promise.allSettled([...this.#appends]), deadline);
    const open = [...this.#connections];
    for (const connection of open) connection.close(CLOSE.serviceRestart);
    const handshakeDeadline = Math.max(deadline, Date.now() + CLOSE_HANDSHAKE_TIMEOUT_MS);
    await settleBy(Promise.all(open.map((connection) => connection.closed)), handshakeDeadline);
    for (const connection of this.#connections) connection.terminate();
    await Promise.all(open.map((connection) => connection.closed));
    this.fanout.close();
  }

  /** One backbone message to every member: the frame is serialized once and the same string sent to all. */
  #fanOut(message: BackboneMessage, members: ReadonlySet<WsConnection>): void {
    const route = subjectToTopic(this.space.prefix, message.subject);
    if (!route || route.tier !== this.space.tier) return;
    const meta = decodeMeta(message.headers);
    const qos = route.cls === '0' ? 0 : 1;
    // Live messages carry no stream sequence today; a backbone that adds one (a stored message) is passed through.
    const seq = (message as { readonly seq?: unknown }).seq;
    const frame = deliveryFrame({
      topic: route.topic,
      qos,
      payload: message.payload,
      contentType: meta.contentType,
      retain: meta.retain,
      seq: typeof seq === 'number' ? seq : undefined,
      origin: meta.originTier,
    });
    let sent = 0;
    for (const member of members) if (member.deliver(frame)) sent += 1;
    if (sent > 0) this.telemetry.delivered(qos, sent, message.payload.byteLength);
  }
}

/** Waits for `promise` but no later than `deadline` (epoch ms). */
async function settleBy(promise: Promise<unknown>, deadline: number): Promise<void> {
  const remaining = deadline - Date.now();
  if (remaining <= 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, remaining);
    }),
  ]);
  clearTimeout(timer);
}

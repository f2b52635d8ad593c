import { randomUUID } from 'node:crypto';
import type { Backbone } from '@protomesh/backbone';
import type { Logger, Tracing } from '@protomesh/telemetry';
import type { SubjectSpace } from '@protomesh/topic-map';
import type { WebSocket } from 'ws';
import type { Authenticator } from './access.js';
import { CLOSE } from './close-codes.js';
import { type ConnectionHost, type ConnectionLimits, type InitialAccess, WsConnection } from './connection.js';
import { DeliveryHub } from './delivery.js';
import { Publisher } from './publisher.js';
import type { WsTelemetry } from './telemetry.js';

/** How long closing handshakes may take on shutdown before sockets are cut, in milliseconds. */
export const CLOSE_HANDSHAKE_TIMEOUT_MS = 2_000;

/** Heartbeat timing, in milliseconds. */
export interface HeartbeatOptions {
  /** Ping a client quiet for this long. */
  readonly pingIntervalMs: number;
  /** Close (4408) a client silent for this long; 0 = never. */
  readonly idleTimeoutMs: number;
}

export interface WsEdgeCoreOptions {
  readonly space: SubjectSpace;
  readonly backbone: Backbone;
  readonly streamName: string;
  readonly retainedStream: string;
  readonly retainedPrefix: string;
  readonly telemetry: WsTelemetry;
  /** This instance's tracing (`enabled` false: no span work at all). */
  readonly tracing: Tracing;
  readonly logger: Logger;
  readonly limits: ConnectionLimits;
  readonly heartbeat: HeartbeatOptions;
  readonly authenticator: Authenticator | undefined;
}

/**
 * The transport-independent heart of ws-edge: the live connections, the delivery hub shared
 * by all of them, the heartbeat sweep and the graceful shutdown. The HTTP server only hands
 * it upgraded sockets.
 */
export class WsEdgeCore implements ConnectionHost {
  readonly space: SubjectSpace;
  readonly backbone: Backbone;
  readonly streamName: string;
  readonly retainedStream: string;
  readonly retainedPrefix: string;
  readonly telemetry: WsTelemetry;
  readonly tracing: Tracing;
  readonly logger: Logger;
  readonly limits: ConnectionLimits;
  readonly authenticator: Authenticator | undefined;
  readonly hub: DeliveryHub;
  readonly publisher: Publisher;
  readonly #connections = new Set<WsConnection>();
  readonly #work = new Set<Promise<unknown>>();
  readonly #heartbeat: NodeJS.Timeout;
  #closing = false;

  constructor(options: WsEdgeCoreOptions) {
    this.space = options.space;
    this.backbone = options.backbone;
    this.streamName = options.streamName;
    this.retainedStream = options.retainedStream;
    this.retainedPrefix = options.retainedPrefix;
    this.telemetry = options.telemetry;
    this.tracing = options.tracing;
    this.logger = options.logger;
    this.limits = options.limits;
    this.authenticator = options.authenticator;
    this.hub = new DeliveryHub(options);
    this.publisher = new Publisher(options);
    // One timer for every connection (not one each): pings the quiet, closes the silent.
    const { pingIntervalMs, idleTimeoutMs } = options.heartbeat;
    const tick = Math.max(50, Math.min(pingIntervalMs, idleTimeoutMs || pingIntervalMs) / 2);
    this.#heartbeat = setInterval(() => {
      const now = Date.now();
      for (const connection of this.#connections) connection.heartbeat(now, pingIntervalMs, idleTimeoutMs);
    }, tick);
    this.#heartbeat.unref();
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
  accept(socket: WebSocket, remote: string | undefined, initial: InitialAccess): WsConnection | undefined {
    if (this.#closing) {
      socket.close(CLOSE.serviceRestart.code, CLOSE.serviceRestart.name);
      return undefined;
    }
    const connection = new WsConnection(this, socket, randomUUID(), remote, initial);
    this.#connections.add(connection);
    return connection;
  }

  trackWork(work: Promise<unknown>): void {
    this.#work.add(work);
    void work.finally(() => this.#work.delete(work));
  }

  detach(connection: WsConnection): void {
    this.#connections.delete(connection);
  }

  /**
   * Graceful shutdown: stop taking requests, let in-flight QoS 1 publishes finish (so their
   * `ok` frames still reach the clients), then close every socket with 1012 so clients
   * reconnect elsewhere. Bounded by `graceMs` plus the closing handshake.
   */
  async shutdown(graceMs: number): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    clearInterval(this.#heartbeat);
    const deadline = Date.now() + graceMs;
    for (const connection of this.#connections) connection.drain();
    await settleBy(Promise.allSettled([...this.#work]), deadline);
    const open = [...this.#connections];
    for (const connection of open) connection.close(CLOSE.serviceRestart);
    const handshakeDeadline = Math.max(deadline, Date.now() + CLOSE_HANDSHAKE_TIMEOUT_MS);
    await settleBy(Promise.all(open.map((connection) => connection.closed)), handshakeDeadline);
    for (const connection of this.#connections) connection.terminate();
    await Promise.all(open.map((connection) => connection.closed));
    await this.hub.close();
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

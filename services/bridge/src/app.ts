import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { LEASE_TTL_MS } from '@protomesh/backbone';
import type { ServiceDeps } from '@protomesh/runtime';
import { ServiceMetrics } from '@protomesh/telemetry';
import { DurableRelay } from './durable-relay.js';
import { DEFAULT_LEASE_RENEW_MS, DEFAULT_LEASE_RETRY_MS, type LeaseTimings } from './lease.js';
import { LiveRelay } from './live-relay.js';
import { BridgeMetrics } from './metrics.js';
import type { RelayContext } from './relay-context.js';
import { type BridgeRoute, type CompiledRoute, compileRoutes, IDENTITY_ROUTES } from './routes.js';

/** Consumer redelivery timeout, in ms: far above an append's 5 s timeout, so only a dead owner's messages come back. */
export const BRIDGE_ACK_WAIT_MS = 30_000;

/** How a bridge is built beyond its service dependencies. */
export interface BridgeOptions {
  /** The routes to run (default {@link IDENTITY_ROUTES}: every topic crosses unchanged, both ways). */
  readonly routes?: readonly BridgeRoute[];
  /** Lease timings in ms; `ttlMs` defaults to the leases bucket's TTL. */
  readonly lease?: Partial<LeaseTimings>;
  /** Identifies this replica in lease values (default `<host>-<pid>-<random>`). */
  readonly replicaId?: string;
  /** QoS 1 consumer redelivery timeout, in ms (default {@link BRIDGE_ACK_WAIT_MS}). */
  readonly ackWaitMs?: number;
}

/** A bridge instance, built but not started. */
export interface Bridge {
  readonly replicaId: string;
  readonly routes: readonly CompiledRoute[];
  readonly metrics: ServiceMetrics;
  /** Subscribes (QoS 0) and competes for every route's consumer lease (QoS 1). */
  start(): Promise<void>;
  /** Backbone ready, relays started and not closing. */
  isReady(): boolean;
  /** Ids of the routes whose QoS 1 consumer this replica runs now. */
  activeRoutes(): string[];
  /**
   * Graceful stop: unsubscribe QoS 0, stop consuming, wait for in-flight appends and ack
   * them (bounded by `config.shutdownGrace`), delete held leases. Idempotent.
   */
  close(): Promise<void>;
}

/** Builds a bridge from its dependencies. Throws `RouteInvalidError` / `RouteDuplicateError` for bad routes. */
export function createBridge(deps: ServiceDeps, options: BridgeOptions = {}): Bridge {
  return new BridgeApp(deps, options);
}

class BridgeApp implements Bridge {
  readonly replicaId: string;
  readonly routes: readonly CompiledRoute[];
  readonly metrics: ServiceMetrics;
  readonly #deps: ServiceDeps;
  readonly #options: BridgeOptions;
  readonly #ownsMetrics: boolean;
  readonly #bridgeMetrics: BridgeMetrics;
  readonly #context: RelayContext;
  readonly #live: LiveRelay;
  #durable: DurableRelay[] = [];
  #started = false;
  #closing: Promise<void> | undefined;

  constructor(deps: ServiceDeps, options: BridgeOptions) {
    this.#deps = deps;
    this.#options = options;
    this.replicaId = options.replicaId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.routes = compileRoutes(deps.layout.prefix, options.routes ?? IDENTITY_ROUTES);
    this.#ownsMetrics = deps.metrics === undefined;
    this.metrics = deps.metrics ?? new ServiceMetrics('bridge');
    this.#bridgeMetrics = new BridgeMetrics(this.metrics, () => deps.backbone.isReady());
    this.#context = {
      backbone: deps.backbone,
      layout: deps.layout,
      metrics: this.#bridgeMetrics,
      logger: deps.logger,
      now: Date.now,
    };
    this.#live = new LiveRelay(this.routes, this.#context);
  }

  async start(): Promise<void> {
    if (this.#started || this.#closing) return;
    const { backbone, layout, config, logger } = this.#deps;
    this.#live.start();
    const bucket = await backbone.kv(layout.buckets.leases);
    const lease: LeaseTimings = {
      renewMs: this.#options.lease?.renewMs ?? DEFAULT_LEASE_RENEW_MS,
      retryMs: this.#options.lease?.retryMs ?? DEFAULT_LEASE_RETRY_MS,
      ttlMs: this.#options.lease?.ttlMs ?? layout.buckets.leases.ttlMs ?? LEASE_TTL_MS,
    };
    this.#durable = this.routes.map(
      (route) =>
        new DurableRelay(route, this.#context, bucket, {
          owner: this.replicaId,
          lease,
          maxInFlight: config.bridge.maxInFlight,
          ackWaitMs: this.#options.ackWaitMs ?? BRIDGE_ACK_WAIT_MS,
          graceMs: config.shutdownGrace,
          restartDelayMs: lease.retryMs,
        }),
    );
    await Promise.all(this.#durable.map((relay) => relay.start()));
    this.#started = true;
    logger.info(
      { replica: this.replicaId, routes: this.routes.map((r) => r.id), active: this.activeRoutes() },
      'bridge started',
    );
  }

  isReady(): boolean {
    return this.#started && !this.#closing && this.#deps.backbone.isReady();
  }

  activeRoutes(): string[] {
    return this.routes.filter((_, i) => this.#durable[i]?.active).map((route) => route.id);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#live.stop();
      await Promise.all(this.#durable.map((relay) => relay.close()));
      this.#bridgeMetrics.detach();
      if (this.#ownsMetrics) await this.metrics.shutdown();
    })();
    return this.#closing;
  }
}

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { LEASE_TTL_MS } from '@protomesh/backbone';
import type { ServiceDeps } from '@protomesh/runtime';
import { disabledTracing, ServiceMetrics } from '@protomesh/telemetry';
import type { Tier } from '@protomesh/topic-map';
import { RetainedWriter } from './carry.js';
import { type CrossingPlan, planCrossing, type SourceMessage } from './crossing.js';
import { CursorStore } from './cursors.js';
import { LiveRelay } from './live-relay.js';
import { BridgeMetrics, type RouteCounters } from './metrics.js';
import { DEFAULT_CURSOR_FLUSH_MS, DEFAULT_TICK_MS, PartitionManager, type PartitionTimings } from './partitions.js';
import type { RelayContext } from './relay-context.js';
import { loadRoutes } from './route-file.js';
import { RouteRelay } from './route-relay.js';
import { RouteWatcher } from './route-watch.js';
import { type BridgeRoute, type CompiledRoute, compileRoutes, IDENTITY_ROUTES } from './routes.js';

/** Pause before reading again after a failed append, in ms. */
export const BRIDGE_RESTART_DELAY_MS = 1_000;
/** How often the consumer-lag gauge is refreshed, in ms (one consumer info request per route). */
export const LAG_REFRESH_MS = 5_000;

/** How a bridge is built beyond its service dependencies. */
export interface BridgeOptions {
  /** Routes to run, overriding `config.bridge.routes` (default: that file, else {@link IDENTITY_ROUTES}). */
  readonly routes?: readonly BridgeRoute[];
  /** Routes file or directory, overriding `config.bridge.routes` (`BRIDGE_ROUTES`). */
  readonly routesPath?: string;
  /** Watch the routes path and reload on change (default true). */
  readonly watch?: boolean;
  /** Partition timings in ms; `ttlMs` defaults to the leases bucket's TTL. */
  readonly timings?: Partial<PartitionTimings>;
  /** Identifies this replica in leases and heartbeats (default `<host>-<pid>-<random>`). */
  readonly replicaId?: string;
  /** Pause before reading again after a failed append, in ms (default {@link BRIDGE_RESTART_DELAY_MS}). */
  readonly restartDelayMs?: number;
  /** Poll interval backing up the file watch, in ms. */
  readonly watchPollMs?: number;
}

/** Where the route set in force came from, and how the last reload went. */
export interface RoutesSource {
  readonly kind: 'identity' | 'code' | 'file';
  readonly path?: string;
  /** Epoch ms of the last route set applied. */
  readonly appliedAt: number;
  /** The last reload that failed (the route set before it stays in force). */
  readonly lastError?: { readonly at: number; readonly message: string };
}

/** One route as `GET /routes` shows it. */
export interface RouteStatus {
  readonly id: string;
  readonly enabled: boolean;
  readonly route: BridgeRoute;
  readonly counters: RouteCounters;
  /** QoS 1 partitions this replica owns. */
  readonly partitions: readonly number[];
  /** QoS 1 crossings issued by this replica and not yet stored. */
  readonly inFlight: number;
  /** Messages of the route not yet delivered to this replica's reader (consumer `pending`); null without a reader. */
  readonly lag: number | null;
}

/** What `POST /routes/test` is asked. */
export interface RouteTestInput {
  readonly tier: Tier;
  readonly topic: string;
  readonly payload: Uint8Array;
  /** 0 (a live message) or 1/2 (stored). */
  readonly qos: 0 | 1 | 2;
  readonly headers?: ReadonlyArray<readonly [string, string]>;
}

/** What one route would do with a test message. */
export interface RouteTestResult {
  readonly route: string;
  readonly enabled: boolean;
  readonly plan: CrossingPlan;
}

/** A bridge instance, built but not started. */
export interface Bridge {
  readonly replicaId: string;
  readonly metrics: ServiceMetrics;
  /** The route set in force. */
  routes(): readonly CompiledRoute[];
  /** Loads the routes, subscribes (QoS 0), takes a share of every route's partitions (QoS 1), watches the routes file. */
  start(): Promise<void>;
  /** Backbone ready, relays started and not closing. */
  isReady(): boolean;
  /** QoS 1 partitions this replica owns, per route id. */
  heldPartitions(): Record<string, number[]>;
  /** Live bridge replicas at the last heartbeat (this one included). */
  replicas(): number;
  /**
   * Validates and applies a new route set: QoS 0 switches at once; for QoS 1, removed and
   * changed routes drain and write their positions before the new ones start from them.
   * Throws (and keeps the current set) when the routes are invalid.
   */
  setRoutes(routes: readonly BridgeRoute[], labels?: readonly string[]): Promise<void>;
  /** Reads the routes path again now and applies it when it changed. */
  reload(): Promise<void>;
  /** Where the routes came from and the last reload error. */
  routesSource(): RoutesSource;
  /** Every route with its counters, partitions and lag (`GET /routes`). */
  listRoutes(): Promise<RouteStatus[]>;
  /** What each route would do with a message (`POST /routes/test`); nothing is sent. */
  testRoutes(input: RouteTestInput): RouteTestResult[];
  /**
   * Graceful stop: stop watching, unsubscribe QoS 0, give every partition back (in-flight
   * appends waited for up to `config.shutdownGrace`, positions written, leases deleted). Idempotent.
   */
  close(): Promise<void>;
}

/** Builds a bridge from its dependencies. Throws route errors for bad in-code routes. */
export function createBridge(deps: ServiceDeps, options: BridgeOptions = {}): Bridge {
  return new BridgeApp(deps, options);
}

class BridgeApp implements Bridge {
  readonly replicaId: string;
  readonly metrics: ServiceMetrics;
  readonly #deps: ServiceDeps;
  readonly #options: BridgeOptions;
  readonly #ownsMetrics: boolean;
  readonly #bridgeMetrics: BridgeMetrics;
  readonly #context: RelayContext;
  readonly #live: LiveRelay;
  readonly #path: string | undefined;
  readonly #partitions: number;
  #routes: readonly CompiledRoute[] = [];
  #source: RoutesSource;
  readonly #relays = new Map<string, RouteRelay>();
  #manager: PartitionManager | undefined;
  #watcher: RouteWatcher | undefined;
  /** Route set changes run one after another. */
  #applying: Promise<void> = Promise.resolve();
  #started = false;
  #closing: Promise<void> | undefined;
  #lagTimer: NodeJS.Timeout | undefined;

  constructor(deps: ServiceDeps, options: BridgeOptions) {
    this.#deps = deps;
    this.#options = options;
    const { config, layout } = deps;
    this.replicaId = options.replicaId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.#path = options.routes ? undefined : (options.routesPath ?? config.bridge.routes);
    this.#partitions = config.bridge.partitions;
    this.#ownsMetrics = deps.metrics === undefined;
    this.metrics = deps.metrics ?? new ServiceMetrics('bridge');
    this.#bridgeMetrics = new BridgeMetrics(this.metrics, () => deps.backbone.isReady());
    this.#context = {
      backbone: deps.backbone,
      layout,
      metrics: this.#bridgeMetrics,
      logger: deps.logger,
      tracing: deps.tracing ?? disabledTracing('bridge'),
      replicaId: this.replicaId,
      retained: new RetainedWriter(deps.backbone, layout),
      maxHops: config.bridge.maxHops,
      now: Date.now,
    };
    this.#live = new LiveRelay(this.#context);
    if (this.#path === undefined) {
      this.#routes = this.#compile(options.routes ?? IDENTITY_ROUTES);
      this.#source = { kind: options.routes ? 'code' : 'identity', appliedAt: Date.now() };
    } else {
      this.#source = { kind: 'file', path: this.#path, appliedAt: 0 };
    }
  }

  #compile(routes: readonly BridgeRoute[], labels?: readonly string[]): CompiledRoute[] {
    return compileRoutes(this.#deps.layout.prefix, routes, {
      maxHops: this.#deps.config.bridge.maxHops,
      ...(labels ? { labels } : {}),
    });
  }

  routes(): readonly CompiledRoute[] {
    return this.#routes;
  }

  async start(): Promise<void> {
    if (this.#started || this.#closing) return;
    const { backbone, layout, config, logger } = this.#deps;
    let text = '';
    if (this.#path !== undefined) {
      const loaded = await loadRoutes(this.#path);
      this.#routes = this.#compile(loaded.routes, loaded.labels);
      this.#source = { kind: 'file', path: this.#path, appliedAt: Date.now() };
      text = loaded.text;
    }
    this.#live.setRoutes(this.#routes);
    this.#live.start();
    const [leases, cursors] = await Promise.all([
      backbone.kv(layout.buckets.leases),
      CursorStore.open(backbone, layout, this.#partitions),
    ]);
    const tickMs = this.#options.timings?.tickMs ?? DEFAULT_TICK_MS;
    this.#manager = new PartitionManager({
      leases,
      cursors,
      replicaId: this.replicaId,
      partitions: this.#partitions,
      timings: {
        tickMs,
        ttlMs: this.#options.timings?.ttlMs ?? layout.buckets.leases.ttlMs ?? LEASE_TTL_MS,
        cursorFlushMs: this.#options.timings?.cursorFlushMs ?? DEFAULT_CURSOR_FLUSH_MS,
      },
      graceMs: config.shutdownGrace,
      logger,
      onReplicas: (replicas) => {
        this.#live.setShare(replicas);
        for (const relay of this.#relays.values()) relay.setShare(replicas);
      },
    });
    for (const route of this.#routes) if (route.enabled) this.#relays.set(route.id, this.#relay(route));
    await this.#manager.start([...this.#relays.values()]);
    if (this.#path !== undefined && this.#options.watch !== false) {
      this.#watcher = new RouteWatcher(
        this.#path,
        text,
        {
          change: async (loaded) => {
            await this.setRoutes(loaded.routes, loaded.labels);
            logger.info({ routes: this.#routes.map((r) => r.id), files: loaded.files }, 'bridge routes reloaded');
          },
          error: (error) => {
            this.#source = {
              ...this.#source,
              lastError: { at: Date.now(), message: String((error as Error)?.message ?? error) },
            };
            logger.error({ err: error, path: this.#path }, 'bridge routes not reloaded: keeping the routes in force');
          },
        },
        this.#options.watchPollMs,
      );
      await this.#watcher.start();
    }
    this.#lagTimer = setInterval(() => void this.#refreshLag(), LAG_REFRESH_MS);
    this.#lagTimer.unref();
    this.#started = true;
    logger.info(
      { replica: this.replicaId, routes: this.#routes.map((r) => r.id), partitions: this.heldPartitions() },
      'bridge started',
    );
  }

  #relay(route: CompiledRoute): RouteRelay {
    const relay = new RouteRelay(route, this.#context, {
      partitions: this.#partitions,
      maxInFlight: this.#deps.config.bridge.maxInFlight,
      restartDelayMs: this.#options.restartDelayMs ?? BRIDGE_RESTART_DELAY_MS,
    });
    relay.setShare(this.#manager?.replicas ?? 1);
    return relay;
  }

  async setRoutes(routes: readonly BridgeRoute[], labels?: readonly string[]): Promise<void> {
    const next = this.#compile(routes, labels); // throws before anything changes
    const run = this.#applying.then(() => this.#apply(next));
    this.#applying = run.catch(() => undefined);
    await run;
  }

  async #apply(next: readonly CompiledRoute[]): Promise<void> {
    if (this.#closing) return;
    const previous = this.#routes;
    this.#routes = next;
    this.#source = {
      kind: this.#path === undefined ? 'code' : 'file',
      ...(this.#path === undefined ? {} : { path: this.#path }),
      appliedAt: Date.now(),
    };
    this.#live.setRoutes(next);
    if (!this.#manager) return; // not started: start() builds the relays
    const wanted = new Map(next.filter((r) => r.enabled).map((r) => [r.id, r]));
    const removed: RouteRelay[] = [];
    for (const [id, relay] of this.#relays) {
      if (wanted.get(id)?.fingerprint !== relay.route.fingerprint) removed.push(relay);
    }
    for (const relay of removed) this.#relays.delete(relay.route.id);
    const added: RouteRelay[] = [];
    for (const route of wanted.values()) {
      if (this.#relays.has(route.id)) continue;
      const relay = this.#relay(route);
      this.#relays.set(route.id, relay);
      added.push(relay);
    }
    // A route that is gone (or disabled) forgets its position: enabled again later, it starts anew.
    const forget = new Set(previous.filter((r) => !wanted.has(r.id)).map((r) => r.id));
    await this.#manager.reconfigure(added, removed, forget);
  }

  async reload(): Promise<void> {
    await this.#watcher?.check();
  }

  routesSource(): RoutesSource {
    return this.#source;
  }

  isReady(): boolean {
    return this.#started && !this.#closing && this.#deps.backbone.isReady();
  }

  heldPartitions(): Record<string, number[]> {
    return Object.fromEntries(this.#manager?.held() ?? []);
  }

  replicas(): number {
    return this.#manager?.replicas ?? 1;
  }

  async listRoutes(): Promise<RouteStatus[]> {
    return Promise.all(
      this.#routes.map(async (route) => {
        const relay = this.#relays.get(route.id);
        const lag = relay ? await relay.lag().catch(() => undefined) : undefined;
        this.#bridgeMetrics.consumerLag(route.id, lag);
        return {
          id: route.id,
          enabled: route.enabled,
          route: route.definition,
          counters: { ...this.#bridgeMetrics.counters(route.id) },
          partitions: relay?.held() ?? [],
          inFlight: relay?.inFlight ?? 0,
          lag: lag ?? null,
        };
      }),
    );
  }

  testRoutes(input: RouteTestInput): RouteTestResult[] {
    const { layout, config } = this.#deps;
    const message: SourceMessage = {
      tier: input.tier,
      cls: input.qos === 0 ? '0' : '1',
      topic: input.topic,
      payload: input.payload,
      headers: input.headers,
    };
    const ctx = {
      prefix: layout.prefix,
      retainedPrefix: layout.retainedPrefix,
      maxHops: config.bridge.maxHops,
      now: Date.now(),
    };
    return this.#routes.map((route) => ({
      route: route.id,
      enabled: route.enabled,
      plan: planCrossing(route, message, ctx),
    }));
  }

  async #refreshLag(): Promise<void> {
    for (const route of this.#routes) {
      const relay = this.#relays.get(route.id);
      const lag = relay ? await relay.lag().catch(() => undefined) : undefined;
      this.#bridgeMetrics.consumerLag(route.id, lag);
    }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#lagTimer);
      await this.#watcher?.close();
      await this.#applying;
      this.#live.stop();
      await this.#manager?.close();
      this.#bridgeMetrics.detach();
      if (this.#ownsMetrics) await this.metrics.shutdown();
    })();
    return this.#closing;
  }
}

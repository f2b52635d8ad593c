import type { ServiceMetrics } from '@protomesh/telemetry';
import type { Tier } from '@protomesh/topic-map';

type Meter = ServiceMetrics['meter'];
type ObservableCounter = ReturnType<Meter['createObservableCounter']>;
type ObservableGauge = ReturnType<Meter['createObservableGauge']>;
type Observer = Parameters<Parameters<ObservableGauge['addCallback']>[0]>[0];

/** How often summed tier counters reach the shared instruments, in ms. */
export const TIER_COUNTER_FLUSH_MS = 1_000;

/** `protomesh_jetstream_redeliveries{tier, consumer}` attributes of the route readers, per source tier (constants: no allocation per message). */
const REDELIVERY_ATTRS: Record<Tier, { readonly tier: Tier; readonly consumer: 'route' }> = {
  mqtt: { tier: 'mqtt', consumer: 'route' },
  ws: { tier: 'ws', consumer: 'route' },
};

/** Index of a tier counter: direction, tier, class. */
function slot(dir: 'in' | 'out', tier: Tier, qos: '0' | '1'): number {
  return (dir === 'in' ? 0 : 4) + (tier === 'mqtt' ? 0 : 2) + (qos === '0' ? 0 : 1);
}

/** What happened to one message on one route (the `outcome` label). */
export type Outcome =
  | 'bridged'
  | 'skipped_loop'
  | 'expired'
  | 'filtered'
  | 'rate_limited'
  | 'dead_lettered'
  | 'invalid'
  | 'failed';

/** Counters of one route on this replica since it started (`GET /routes`). */
export interface RouteCounters {
  /** Messages the route's filter matched (every outcome below but `failed` retries). */
  matched: number;
  /** Carried into the target tier. */
  delivered: number;
  /** Appends that failed (the message is retried from the route's position). */
  failed: number;
  deadLettered: number;
  skippedLoop: number;
  expired: number;
  filtered: number;
  rateLimited: number;
}

function zero(): RouteCounters {
  return {
    matched: 0,
    delivered: 0,
    failed: 0,
    deadLettered: 0,
    skippedLoop: 0,
    expired: 0,
    filtered: 0,
    rateLimited: 0,
  };
}

const FIELD: Record<Outcome, keyof RouteCounters | undefined> = {
  bridged: 'delivered',
  skipped_loop: 'skippedLoop',
  expired: 'expired',
  filtered: 'filtered',
  rate_limited: 'rateLimited',
  dead_lettered: 'deadLettered',
  invalid: undefined,
  failed: 'failed',
};

/**
 * The bridge's telemetry points: the shared tier instruments plus
 * `protomesh_bridge_messages{route, outcome}`, `protomesh_bridge_partitions_held{route}`,
 * `protomesh_bridge_consumer_lag{route}` and `protomesh_jetstream_redeliveries{tier, consumer="route"}`.
 */
export class BridgeMetrics {
  readonly #service: ServiceMetrics;
  readonly #messages: ObservableCounter;
  readonly #partitionsHeld: ObservableGauge;
  readonly #consumerLag: ObservableGauge;
  readonly #held = new Map<string, number>();
  readonly #lags = new Map<string, number>();
  readonly #observeLag = (result: Observer) => {
    for (const [route, lag] of this.#lags) result.observe(lag, { route });
  };
  readonly #counters = new Map<string, RouteCounters>();
  /** Per route: counts by outcome (read by the observable counter, so counting costs no attribute lookups) and its counters. */
  readonly #outcomes = new Map<string, { byOutcome: Map<Outcome, number>; counters: RouteCounters }>();
  readonly #observeMessages = (result: Observer) => {
    for (const [route, outcomes] of this.#outcomes) {
      for (const [outcome, n] of outcomes.byOutcome) result.observe(n, { route, outcome });
    }
  };
  readonly #observePartitions = (result: Observer) => {
    for (const [route, held] of this.#held) result.observe(held, { route });
  };
  readonly #observeBackbone: (result: Observer) => void;
  /**
   * Tier counters summed here and added to the shared instruments once a second: an add with
   * attributes per message costs more than the rest of a skipped message. Indexed by
   * {@link slot} (direction, tier, class), so counting allocates nothing.
   */
  readonly #pending: ReadonlyArray<{ tier: Tier; qos: '0' | '1'; dir: 'in' | 'out'; n: number; bytes: number }> = (
    ['in', 'out'] as const
  ).flatMap((dir) =>
    (['mqtt', 'ws'] as const).flatMap((tier) =>
      (['0', '1'] as const).map((qos) => ({ tier, qos, dir, n: 0, bytes: 0 })),
    ),
  );
  readonly #flushTimer: NodeJS.Timeout;

  constructor(service: ServiceMetrics, backboneReady: () => boolean) {
    this.#service = service;
    this.#flushTimer = setInterval(() => this.flush(), TIER_COUNTER_FLUSH_MS);
    this.#flushTimer.unref();
    this.#messages = service.meter.createObservableCounter('protomesh_bridge_messages', {
      description: 'Messages seen by a bridge route, by outcome',
    });
    this.#messages.addCallback(this.#observeMessages);
    this.#partitionsHeld = service.meter.createObservableGauge('protomesh_bridge_partitions_held', {
      description: 'QoS 1 partitions of a route this replica owns',
    });
    this.#partitionsHeld.addCallback(this.#observePartitions);
    this.#consumerLag = service.meter.createObservableGauge('protomesh_bridge_consumer_lag', {
      description: 'Messages of a route not yet delivered to this replica’s QoS 1 reader',
    });
    this.#consumerLag.addCallback(this.#observeLag);
    this.#observeBackbone = (result) => result.observe(backboneReady() ? 1 : 0);
    service.instruments.backboneConnected.addCallback(this.#observeBackbone);
    // Both series exist from the start, so a dashboard shows 0 rather than no data.
    for (const attrs of Object.values(REDELIVERY_ATTRS)) service.instruments.redeliveries.add(0, attrs);
  }

  /** A route reader got a message again (JetStream delivery count > 1). */
  redelivered(tier: Tier): void {
    this.#service.instruments.redeliveries.add(1, REDELIVERY_ATTRS[tier]);
  }

  /** Counts one message on `route` with `outcome`; `matched` says whether it counts as matched. */
  outcome(route: string, outcome: Outcome, matched = outcome !== 'failed' && outcome !== 'invalid'): void {
    let outcomes = this.#outcomes.get(route);
    if (!outcomes) {
      outcomes = { byOutcome: new Map(), counters: this.counters(route) };
      this.#outcomes.set(route, outcomes);
    }
    outcomes.byOutcome.set(outcome, (outcomes.byOutcome.get(outcome) ?? 0) + 1);
    const counters = outcomes.counters;
    if (matched) counters.matched += 1;
    const field = FIELD[outcome];
    if (field) counters[field] += 1;
  }

  /** The live counters of `route` (created at zero). */
  counters(route: string): RouteCounters {
    let counters = this.#counters.get(route);
    if (!counters) {
      counters = zero();
      this.#counters.set(route, counters);
    }
    return counters;
  }

  /** A message taken from the source tier. */
  received(tier: Tier, qos: '0' | '1', bytes: number): void {
    this.#count(tier, qos, 'in', bytes);
  }

  /** A message handed to (QoS 0) or stored in (QoS 1) the target tier. */
  sent(tier: Tier, qos: '0' | '1', bytes: number): void {
    this.#count(tier, qos, 'out', bytes);
  }

  #count(tier: Tier, qos: '0' | '1', dir: 'in' | 'out', bytes: number): void {
    const entry = this.#pending[slot(dir, tier, qos)]!;
    entry.n += 1;
    entry.bytes += bytes;
  }

  /** Adds the tier counts summed since the last flush to the shared instruments. */
  flush(): void {
    const { messagesIn, messagesOut, bytesIn, bytesOut } = this.#service.instruments;
    for (const entry of this.#pending) {
      if (entry.n === 0) continue;
      (entry.dir === 'in' ? messagesIn : messagesOut).add(entry.n, { tier: entry.tier, qos: entry.qos });
      (entry.dir === 'in' ? bytesIn : bytesOut).add(entry.bytes, { tier: entry.tier });
      entry.n = 0;
      entry.bytes = 0;
    }
  }

  /** How many of `route`'s partitions this replica owns (the partitions gauge). */
  partitionsHeld(route: string, held: number): void {
    this.#held.set(route, held);
  }

  /** The reader lag of `route` on this replica (undefined: no reader, the series is dropped). */
  consumerLag(route: string, lag: number | undefined): void {
    if (lag === undefined) this.#lags.delete(route);
    else this.#lags.set(route, lag);
  }

  /** Detaches the observable callbacks (the metrics may outlive this bridge). */
  detach(): void {
    clearInterval(this.#flushTimer);
    this.flush();
    this.#partitionsHeld.removeCallback(this.#observePartitions);
    this.#consumerLag.removeCallback(this.#observeLag);
    this.#messages.removeCallback(this.#observeMessages);
    this.#service.instruments.backboneConnected.removeCallback(this.#observeBackbone);
  }
}

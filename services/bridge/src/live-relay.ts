/**
 * QoS 0: at most once, like the publish that produced it. One queue-group subscription per
 * source tier on every class-0 subject, so each message reaches exactly one bridge replica,
 * which applies every matching route once. One subscription per tier rather than one per
 * route: NATS picks one member per queue group among all matching subscriptions, so two
 * overlapping route subscriptions in one group would each see only part of the traffic.
 * `$` topics live on the `$0` class token, which the `#` subjects do not match, so they are
 * never bridged [MQTT-4.7.2-1]. The route set is swapped in place on reload: no message
 * between two route sets is lost or seen by both.
 */
import type { BackboneMessage, Subscription } from '@protomesh/backbone';
import { traceLogFields } from '@protomesh/telemetry';
import { filterToSubjects, subjectToTopic, TIERS, type Tier } from '@protomesh/topic-map';
import { carry, publishDeadLetter } from './carry.js';
import { planCrossing, SUBJECT_CACHE_MAX, TopicPlan } from './crossing.js';
import { ProcessTrace } from './message-trace.js';
import { TokenBucket } from './rate-limit.js';
import type { RelayContext } from './relay-context.js';
import type { CompiledRoute } from './routes.js';

/** A class 0 source subject: its topic and what each route of its tier makes of it (same order; null: no match). */
interface LiveSubject {
  readonly topic: string;
  readonly plans: ReadonlyArray<TopicPlan | null>;
}

/** The QoS 0 relay of every route on this replica. */
export class LiveRelay {
  readonly #ctx: RelayContext;
  #routes: ReadonlyMap<Tier, readonly CompiledRoute[]> = new Map();
  /** Per source tier, subject → what it maps to under the current routes (null: not a class 0 mesh subject). */
  #subjects = new Map<Tier, Map<string, LiveSubject | null>>();
  readonly #subscriptions = new Map<Tier, Subscription[]>();
  /** Rate limits by route id; kept across reloads while the limit is unchanged. */
  #buckets = new Map<string, { bucket: TokenBucket; key: string }>();
  #replicas = 1;
  #started = false;

  constructor(context: RelayContext) {
    this.#ctx = context;
  }

  /** Installs `routes` (the enabled ones), joining or leaving each tier's queue group as needed. */
  setRoutes(routes: readonly CompiledRoute[]): void {
    const byTier = new Map<Tier, CompiledRoute[]>();
    const buckets = new Map<string, { bucket: TokenBucket; key: string }>();
    for (const route of routes) {
      if (!route.enabled) continue;
      const list = byTier.get(route.from.tier) ?? [];
      list.push(route);
      byTier.set(route.from.tier, list);
      if (route.rateLimit) {
        const key = JSON.stringify(route.rateLimit);
        const kept = this.#buckets.get(route.id);
        buckets.set(
          route.id,
          kept?.key === key ? kept : { bucket: new TokenBucket(route.rateLimit.perSecond, route.rateLimit.burst), key },
        );
      }
    }
    this.#routes = byTier;
    this.#subjects = new Map();
    this.#buckets = buckets;
    this.setShare(this.#replicas);
    if (this.#started) this.#subscribe();
  }

  /** This replica's part of each route's rate limit: queue groups spread messages evenly, so `1/replicas`. */
  setShare(replicas: number): void {
    this.#replicas = Math.max(1, replicas);
    for (const tier of this.#routes.values()) {
      for (const route of tier) {
        const rate = route.rateLimit;
        const entry = this.#buckets.get(route.id);
        if (rate && entry) {
          entry.bucket.configure(rate.perSecond / this.#replicas, Math.max(1, Math.floor(rate.burst / this.#replicas)));
        }
      }
    }
  }

  /** Joins the queue group on every source tier that has a route. */
  start(): void {
    this.#started = true;
    this.#subscribe();
  }

  /** Unsubscribes: messages published from now on go to the other replicas of the queue group. */
  stop(): void {
    this.#started = false;
    for (const subscriptions of this.#subscriptions.values()) for (const s of subscriptions) s.unsubscribe();
    this.#subscriptions.clear();
  }

  #subscribe(): void {
    const { backbone, layout } = this.#ctx;
    for (const tier of TIERS) {
      const wanted = (this.#routes.get(tier)?.length ?? 0) > 0;
      const current = this.#subscriptions.get(tier);
      if (wanted && !current) {
        const subjects = filterToSubjects({ prefix: layout.prefix, tier }, '#', { classes: ['0'] });
        this.#subscriptions.set(
          tier,
          subjects.map((subject) =>
            backbone.subscribe(subject, (message) => this.#relay(tier, message), { queue: `${layout.prefix}.bridge` }),
          ),
        );
      } else if (!wanted && current) {
        for (const s of current) s.unsubscribe();
        this.#subscriptions.delete(tier);
      }
    }
  }

  #relay(tier: Tier, message: BackboneMessage): void {
    const { backbone, layout, metrics, retained, logger, tracing } = this.#ctx;
    const routes = this.#routes.get(tier);
    if (!routes) return;
    metrics.received(tier, '0', message.payload.byteLength);
    const source = this.#known(tier, routes, message.subject);
    if (source === null) {
      const trace = tracing.enabled ? this.#trace(tier, message) : undefined;
      for (const route of routes) {
        metrics.outcome(route.id, 'invalid');
        trace?.route(route.id);
        trace?.settle('invalid');
      }
      trace?.done();
      return;
    }
    const input = { tier, cls: '0' as const, topic: source.topic, payload: message.payload, headers: message.headers };
    const ctx = {
      prefix: layout.prefix,
      retainedPrefix: layout.retainedPrefix,
      maxHops: this.#ctx.maxHops,
      now: this.#ctx.now(),
    };
    // One process span per source message, started at the first route it concerns.
    let trace: ProcessTrace | undefined;
    for (let i = 0; i < routes.length; i++) {
      const topicPlan = source.plans[i];
      if (!topicPlan) continue; // outside the route's filter
      const route = routes[i]!;
      const plan = planCrossing(route, input, ctx, topicPlan);
      if (plan.kind === 'no_match') continue;
      // A message this bridge already carried coming back (loop prevention) is not worked on: no span.
      if (tracing.enabled && !(plan.kind === 'skip' && plan.reason === 'skipped_loop')) {
        trace ??= this.#trace(tier, message);
        trace.route(route.id);
      }
      switch (plan.kind) {
        case 'skip':
          metrics.outcome(route.id, plan.reason);
          trace?.settle(plan.reason);
          continue;
        case 'dead_letter':
          publishDeadLetter(backbone, layout.prefix, route, input, plan.error);
          metrics.outcome(route.id, 'dead_lettered');
          trace?.settle('dead_lettered');
          continue;
        case 'cross': {
          const bucket = this.#buckets.get(route.id)?.bucket;
          if (bucket && !bucket.take()) {
            metrics.outcome(route.id, 'rate_limited'); // QoS 0 is at most once: over the rate it is dropped
            trace?.settle('rate_limited');
            continue;
          }
          const forward = trace?.forward(route.id, plan);
          const sent = carry(backbone, layout, retained, forward?.plan ?? plan, undefined);
          const cls = plan.qos === 0 ? '0' : '1';
          sent.then(
            () => {
              metrics.outcome(route.id, 'bridged');
              metrics.sent(plan.tier, cls, plan.payload.byteLength);
              if (forward) trace?.forwarded(forward.span, 'bridged');
            },
            (error: unknown) => {
              // The backbone is closing or the target refused it: QoS 0 is at most once.
              metrics.outcome(route.id, 'failed', true);
              logger.debug(
                { err: error, route: route.id, ...(forward ? traceLogFields(forward.span) : {}) },
                'bridge QoS 0 crossing failed',
              );
              if (forward) trace?.forwarded(forward.span, 'failed', error);
            },
          );
        }
      }
    }
    trace?.done();
  }

  /** What `subject` maps to under `routes` (the current routes of `tier`), worked out once per subject. */
  #known(tier: Tier, routes: readonly CompiledRoute[], subject: string): LiveSubject | null {
    let cache = this.#subjects.get(tier);
    if (!cache) {
      cache = new Map();
      this.#subjects.set(tier, cache);
    }
    let known = cache.get(subject);
    if (known === undefined) {
      const { prefix, retainedPrefix } = this.#ctx.layout;
      const source = subjectToTopic(prefix, subject);
      known =
        source?.cls === '0'
          ? {
              topic: source.topic,
              plans: routes.map((route) => {
                const plan = new TopicPlan(route, tier, source.topic, { prefix, retainedPrefix });
                return plan.matches ? plan : null;
              }),
            }
          : null;
      if (cache.size >= SUBJECT_CACHE_MAX) cache.clear();
      cache.set(subject, known);
    }
    return known;
  }

  #trace(tier: Tier, message: BackboneMessage): ProcessTrace {
    return new ProcessTrace(this.#ctx.tracing, { tier, message, clientId: this.#ctx.replicaId });
  }
}

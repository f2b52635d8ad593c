/**
 * QoS 0: at most once, like the publish that produced it. One queue-group subscription per
 * source tier on every class-0 subject, so each message reaches exactly one bridge replica,
 * which republishes it on every matching route. One subscription per tier rather than one
 * per route: NATS picks one member per queue group among all matching subscriptions, so two
 * overlapping route subscriptions in one group would each see only part of the traffic.
 * `$` topics live on the `$0` class token, which the `#` subjects do not match, so they are
 * never bridged [MQTT-4.7.2-1].
 */
import type { BackboneMessage, Subscription } from '@protomesh/backbone';
import { filterToSubjects, subjectToTopic, TIERS, type Tier, topicToSubject } from '@protomesh/topic-map';
import { bridgedHeaders, verdict } from './forward.js';
import type { RelayContext } from './relay-context.js';
import { type CompiledRoute, routeMatches, targetTopic } from './routes.js';

/** The QoS 0 relay of every route on this replica. */
export class LiveRelay {
  readonly #routes: readonly CompiledRoute[];
  readonly #ctx: RelayContext;
  #subscriptions: Subscription[] = [];

  constructor(routes: readonly CompiledRoute[], context: RelayContext) {
    this.#routes = routes;
    this.#ctx = context;
  }

  /** Joins the queue group on every source tier that has a route. */
  start(): void {
    const { backbone, layout } = this.#ctx;
    for (const tier of TIERS) {
      const routes = this.#routes.filter((route) => route.from.tier === tier);
      if (routes.length === 0) continue;
      for (const subject of filterToSubjects({ prefix: layout.prefix, tier }, '#', { classes: ['0'] })) {
        this.#subscriptions.push(
          backbone.subscribe(subject, (message) => this.#relay(tier, routes, message), {
            queue: `${layout.prefix}.bridge`,
          }),
        );
      }
    }
  }

  /** Unsubscribes: messages published from now on go to the other replicas of the queue group. */
  stop(): void {
    for (const subscription of this.#subscriptions) subscription.unsubscribe();
    this.#subscriptions = [];
  }

  #relay(tier: Tier, routes: readonly CompiledRoute[], message: BackboneMessage): void {
    const { backbone, layout, metrics } = this.#ctx;
    metrics.received(tier, '0', message.payload.byteLength);
    const source = subjectToTopic(layout.prefix, message.subject);
    if (source?.cls !== '0') {
      for (const route of routes) metrics.outcome(route.id, 'invalid');
      return;
    }
    const v = verdict(message.headers, this.#ctx.now());
    for (const route of routes) {
      if (!routeMatches(route, source.topic)) continue;
      if (v !== 'bridge') {
        metrics.outcome(route.id, v);
        continue;
      }
      let subject: string;
      try {
        subject = topicToSubject({ prefix: layout.prefix, tier: route.to.tier }, targetTopic(route, source.topic), '0');
      } catch {
        metrics.outcome(route.id, 'invalid');
        continue;
      }
      try {
        backbone.publish(subject, message.payload, bridgedHeaders(message.headers, route.id));
      } catch {
        metrics.outcome(route.id, 'failed'); // the backbone is closing or disconnected: QoS 0 is at most once
        continue;
      }
      metrics.outcome(route.id, 'bridged');
      metrics.sent(route.to.tier, '0', message.payload.byteLength);
    }
  }
}

/**
 * Bridge routes: which topics of one tier cross into the other. The bridge takes a list of
 * routes as its input; until route files exist (a later issue) it runs
 * {@link IDENTITY_ROUTES}, which carry every topic across unchanged in both directions.
 */
import { filterToSubjects, isValidTopicFilter, type Tier, topicMatches } from '@protomesh/topic-map';
import { RouteDuplicateError, RouteInvalidError } from './errors.js';

/** One declarative route: messages on topics matching `from.filter` in `from.tier` go to `to.tier`. */
export interface BridgeRoute {
  /**
   * Stable id: carried in the `Mesh-Route` header, the suffix of every deduplication id and
   * the `route` metric label. Changing it makes the bridge start a new durable consumer.
   */
  readonly id: string;
  readonly from: { readonly tier: Tier; readonly filter: string };
  /** The topic is kept unchanged (topic rewriting comes with route files). */
  readonly to: { readonly tier: Tier };
}

/** Every topic crosses unchanged, in both directions (MQTT `a/b` ↔ WebSocket `a/b`). */
export const IDENTITY_ROUTES: readonly BridgeRoute[] = Object.freeze([
  Object.freeze({
    id: 'mqtt->ws',
    from: Object.freeze({ tier: 'mqtt', filter: '#' }),
    to: Object.freeze({ tier: 'ws' }),
  }),
  Object.freeze({
    id: 'ws->mqtt',
    from: Object.freeze({ tier: 'ws', filter: '#' }),
    to: Object.freeze({ tier: 'mqtt' }),
  }),
] as const satisfies readonly BridgeRoute[]);

/** A validated route with the names the bridge derives from it. */
export interface CompiledRoute extends BridgeRoute {
  /** `id` reduced to `[A-Za-z0-9_-]`: `mqtt->ws` → `mqtt-to-ws`. */
  readonly slug: string;
  /** Durable consumer name on the source tier's stream, shared by every replica. */
  readonly durable: string;
  /** Key of the ownership lease in the leases bucket. */
  readonly leaseKey: string;
  /**
   * Consumer filter subject (class 1 of the source tier). A consumer takes one filter subject
   * on nats-server 2.9, so a filter that maps to several subjects (`a/#` is `a` plus `a.>`)
   * consumes the whole tier and {@link routeMatches} picks the topics.
   */
  readonly consumerFilter: string;
}

/** Route ids: printable, no comma (the `Mesh-Route` header is a comma-separated list), at most 64 characters. */
const ROUTE_ID = /^[A-Za-z0-9_.:>-]{1,64}$/;
const TIERS = new Set<string>(['mqtt', 'ws']);

/**
 * Validates `routes` and derives consumer, lease and subject names. Throws
 * {@link RouteInvalidError} naming the field (`routes[1].from.filter: …`) or
 * {@link RouteDuplicateError}.
 */
export function compileRoutes(prefix: string, routes: readonly BridgeRoute[]): CompiledRoute[] {
  const bySlug = new Map<string, string>();
  return routes.map((route, i) => {
    const at = `routes[${i}]`;
    if (typeof route?.id !== 'string' || !ROUTE_ID.test(route.id)) {
      throw new RouteInvalidError(`${at}.id`, 'expected 1–64 characters of letters, digits, _ . : > or -');
    }
    if (!TIERS.has(route.from?.tier)) throw new RouteInvalidError(`${at}.from.tier`, "expected 'mqtt' or 'ws'");
    if (typeof route.from.filter !== 'string' || !isValidTopicFilter(route.from.filter)) {
      throw new RouteInvalidError(`${at}.from.filter`, 'expected an MQTT topic filter');
    }
    if (!TIERS.has(route.to?.tier)) throw new RouteInvalidError(`${at}.to.tier`, "expected 'mqtt' or 'ws'");
    if (route.to.tier === route.from.tier) {
      throw new RouteInvalidError(`${at}.to.tier`, `expected the other tier than from.tier (${route.from.tier})`);
    }
    const slug = route.id.replaceAll('->', '-to-').replace(/[^A-Za-z0-9_-]/g, '_');
    const clash = bySlug.get(slug);
    if (clash !== undefined) throw new RouteDuplicateError(`${at}.id`, route.id, clash);
    bySlug.set(slug, route.id);
    const subjects = filterToSubjects({ prefix, tier: route.from.tier }, route.from.filter, { classes: ['1'] });
    const consumerFilter =
      subjects.length === 1
        ? subjects[0]!
        : filterToSubjects({ prefix, tier: route.from.tier }, '#', { classes: ['1'] })[0]!;
    return Object.freeze({
      id: route.id,
      from: Object.freeze({ tier: route.from.tier, filter: route.from.filter }),
      to: Object.freeze({ tier: route.to.tier }),
      slug,
      durable: `bridge-${slug}`,
      leaseKey: `bridge.${slug}`,
      consumerFilter,
    });
  });
}

/** True when `route` carries messages on `topic` (of its source tier). */
export function routeMatches(route: BridgeRoute, topic: string): boolean {
  return topicMatches(route.from.filter, topic);
}

/** The topic a message on `topic` gets in the target tier (identity until routes can rewrite). */
export function targetTopic(_route: BridgeRoute, topic: string): string {
  return topic;
}

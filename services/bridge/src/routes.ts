/**
 * Bridge routes: which topics of one tier cross into a tier (the other, or the same one
 * under a rewritten topic), and what happens to them on the way. The bridge takes a list of
 * routes (from a routes file, see `route-file.ts`, or in code); with none it runs
 * {@link IDENTITY_ROUTES}, which carry every topic across unchanged in both directions.
 */
import { filterToSubjects, type Tier } from '@protomesh/topic-map';
import { type CompiledCondition, compileCondition, type RouteCondition } from './condition.js';
import { RouteCycleError, RouteDuplicateError, RouteInvalidError } from './errors.js';
import {
  type CaptureFilter,
  compileTemplate,
  filtersOverlap,
  parseCaptureFilter,
  type TopicTemplate,
  templateCoverage,
} from './template.js';
import type { PayloadTransform } from './transform.js';

/** MQTT QoS levels. */
export type QosLevel = 0 | 1 | 2;

/** QoS policy: keep the source's, cap it at a level, or set a level. */
export type QosPolicy = 'keep' | { readonly cap: QosLevel } | { readonly set: QosLevel };

/** Retain policy: keep the source flag, clear it, or set it. */
export type RetainPolicy = 'keep' | 'clear' | 'set';

/** How MQTT 5 user properties (WebSocket message properties) cross. */
export interface PropertyMapping {
  /** Carry the source's properties (default true). */
  readonly forward?: boolean;
  /** Names not carried. */
  readonly drop?: readonly string[];
  /** Source name → target name. */
  readonly rename?: Readonly<Record<string, string>>;
  /** Properties added (after the carried ones), name → value. */
  readonly set?: Readonly<Record<string, string>>;
}

/** One declarative route, as written in a routes file (see `routes.schema.json`). */
export interface BridgeRoute {
  /**
   * Stable id: carried in the `Mesh-Route` header, part of every deduplication id, the
   * `route` metric label and the key of the route's position. Renaming a route starts a new one.
   */
  readonly id: string;
  /** Default true; a disabled route is listed but carries nothing. */
  readonly enabled?: boolean;
  readonly description?: string;
  /** Source tier and filter; `+name` / `#name` levels are named captures. */
  readonly from: { readonly tier: Tier; readonly filter: string };
  /** Target tier and topic template (`{1}`, `{#}`, `{name}`); default: the source topic unchanged. */
  readonly to: { readonly tier: Tier; readonly topic?: string };
  readonly qos?: QosPolicy;
  readonly retain?: RetainPolicy;
  readonly transform?: { readonly payload?: PayloadTransform; readonly contentType?: string };
  readonly properties?: PropertyMapping;
  /** Carry only messages whose JSON payload meets this condition. */
  readonly when?: RouteCondition;
  /** At most this many messages a second over the route (all replicas together). */
  readonly rateLimit?: { readonly perSecond: number; readonly burst?: number };
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

/** A validated route with everything the bridge derives from it. */
export interface CompiledRoute {
  readonly id: string;
  readonly enabled: boolean;
  /** The route as given (frozen), for listings. */
  readonly definition: BridgeRoute;
  /** JSON of the definition: two routes with the same id and fingerprint behave the same. */
  readonly fingerprint: string;
  /** `id` reduced to `[A-Za-z0-9_-]`: `mqtt->ws` → `mqtt-to-ws`. */
  readonly slug: string;
  readonly from: { readonly tier: Tier; readonly filter: string };
  readonly to: { readonly tier: Tier; readonly topic: string | undefined };
  readonly filter: CaptureFilter;
  /** Undefined: the target topic is the source topic. */
  readonly template: TopicTemplate | undefined;
  readonly qos: QosPolicy;
  readonly retain: RetainPolicy;
  readonly transform: PayloadTransform;
  readonly contentType: string | undefined;
  readonly properties: {
    readonly forward: boolean;
    readonly drop: ReadonlySet<string>;
    readonly rename: ReadonlyMap<string, string>;
    readonly set: ReadonlyArray<readonly [string, string]>;
  };
  readonly condition: CompiledCondition | undefined;
  readonly rateLimit: { readonly perSecond: number; readonly burst: number } | undefined;
  /**
   * The one class-1 subject of the source tier covering the filter (a filter that maps to
   * several subjects, `a/#` is `a` plus `a.>`, gets the whole tier class). For listings and
   * plain NATS tooling: the bridge's readers read the stream whole (see `route-relay.ts`).
   */
  readonly consumerFilter: string;
}

/** Route ids: printable, no comma (the `Mesh-Route` header is a comma-separated list), at most 64 characters. */
export const ROUTE_ID_PATTERN = '^[A-Za-z0-9_.:>-]{1,64}$';
const ROUTE_ID = new RegExp(ROUTE_ID_PATTERN);
const TIERS = new Set<string>(['mqtt', 'ws']);
/** Hops a message may make when unconfigured: it crosses the bridge once. */
export const DEFAULT_MAX_HOPS = 1;

/** Options of {@link compileRoutes}. */
export interface CompileOptions {
  /**
   * Most bridge crossings per message (default {@link DEFAULT_MAX_HOPS}). Above 1 routes may
   * chain, and a route set with a cycle is rejected.
   */
  readonly maxHops?: number;
  /** How errors name each route (default `routes[<index>]`; a directory of files adds the file). */
  readonly labels?: readonly string[];
}

/** The slug of a route id: consumer, lease, key and subject token safe. */
export function routeSlug(id: string): string {
  return id.replaceAll('->', '-to-').replace(/[^A-Za-z0-9_-]/g, '_');
}

/**
 * Validates `routes` (the semantic rules a JSON Schema cannot state: filters, templates,
 * duplicate ids, cycles) and derives names. Throws {@link RouteInvalidError} naming the
 * field (`routes[1].to.topic: …`), {@link RouteDuplicateError} or {@link RouteCycleError}.
 */
export function compileRoutes(
  prefix: string,
  routes: readonly BridgeRoute[],
  options: CompileOptions = {},
): CompiledRoute[] {
  const bySlug = new Map<string, string>();
  const label = (i: number) => options.labels?.[i] ?? `routes[${i}]`;
  const compiled = routes.map((route, i) => {
    const out = compileRoute(prefix, route, label(i));
    const clash = bySlug.get(out.slug);
    if (clash !== undefined) throw new RouteDuplicateError(`${label(i)}.id`, route.id, clash);
    bySlug.set(out.slug, route.id);
    return out;
  });
  checkCycles(compiled, options.maxHops ?? DEFAULT_MAX_HOPS, label);
  return compiled;
}

function compileRoute(prefix: string, route: BridgeRoute, at: string): CompiledRoute {
  const invalid = (field: string, expected: string) => new RouteInvalidError(`${at}.${field}`, expected);
  if (typeof route?.id !== 'string' || !ROUTE_ID.test(route.id)) {
    throw invalid('id', 'expected 1–64 characters of letters, digits, _ . : > or -');
  }
  if (!TIERS.has(route.from?.tier)) throw invalid('from.tier', "expected 'mqtt' or 'ws'");
  const filter = parseCaptureFilter(route.from.filter);
  if (typeof filter === 'string') throw invalid('from.filter', filter);
  if (!TIERS.has(route.to?.tier)) throw invalid('to.tier', "expected 'mqtt' or 'ws'");
  let template: TopicTemplate | undefined;
  if (route.to.topic !== undefined) {
    const t = compileTemplate(route.to.topic, filter);
    if (typeof t === 'string') throw invalid('to.topic', t);
    template = t;
  }
  const qos = route.qos ?? 'keep';
  if (
    qos !== 'keep' &&
    !(typeof qos === 'object' && qos !== null && ('cap' in qos ? isQos(qos.cap) : 'set' in qos && isQos(qos.set)))
  ) {
    throw invalid('qos', "expected 'keep', {cap: 0|1|2} or {set: 0|1|2}");
  }
  const retain = route.retain ?? 'keep';
  if (!['keep', 'clear', 'set'].includes(retain)) throw invalid('retain', "expected 'keep', 'clear' or 'set'");
  let condition: CompiledCondition | undefined;
  if (route.when !== undefined) {
    const { op, value } = route.when;
    if (op !== 'exists' && op !== 'absent' && value === undefined) throw invalid('when.value', `required by op ${op}`);
    if (op === 'in' && !Array.isArray(value)) throw invalid('when.value', 'expected an array for op in');
    if (route.when.op === 'matches') {
      try {
        new RegExp(String(route.when.value));
      } catch (error) {
        throw invalid('when.value', `expected a regular expression (${(error as Error).message})`);
      }
    }
    condition = compileCondition(route.when);
  }
  const rate = route.rateLimit;
  if (rate !== undefined && !(typeof rate.perSecond === 'number' && rate.perSecond > 0)) {
    throw invalid('rateLimit.perSecond', 'expected a number above 0');
  }
  const props = route.properties ?? {};
  const subjects = filterToSubjects({ prefix, tier: route.from.tier }, filter.mqttFilter, { classes: ['1'] });
  const consumerFilter =
    subjects.length === 1
      ? subjects[0]!
      : filterToSubjects({ prefix, tier: route.from.tier }, '#', { classes: ['1'] })[0]!;
  const definition = deepFreeze(structuredClone(route));
  return Object.freeze({
    id: route.id,
    enabled: route.enabled !== false,
    definition,
    fingerprint: JSON.stringify(definition),
    slug: routeSlug(route.id),
    from: Object.freeze({ tier: route.from.tier, filter: route.from.filter }),
    to: Object.freeze({ tier: route.to.tier, topic: route.to.topic }),
    filter,
    template,
    qos,
    retain,
    transform: route.transform?.payload ?? 'pass',
    contentType: route.transform?.contentType,
    properties: Object.freeze({
      forward: props.forward !== false,
      drop: new Set(props.drop ?? []),
      rename: new Map(Object.entries(props.rename ?? {})),
      set: Object.freeze(Object.entries(props.set ?? {})),
    }),
    condition,
    rateLimit: rate === undefined ? undefined : { perSecond: rate.perSecond, burst: rate.burst ?? rate.perSecond },
    consumerFilter,
  });
}

function isQos(value: unknown): value is QosLevel {
  return value === 0 || value === 1 || value === 2;
}

/** A filter covering every topic `route` can write (its template's image, or its own filter). */
export function routeOutput(route: CompiledRoute): string {
  return route.template ? templateCoverage(route.template) : route.filter.mqttFilter;
}

/** True when a message `from` writes can be picked up by `to`. */
export function feeds(from: CompiledRoute, to: CompiledRoute): boolean {
  return from.to.tier === to.from.tier && filtersOverlap(routeOutput(from), to.filter.mqttFilter);
}

/**
 * A route whose output its own filter matches is always rejected: it would carry its own
 * output. Routes that feed each other in a circle are rejected when messages may make more
 * than one hop; with one hop (the default) a message never crosses twice, so the identity
 * pair (`mqtt → ws` and `ws → mqtt` over `#`) is fine.
 */
function checkCycles(routes: readonly CompiledRoute[], maxHops: number, label: (i: number) => string): void {
  const enabled = routes.map((r, i) => ({ r, i })).filter(({ r }) => r.enabled);
  for (const { r, i } of enabled) {
    if (feeds(r, r)) {
      throw new RouteCycleError(
        `${label(i)}.to.topic`,
        `route ${JSON.stringify(r.id)} writes ${r.to.tier} topics (${routeOutput(r)}) that its own filter ${r.from.filter} matches`,
      );
    }
  }
  if (maxHops < 2) return;
  // Depth-first search for a back edge; report the first cycle found, by route index.
  const state = new Map<number, 'open' | 'done'>();
  const stack: number[] = [];
  const visit = (n: number): number[] | undefined => {
    state.set(n, 'open');
    stack.push(n);
    for (const { r, i } of enabled) {
      if (!feeds(routes[n]!, r)) continue;
      if (state.get(i) === 'open') return [...stack.slice(stack.indexOf(i)), i];
      if (state.get(i) === undefined) {
        const found = visit(i);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const { i } of enabled) {
    if (state.get(i) !== undefined) continue;
    const cycle = visit(i);
    if (cycle) {
      const names = cycle.map((k) => JSON.stringify(routes[k]!.id)).join(' → ');
      throw new RouteCycleError(
        `${label(cycle[0]!)}.to.topic`,
        `routes feed each other in a cycle (${names}) and BRIDGE_MAX_HOPS is ${maxHops}`,
      );
    }
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/**
 * What one route does to one message, as a pure function of the route, the message and the
 * clock: whether it crosses, and if so the exact subject, payload and headers it crosses
 * with. The QoS 0 and QoS 1 relays carry out the plan; `POST /routes/test` shows it.
 */
import type { HeaderEntries } from '@protomesh/backbone';
import { encodeMeta, HEADER, type MessageMeta } from '@protomesh/envelope';
import { type QosClass, type Tier, topicMatches, topicToSubject } from '@protomesh/topic-map';
import type { CompiledRoute, QosLevel } from './routes.js';
import { capture, renderTemplate } from './template.js';
import { applyTransform, TransformError } from './transform.js';

/** A message as the bridge takes it from its source tier. */
export interface SourceMessage {
  readonly tier: Tier;
  /** The class it was published in (`0` live only, `1` stored). */
  readonly cls: QosClass;
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly headers: HeaderEntries | undefined;
}

/** Why a matching message does not cross. */
export type SkipReason = 'skipped_loop' | 'expired' | 'filtered';

/** The decision for one route and one message. */
export type CrossingPlan =
  | { readonly kind: 'no_match' }
  | { readonly kind: 'skip'; readonly reason: SkipReason }
  | { readonly kind: 'dead_letter'; readonly error: string }
  | {
      readonly kind: 'cross';
      readonly tier: Tier;
      readonly topic: string;
      /** Subject in the target tier (class from the target QoS). */
      readonly subject: string;
      readonly qos: QosLevel;
      readonly retain: boolean;
      readonly payload: Uint8Array;
      readonly headers: Array<[string, string]>;
      /** Set when the target is retained: the retained-store subject to write (an empty payload clears it). */
      readonly retainedSubject: string | undefined;
    };

/** What a plan depends on besides the route and the message. */
export interface PlanContext {
  readonly prefix: string;
  /** `MeshLayout.retainedPrefix`. */
  readonly retainedPrefix: string;
  /** Most bridge crossings per message. */
  readonly maxHops: number;
  /** Epoch ms. */
  readonly now: number;
}

/** Kinds of header the bridge reads or rewrites (bits), by case-insensitive name. */
const K_ROUTE = 1;
const K_HOPS = 2;
const K_QOS = 4;
const K_RETAIN = 8;
const K_EXPIRES = 16;
const K_CONTENT_TYPE = 32;
const K_FORMAT = 64;
const K_PROP = 128;
const K_TRACE = 256;
/** JetStream's own headers (`Nats-Msg-Id`, `Nats-Expected-Stream`): they belong to the source append. */
const K_NATS = 512;

const KIND_BY_LOWER_NAME = new Map<string, number>([
  [HEADER.route.toLowerCase(), K_ROUTE],
  [HEADER.hops.toLowerCase(), K_HOPS],
  [HEADER.qos.toLowerCase(), K_QOS],
  [HEADER.retain.toLowerCase(), K_RETAIN],
  [HEADER.expiresAt.toLowerCase(), K_EXPIRES],
  [HEADER.contentType.toLowerCase(), K_CONTENT_TYPE],
  [HEADER.payloadFormat.toLowerCase(), K_FORMAT],
  [HEADER.userProperty.toLowerCase(), K_PROP],
  [HEADER.traceparent.toLowerCase(), K_TRACE],
  [HEADER.tracestate.toLowerCase(), K_TRACE],
]);

/** Kinds of the header names seen so far, as written (names repeat: the mesh writes the same few). */
const kindByName = new Map<string, number>();
const KIND_CACHE_MAX = 256;

/** The kind of header `name` (case-insensitive; 0: one the bridge passes on untouched). */
function headerKind(name: string): number {
  let kind = kindByName.get(name);
  if (kind === undefined) {
    const lower = name.toLowerCase();
    kind = KIND_BY_LOWER_NAME.get(lower) ?? (lower.startsWith('nats-') ? K_NATS : 0);
    if (kindByName.size < KIND_CACHE_MAX) kindByName.set(name, kind);
  }
  return kind;
}

/** What the plan reads of the source headers in one pass. */
interface HeaderFacts {
  routes: string | undefined;
  hops: number;
  qos: QosLevel | undefined;
  retain: boolean;
  expiresAt: number | undefined;
  contentType: string | undefined;
}

function readHeaders(headers: HeaderEntries | undefined): HeaderFacts {
  const facts: HeaderFacts = {
    routes: undefined,
    hops: 0,
    qos: undefined,
    retain: false,
    expiresAt: undefined,
    contentType: undefined,
  };
  if (!headers) return facts;
  for (const [name, value] of headers) {
    // Header names are case-insensitive; the mesh writes `Mesh-…`, plain clients may not.
    switch (headerKind(name)) {
      case K_ROUTE:
        facts.routes = value;
        break;
      case K_HOPS: {
        const n = Number(value);
        if (Number.isInteger(n) && n >= 0) facts.hops = n;
        break;
      }
      case K_QOS:
        if (value === '0' || value === '1' || value === '2') facts.qos = Number(value) as QosLevel;
        break;
      case K_RETAIN:
        facts.retain = value === '1';
        break;
      case K_EXPIRES: {
        const at = Number(value);
        if (Number.isFinite(at)) facts.expiresAt = at;
        break;
      }
      case K_CONTENT_TYPE:
        facts.contentType = safeDecode(value);
        break;
    }
  }
  return facts;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** True when `list` (a `Mesh-Route` value) names `id`. */
function crossed(list: string | undefined, id: string): boolean {
  if (list === undefined) return false;
  if (list === id) return true;
  return list.split(',').includes(id);
}

/** The QoS a message gets in the target tier. */
export function targetQos(route: CompiledRoute, source: QosLevel): QosLevel {
  const policy = route.qos;
  if (policy === 'keep') return source;
  if ('cap' in policy) return source > policy.cap ? policy.cap : source;
  return policy.set;
}

/** The user properties a message carries across `route`. */
function mapProperties(route: CompiledRoute, headers: HeaderEntries | undefined): Array<[string, string]> {
  const { forward, drop, rename, set } = route.properties;
  const out: Array<[string, string]> = [];
  if (forward && headers) {
    for (const [name, value] of headers) {
      if (headerKind(name) !== K_PROP) continue;
      const eq = value.indexOf('=');
      if (eq < 0) continue;
      const key = safeDecode(value.slice(0, eq));
      if (drop.has(key)) continue;
      out.push([rename.get(key) ?? key, safeDecode(value.slice(eq + 1))]);
    }
  }
  for (const [name, value] of set) out.push([name, value]);
  return out;
}

/** True when the route leaves user properties exactly as they are. */
function propertiesUnchanged(route: CompiledRoute): boolean {
  const p = route.properties;
  return p.forward && p.drop.size === 0 && p.rename.size === 0 && p.set.length === 0;
}

/** Most source subjects a relay keeps a {@link TopicPlan} of; past that it starts over (a cache, not a limit on topics). */
export const SUBJECT_CACHE_MAX = 8_192;

/** A target subject, or why the target topic has none. */
type Target = string | { readonly error: string };

/**
 * What a plan takes from the source tier and topic alone, the same for every message on
 * them: whether the route's filter matches, the target topic and, worked out on first use,
 * the target subjects. The QoS 1 relay keeps one per source subject (see `route-relay.ts`).
 */
export class TopicPlan {
  /** The route's tier and filter match the source. */
  readonly matches: boolean;
  /** The target topic; undefined when the template captures nothing from the source topic. */
  readonly topic: string | undefined;
  readonly #route: CompiledRoute;
  readonly #prefix: string;
  readonly #retainedPrefix: string;
  #live: Target | undefined;
  #stored: Target | undefined;
  #retained: Target | undefined;

  constructor(route: CompiledRoute, tier: Tier, topic: string, ctx: Pick<PlanContext, 'prefix' | 'retainedPrefix'>) {
    this.#route = route;
    this.#prefix = ctx.prefix;
    this.#retainedPrefix = ctx.retainedPrefix;
    this.matches = tier === route.from.tier && topicMatches(route.filter.mqttFilter, topic);
    if (!this.matches || !route.template) this.topic = topic;
    else {
      const captures = capture(route.filter, topic);
      this.topic = captures ? renderTemplate(route.template, captures) : undefined;
    }
  }

  /** The target subject of class `0` (`live`) or `1`. */
  subject(live: boolean): Target {
    if (live) {
      this.#live ??= this.#target(this.#prefix, '0');
      return this.#live;
    }
    this.#stored ??= this.#target(this.#prefix, '1');
    return this.#stored;
  }

  /** The subject of the target tier's retained store. */
  retainedSubject(): Target {
    this.#retained ??= this.#target(this.#retainedPrefix, '1');
    return this.#retained;
  }

  #target(prefix: string, cls: QosClass): Target {
    const topic = this.topic as string;
    try {
      return topicToSubject({ prefix, tier: this.#route.to.tier }, topic, cls);
    } catch (error) {
      return { error: `target topic ${JSON.stringify(topic)}: ${(error as Error).message}` };
    }
  }
}

/**
 * Decides what `route` does with `message` (see {@link CrossingPlan}). `topicPlan`, when
 * given, is the {@link TopicPlan} of the message's tier and topic on this route and context.
 */
export function planCrossing(
  route: CompiledRoute,
  message: SourceMessage,
  ctx: PlanContext,
  topicPlan: TopicPlan = new TopicPlan(route, message.tier, message.topic, ctx),
): CrossingPlan {
  if (!topicPlan.matches) return NO_MATCH;
  const facts = readHeaders(message.headers);
  // Loop prevention: a message never crosses a route twice, nor more than maxHops routes.
  const hops = Math.max(facts.hops, facts.routes === undefined ? 0 : facts.routes.split(',').length);
  if (hops >= ctx.maxHops || crossed(facts.routes, route.id)) return SKIP_LOOP;
  // [MQTT-3.3.2-5] a message past its expiry is not delivered.
  if (facts.expiresAt !== undefined && facts.expiresAt < ctx.now) return SKIP_EXPIRED;
  if (route.condition && !route.condition(message.payload)) return SKIP_FILTERED;

  const topic = topicPlan.topic;
  if (topic === undefined) return NO_MATCH;
  const sourceQos: QosLevel = message.cls === '0' ? 0 : (facts.qos ?? 1) === 0 ? 1 : (facts.qos ?? 1);
  const qos = targetQos(route, sourceQos);
  const retain = route.retain === 'keep' ? facts.retain : route.retain === 'set';
  const subject = topicPlan.subject(qos === 0);
  if (typeof subject !== 'string') return { kind: 'dead_letter', error: subject.error };
  let retainedSubject: string | undefined;
  if (retain) {
    const target = topicPlan.retainedSubject();
    if (typeof target !== 'string') return { kind: 'dead_letter', error: target.error };
    retainedSubject = target;
  }

  let payload = message.payload;
  let contentType: string | null | undefined;
  let payloadFormat: 0 | 1 | undefined;
  if (route.transform !== 'pass') {
    try {
      const out = applyTransform(route.transform, message.payload, facts.contentType);
      payload = out.payload;
      contentType = out.contentType;
      payloadFormat = out.payloadFormat;
    } catch (error) {
      if (error instanceof TransformError) return { kind: 'dead_letter', error: error.message };
      throw error;
    }
  }
  if (route.contentType !== undefined) contentType = route.contentType;

  // Headers: the source's, minus what this crossing rewrites, then the rewritten fields,
  // then the route and hop count (written once, at the end).
  let replace = K_ROUTE | K_HOPS | K_NATS;
  let meta: { -readonly [K in keyof MessageMeta]: MessageMeta[K] } | undefined;
  if (qos !== facts.qos && !(facts.qos === undefined && qos === sourceQos)) {
    replace |= K_QOS;
    meta = { qos };
  }
  if (retain !== facts.retain) {
    replace |= K_RETAIN;
    meta = { ...meta, retain };
  }
  if (contentType !== undefined) {
    replace |= K_CONTENT_TYPE;
    meta = contentType === null ? { ...meta } : { ...meta, contentType };
  }
  if (payloadFormat !== undefined) {
    replace |= K_FORMAT;
    meta = { ...meta, payloadFormat };
  }
  if (!propertiesUnchanged(route)) {
    replace |= K_PROP;
    meta = { ...meta, userProperties: mapProperties(route, message.headers) };
  }
  const headers: Array<[string, string]> = [];
  if (message.headers) {
    for (const header of message.headers) {
      if ((headerKind(header[0]) & replace) === 0) headers.push([header[0], header[1]]);
    }
  }
  if (meta) for (const header of encodeMeta(meta)) headers.push(header);
  headers.push(
    [HEADER.route, facts.routes ? `${facts.routes},${route.id}` : route.id],
    [HEADER.hops, String(hops + 1)],
  );
  return { kind: 'cross', tier: route.to.tier, topic, subject, qos, retain, payload, headers, retainedSubject };
}

const NO_MATCH: CrossingPlan = Object.freeze({ kind: 'no_match' });
const SKIP_LOOP: CrossingPlan = Object.freeze({ kind: 'skip', reason: 'skipped_loop' });
const SKIP_EXPIRED: CrossingPlan = Object.freeze({ kind: 'skip', reason: 'expired' });
const SKIP_FILTERED: CrossingPlan = Object.freeze({ kind: 'skip', reason: 'filtered' });

/**
 * `plan` with the trace context of the bridge's forward span: the source's `traceparent`
 * and `tracestate` headers are replaced (W3C Trace Context §3.2: each hop writes its own
 * parent id), every other header is kept as is (`Mesh-Published-At` included, so delivery
 * latency stays end to end). An empty carrier (tracing off) leaves the plan unchanged.
 */
export function withTraceHeaders(
  plan: Extract<CrossingPlan, { kind: 'cross' }>,
  carrier: { readonly traceparent?: string | undefined; readonly tracestate?: string | undefined },
): Extract<CrossingPlan, { kind: 'cross' }> {
  if (carrier.traceparent === undefined) return plan;
  const headers: Array<[string, string]> = [];
  for (const header of plan.headers) if (headerKind(header[0]) !== K_TRACE) headers.push(header);
  const { traceparent, tracestate } = carrier;
  headers.push(...encodeMeta(tracestate === undefined ? { traceparent } : { traceparent, tracestate }));
  return { ...plan, headers };
}

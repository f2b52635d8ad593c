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

const L_ROUTE = HEADER.route.toLowerCase();
const L_HOPS = HEADER.hops.toLowerCase();
const L_QOS = HEADER.qos.toLowerCase();
const L_RETAIN = HEADER.retain.toLowerCase();
const L_EXPIRES = HEADER.expiresAt.toLowerCase();
const L_CONTENT_TYPE = HEADER.contentType.toLowerCase();
const L_FORMAT = HEADER.payloadFormat.toLowerCase();
const L_PROP = HEADER.userProperty.toLowerCase();
const L_TRACEPARENT = HEADER.traceparent.toLowerCase();
const L_TRACESTATE = HEADER.tracestate.toLowerCase();

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
    switch (name.length > 4 ? name.toLowerCase() : name) {
      case L_ROUTE:
        facts.routes = value;
        break;
      case L_HOPS: {
        const n = Number(value);
        if (Number.isInteger(n) && n >= 0) facts.hops = n;
        break;
      }
      case L_QOS:
        if (value === '0' || value === '1' || value === '2') facts.qos = Number(value) as QosLevel;
        break;
      case L_RETAIN:
        facts.retain = value === '1';
        break;
      case L_EXPIRES: {
        const at = Number(value);
        if (Number.isFinite(at)) facts.expiresAt = at;
        break;
      }
      case L_CONTENT_TYPE:
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
      if (name.toLowerCase() !== L_PROP) continue;
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

/** Decides what `route` does with `message` (see {@link CrossingPlan}). */
export function planCrossing(route: CompiledRoute, message: SourceMessage, ctx: PlanContext): CrossingPlan {
  if (message.tier !== route.from.tier || !topicMatches(route.filter.mqttFilter, message.topic)) {
    return { kind: 'no_match' };
  }
  const facts = readHeaders(message.headers);
  // Loop prevention: a message never crosses a route twice, nor more than maxHops routes.
  const hops = Math.max(facts.hops, facts.routes === undefined ? 0 : facts.routes.split(',').length);
  if (hops >= ctx.maxHops || crossed(facts.routes, route.id)) return { kind: 'skip', reason: 'skipped_loop' };
  // [MQTT-3.3.2-5] a message past its expiry is not delivered.
  if (facts.expiresAt !== undefined && facts.expiresAt < ctx.now) return { kind: 'skip', reason: 'expired' };
  if (route.condition && !route.condition(message.payload)) return { kind: 'skip', reason: 'filtered' };

  let topic = message.topic;
  if (route.template) {
    const captures = capture(route.filter, message.topic);
    if (!captures) return { kind: 'no_match' };
    topic = renderTemplate(route.template, captures);
  }
  const sourceQos: QosLevel = message.cls === '0' ? 0 : (facts.qos ?? 1) === 0 ? 1 : (facts.qos ?? 1);
  const qos = targetQos(route, sourceQos);
  const retain = route.retain === 'keep' ? facts.retain : route.retain === 'set';
  let subject: string;
  let retainedSubject: string | undefined;
  try {
    subject = topicToSubject({ prefix: ctx.prefix, tier: route.to.tier }, topic, qos === 0 ? '0' : '1');
    if (retain) retainedSubject = topicToSubject({ prefix: ctx.retainedPrefix, tier: route.to.tier }, topic, '1');
  } catch (error) {
    return { kind: 'dead_letter', error: `target topic ${JSON.stringify(topic)}: ${(error as Error).message}` };
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
  const replace = new Set<string>([L_ROUTE, L_HOPS]);
  const meta: { -readonly [K in keyof MessageMeta]: MessageMeta[K] } = {};
  if (qos !== facts.qos && !(facts.qos === undefined && qos === sourceQos)) {
    replace.add(L_QOS);
    meta.qos = qos;
  }
  if (retain !== facts.retain) {
    replace.add(L_RETAIN);
    meta.retain = retain;
  }
  if (contentType !== undefined) {
    replace.add(L_CONTENT_TYPE);
    if (contentType !== null) meta.contentType = contentType;
  }
  if (payloadFormat !== undefined) {
    replace.add(L_FORMAT);
    meta.payloadFormat = payloadFormat;
  }
  if (!propertiesUnchanged(route)) {
    replace.add(L_PROP);
    meta.userProperties = mapProperties(route, message.headers);
  }
  const headers: Array<[string, string]> = [];
  for (const [name, value] of message.headers ?? []) {
    const lower = name.toLowerCase();
    // JetStream's own headers (Nats-Msg-Id, Nats-Expected-Stream) belong to the source append.
    if (replace.has(lower) || lower.startsWith('nats-')) continue;
    headers.push([name, value]);
  }
  headers.push(...encodeMeta(meta));
  headers.push(...encodeMeta({ route: facts.routes ? `${facts.routes},${route.id}` : route.id, hops: hops + 1 }));
  return { kind: 'cross', tier: route.to.tier, topic, subject, qos, retain, payload, headers, retainedSubject };
}

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
  for (const header of plan.headers) {
    const lower = header[0].toLowerCase();
    if (lower !== L_TRACEPARENT && lower !== L_TRACESTATE) headers.push(header);
  }
  const { traceparent, tracestate } = carrier;
  headers.push(...encodeMeta(tracestate === undefined ? { traceparent } : { traceparent, tracestate }));
  return { ...plan, headers };
}

import {
  type Context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  type Span,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

/**
 * W3C trace context as carried beside a message: NATS headers (`MessageMeta.traceparent` /
 * `.tracestate` of `@protomesh/envelope` have exactly these names), MQTT 5 user properties
 * and WebSocket frame fields.
 */
export interface TraceCarrier {
  readonly traceparent?: string | undefined;
  readonly tracestate?: string | undefined;
}

/** W3C Trace Context (https://www.w3.org/TR/trace-context/): `traceparent` and `tracestate`. */
const PROPAGATOR = new W3CTraceContextPropagator();

/** Header and property names of the trace context (lower case, W3C Trace Context §3). */
export const TRACE_FIELDS = { traceparent: 'traceparent', tracestate: 'tracestate' } as const;

/**
 * The trace context of `from` (a span, or a context holding one) as `{ traceparent,
 * tracestate? }`; empty when the span context is invalid (tracing off). A non-sampled span
 * yields a `traceparent` with flags `00`, so downstream services do not sample it either.
 */
export function injectTraceHeaders(from: Span | Context): TraceCarrier {
  const ctx = isSpan(from) ? trace.setSpan(ROOT_CONTEXT, from) : from;
  const carrier: Record<string, string> = {};
  PROPAGATOR.inject(ctx, carrier, defaultTextMapSetter);
  return carrier;
}

/**
 * The context a message continues: `base` (default: the root context, never the ambient
 * one) with the remote span of `carrier.traceparent`. A missing or malformed `traceparent`
 * gives `base` back, so the next span starts a new trace (W3C Trace Context §4.3: a
 * vendor restarts the trace when it cannot parse the header).
 */
export function extractContext(carrier: TraceCarrier | undefined, base: Context = ROOT_CONTEXT): Context {
  if (!carrier?.traceparent) return base;
  return PROPAGATOR.extract(base, carrier, defaultTextMapGetter);
}

/** MQTT 5 user properties in either shape: ordered pairs (`MessageMeta`) or mqtt-packet's object. */
export type UserProperties =
  | ReadonlyArray<readonly [name: string, value: string]>
  | Readonly<Record<string, string | readonly string[]>>;

/**
 * The trace context a client put in its MQTT 5 user properties (`traceparent`,
 * `tracestate`; the first value of each, names matched case-insensitively), or undefined
 * when it sent none (the cheap common case: no allocation).
 */
export function traceFromUserProperties(properties: UserProperties | undefined): TraceCarrier | undefined {
  if (!properties) return undefined;
  let traceparent: string | undefined;
  let tracestate: string | undefined;
  const pairs = Array.isArray(properties)
    ? (properties as ReadonlyArray<readonly [string, string]>)
    : Object.entries(properties as Record<string, string | readonly string[]>);
  for (const [name, raw] of pairs) {
    if (name.length !== 10 && name.length !== 11) continue;
    const value = typeof raw === 'string' ? raw : raw[0];
    const lower = name.toLowerCase();
    if (lower === TRACE_FIELDS.traceparent) traceparent ??= value;
    else if (lower === TRACE_FIELDS.tracestate) tracestate ??= value;
  }
  if (traceparent === undefined) return undefined;
  return tracestate === undefined ? { traceparent } : { traceparent, tracestate };
}

/**
 * Ordered user properties with `traceparent`/`tracestate` set to `carrier`: an existing
 * property of that name is replaced in place (its first occurrence; later duplicates are
 * dropped), otherwise appended, so every other property keeps its order ([MQTT-3.3.2-18]).
 * A field absent from `carrier` is left as it was. W3C Trace Context §3.2: each hop
 * replaces the parent id with its own span.
 */
export function withTraceUserProperties(
  properties: ReadonlyArray<readonly [name: string, value: string]> | undefined,
  carrier: TraceCarrier,
): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const pending = new Map<string, string>();
  if (carrier.traceparent !== undefined) pending.set(TRACE_FIELDS.traceparent, carrier.traceparent);
  if (carrier.tracestate !== undefined) pending.set(TRACE_FIELDS.tracestate, carrier.tracestate);
  const replaced = new Set<string>();
  for (const [name, value] of properties ?? []) {
    const lower = name.toLowerCase();
    const next = pending.get(lower);
    if (next === undefined) out.push([name, value]);
    else if (!replaced.has(lower)) {
      out.push([name, next]);
      replaced.add(lower);
    }
  }
  for (const [name, value] of pending) if (!replaced.has(name)) out.push([name, value]);
  return out;
}

function isSpan(value: Span | Context): value is Span {
  return typeof (value as Span).spanContext === 'function';
}

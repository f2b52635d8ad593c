import {
  type Attributes,
  type Context,
  INVALID_SPAN_CONTEXT,
  type Link,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { extractContext, type TraceCarrier } from './propagation.js';
import type { Tracing } from './tracing.js';

/**
 * Attribute names of the OpenTelemetry messaging semantic conventions (semconv 1.45,
 * "Semantic conventions for messaging spans"), copied rather than imported from the
 * package's unstable `incubating` entry point, plus Protomesh's own `protomesh.*`.
 */
export const MESSAGING_ATTRIBUTES = {
  /** Current name of the messaging system attribute. */
  systemName: 'messaging.system.name',
  /** Deprecated by `messaging.system.name` but still what most backends group by; both are set. */
  system: 'messaging.system',
  operationType: 'messaging.operation.type',
  operationName: 'messaging.operation.name',
  destinationName: 'messaging.destination.name',
  /** Low-cardinality form of the destination (a topic filter); names the span when given. */
  destinationTemplate: 'messaging.destination.template',
  subscriptionName: 'messaging.destination.subscription.name',
  clientId: 'messaging.client.id',
  messageId: 'messaging.message.id',
  bodySize: 'messaging.message.body.size',
  /** MQTT QoS (0, 1, 2) or the WebSocket protocol's QoS (0, 1); no convention exists. */
  qos: 'protomesh.qos',
  /** Tier of the mesh: `mqtt` or `ws`. */
  tier: 'protomesh.tier',
  /** Bridge route id. */
  route: 'protomesh.route',
  /** Local clients a deliver span covers (one span per backbone message and fan-out, not per client). */
  recipients: 'protomesh.recipients',
} as const;

/** `messaging.system` values: a client protocol, or the NATS backbone. */
export type MessagingSystem = 'mqtt' | 'websocket' | 'nats';

/**
 * `messaging.operation.type` values used here. The conventions deprecated `publish` for
 * `send` and `deliver` for `process`; the protocol's own verbs stay in
 * `messaging.operation.name` and in the span name.
 */
export type MessagingOperationType = 'send' | 'process' | 'receive' | 'settle' | 'create';

export interface MessageSpanOptions {
  readonly system: MessagingSystem;
  /** Topic (client side) or NATS subject (backbone side). */
  readonly destination: string;
  /** Low-cardinality destination for the span name, e.g. the matched subscription filter. */
  readonly template?: string | undefined;
  /** The client that sent (publish) or receives (deliver) the message, or this service's backbone client. */
  readonly clientId?: string | undefined;
  readonly qos?: number | string | undefined;
  /** e.g. the JetStream stream sequence or a client-provided message id. */
  readonly messageId?: string | number | undefined;
  /** Payload bytes. */
  readonly bodySize?: number | undefined;
  readonly tier?: 'mqtt' | 'ws' | undefined;
  /** Deliver spans: local clients the delivery covers (also settable later with `span.setAttribute`). */
  readonly recipients?: number | undefined;
  /**
   * What this operation continues: a span, a context, or the W3C fields carried with the
   * message (NATS headers via `decodeMeta`, MQTT 5 user properties, WebSocket frame
   * fields). Absent or invalid: a new trace starts here.
   */
  readonly parent?: Span | Context | TraceCarrier | undefined;
  readonly attributes?: Attributes | undefined;
}

/** The span handed out when tracing is off: records nothing, injects nothing. */
export const NOOP_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * A client's message entering the mesh (MQTT PUBLISH or WebSocket `pub` accepted by an
 * edge, or the bridge writing into the target tier): kind PRODUCER, span name
 * `publish <destination>`. End it when the backbone took the message (QoS 0 publish
 * returned, QoS 1 append resolved), before the client is acknowledged.
 */
export function startPublishSpan(tracing: Tracing, options: MessageSpanOptions): Span {
  return startMessageSpan(tracing, options, SpanKind.PRODUCER, 'send', 'publish', false);
}

/**
 * A message taken from the backbone and worked on (the bridge reading a tier): kind
 * CONSUMER, span name `process <destination>`, child of the producer's context and linked
 * to it (the conventions ask for the link; the parent keeps one trace per message).
 */
export function startProcessSpan(tracing: Tracing, options: MessageSpanOptions): Span {
  return startMessageSpan(tracing, options, SpanKind.CONSUMER, 'process', 'process', true);
}

/**
 * A message from the backbone delivered to subscribed clients (MQTT PUBLISH to
 * subscribers, WebSocket `msg` frames): kind CONSUMER, span name `deliver <destination>`,
 * child of (and linked to) the context in the message headers. Start one per backbone
 * message and local fan-out (a WebSocket filter group, an MQTT fan-out entry), not one
 * per recipient, so a fan-out to N clients costs one span: set `recipients`, and
 * `clientId` only when there is exactly one. Put the matched filter in `template`.
 */
export function startDeliverSpan(tracing: Tracing, options: MessageSpanOptions): Span {
  return startMessageSpan(tracing, options, SpanKind.CONSUMER, 'process', 'deliver', true);
}

/** Ends `span` with status ERROR and the exception recorded (an operation that failed). */
export function failSpan(span: Span, error: unknown): void {
  if (!span.isRecording()) {
    span.end();
    return;
  }
  const err = error instanceof Error ? error : new Error(String(error));
  span.recordException(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
  const code = (error as { code?: unknown })?.code;
  span.setAttribute('error.type', typeof code === 'string' ? code : err.name);
  span.end();
}

/**
 * `trace_id`/`span_id` of `span` for a log line that is not written inside the span's
 * context (OpenTelemetry log data model field names); empty when the span is invalid.
 */
export function traceLogFields(span: Span): { trace_id?: string; span_id?: string } {
  const sc = span.spanContext();
  if (sc.traceId === INVALID_SPAN_CONTEXT.traceId) return {};
  return { trace_id: sc.traceId, span_id: sc.spanId };
}

function startMessageSpan(
  tracing: Tracing,
  options: MessageSpanOptions,
  kind: SpanKind,
  operationType: MessagingOperationType,
  operationName: string,
  link: boolean,
): Span {
  if (!tracing.enabled) return NOOP_SPAN;
  const parent = parentContext(options.parent);
  const attributes: Attributes = {
    [MESSAGING_ATTRIBUTES.systemName]: options.system,
    [MESSAGING_ATTRIBUTES.system]: options.system,
    [MESSAGING_ATTRIBUTES.operationType]: operationType,
    [MESSAGING_ATTRIBUTES.operationName]: operationName,
    [MESSAGING_ATTRIBUTES.destinationName]: options.destination,
  };
  if (options.template !== undefined) {
    attributes[MESSAGING_ATTRIBUTES.destinationTemplate] = options.template;
    if (operationName === 'deliver') attributes[MESSAGING_ATTRIBUTES.subscriptionName] = options.template;
  }
  if (options.clientId !== undefined) attributes[MESSAGING_ATTRIBUTES.clientId] = options.clientId;
  if (options.qos !== undefined) attributes[MESSAGING_ATTRIBUTES.qos] = Number(options.qos);
  if (options.messageId !== undefined) attributes[MESSAGING_ATTRIBUTES.messageId] = String(options.messageId);
  if (options.bodySize !== undefined) attributes[MESSAGING_ATTRIBUTES.bodySize] = options.bodySize;
  if (options.tier !== undefined) attributes[MESSAGING_ATTRIBUTES.tier] = options.tier;
  if (options.recipients !== undefined) attributes[MESSAGING_ATTRIBUTES.recipients] = options.recipients;
  if (options.attributes) Object.assign(attributes, options.attributes);
  let links: Link[] | undefined;
  if (link) {
    const remote = trace.getSpanContext(parent);
    if (remote) links = [{ context: remote }];
  }
  // Span name `{messaging.operation.name} {destination}` (messaging spans, "Span name").
  const name = `${operationName} ${options.template ?? options.destination}`;
  return tracing.tracer.startSpan(name, links ? { kind, attributes, links } : { kind, attributes }, parent);
}

function parentContext(parent: MessageSpanOptions['parent']): Context {
  if (parent === undefined) return ROOT_CONTEXT;
  if (typeof (parent as Span).spanContext === 'function') return trace.setSpan(ROOT_CONTEXT, parent as Span);
  if (typeof (parent as Context).getValue === 'function') return parent as Context;
  return extractContext(parent as TraceCarrier);
}

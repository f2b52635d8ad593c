/**
 * Tracing of one source message through the bridge (docs/telemetry.md, "bridge"): a
 * CONSUMER `process <subject>` span continuing the trace the message carries in its NATS
 * headers, and per crossing a PRODUCER `publish <target subject>` span, child of it, whose
 * context replaces the message's `traceparent`/`tracestate` in the target tier (W3C Trace
 * Context §3.2: each hop writes its own parent id). Only built when `tracing.enabled`, so
 * with tracing off the relays pay one branch per message.
 */
import type { BackboneMessage } from '@protomesh/backbone';
import { decodeMeta } from '@protomesh/envelope';
import {
  failSpan,
  injectTraceHeaders,
  MESSAGING_ATTRIBUTES,
  startProcessSpan,
  startPublishSpan,
  type Tracing,
} from '@protomesh/telemetry';
import type { Tier } from '@protomesh/topic-map';
import type { Crossing } from './carry.js';
import { withTraceHeaders } from './crossing.js';
import type { Outcome } from './metrics.js';

type Span = ReturnType<typeof startProcessSpan>;

/** Span attribute naming what the bridge did with the message (the `outcome` metric label). */
export const OUTCOME_ATTRIBUTE = 'protomesh.outcome';

/** Outcomes that end the process span as an error. */
const FAILED: ReadonlySet<Outcome> = new Set(['failed', 'invalid']);

/** What the process span says about the source message. */
export interface ProcessTraceOptions {
  readonly tier: Tier;
  /** The message as read from the source tier (its headers carry the producer's context). */
  readonly message: BackboneMessage;
  /** JetStream sequence (QoS 1 sources). */
  readonly seq?: number | undefined;
  /** This bridge replica (`messaging.client.id`). */
  readonly clientId: string;
}

/**
 * The spans of one source message: the process span stays open until every matched
 * route settled (a QoS 0 message may cross several routes, each with its own forward
 * span), then ends with the outcomes and routes as attributes.
 */
export class ProcessTrace {
  readonly span: Span;
  readonly #tracing: Tracing;
  readonly #clientId: string;
  /** Routes still to settle, plus one until {@link done}. */
  #open = 1;
  readonly #routes: string[] = [];
  readonly #outcomes: Outcome[] = [];
  #error: unknown;

  constructor(tracing: Tracing, options: ProcessTraceOptions) {
    this.#tracing = tracing;
    this.#clientId = options.clientId;
    const meta = decodeMeta(options.message.headers);
    const qos = options.seq === undefined ? 0 : (meta.qos ?? 1);
    this.span = startProcessSpan(tracing, {
      system: 'nats',
      destination: options.message.subject,
      tier: options.tier,
      qos,
      clientId: options.clientId,
      messageId: options.seq,
      bodySize: options.message.payload.byteLength,
      parent: meta,
    });
  }

  /** A route matched the message: counted until {@link settle} (or {@link forwarded}). */
  route(id: string): void {
    this.#routes.push(id);
    this.#open += 1;
  }

  /**
   * Starts the PRODUCER span of a crossing and returns the plan carrying its trace
   * context; `Mesh-Published-At` stays the source's, so delivery latency is end to end.
   */
  forward(route: string, plan: Crossing): { plan: Crossing; span: Span } {
    const span = startPublishSpan(this.#tracing, {
      system: 'nats',
      destination: plan.subject,
      tier: plan.tier,
      qos: plan.qos,
      clientId: this.#clientId,
      bodySize: plan.payload.byteLength,
      parent: this.span,
      attributes: { [MESSAGING_ATTRIBUTES.route]: route },
    });
    return { plan: withTraceHeaders(plan, injectTraceHeaders(span)), span };
  }

  /** A forward span's append settled: ends it (as ERROR on `error`) and settles its route. */
  forwarded(span: Span, outcome: Outcome, error?: unknown): void {
    if (error === undefined) {
      span.setAttribute(OUTCOME_ATTRIBUTE, outcome);
      span.end();
    } else failSpan(span, error);
    this.settle(outcome, error);
  }

  /** A matched route is done with the message. */
  settle(outcome: Outcome, error?: unknown): void {
    this.#outcomes.push(outcome);
    if (error !== undefined) this.#error ??= error;
    this.#release();
  }

  /** Every matched route has been registered with {@link route}. */
  done(): void {
    this.#release();
  }

  #release(): void {
    this.#open -= 1;
    if (this.#open > 0) return;
    const span = this.span;
    if (this.#routes.length > 0) span.setAttribute(MESSAGING_ATTRIBUTES.route, this.#routes.join(','));
    if (this.#outcomes.length > 0) span.setAttribute(OUTCOME_ATTRIBUTE, [...new Set(this.#outcomes)].join(','));
    const failed = this.#outcomes.find((o) => FAILED.has(o));
    if (this.#error !== undefined) failSpan(span, this.#error);
    else if (failed !== undefined) failSpan(span, Object.assign(new Error(`bridge ${failed}`), { code: failed }));
    else span.end();
  }
}

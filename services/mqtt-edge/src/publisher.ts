import type { Backbone } from '@protomesh/backbone';
import { encodeMeta, HEADER, type HeaderPairs } from '@protomesh/envelope';
import type { TraceCarrier } from '@protomesh/telemetry';
import { topicToSubject } from '@protomesh/topic-map';
import { type InboundPublish, metaFromPublish } from './properties.js';
import type { RetainedStore } from './retained.js';

/** Topics whose subject is remembered per QoS class; the cache starts over when full. */
const SUBJECT_CACHE_SIZE = 10_000;
/** Clients whose publisher headers are remembered; the cache starts over when full. */
const HEADER_CACHE_SIZE = 10_000;

/** The cached headers of one client's PUBLISH packets without properties, for one QoS × RETAIN. */
interface PlainHeaders {
  readonly base: ReadonlyArray<readonly [string, string]>;
  /** The millisecond `headers` were made for. */
  at: number;
  headers: HeaderPairs;
}

/** Options of one publish into the mesh. */
export interface PublishOptions {
  /** JetStream deduplication id (inbound QoS 2 of persistent sessions: a resend stores nothing). */
  readonly msgId?: string;
  /** W3C trace context to carry (the publish span's, or the client's when tracing is off). */
  readonly trace?: TraceCarrier | undefined;
}

/**
 * Hands messages from MQTT clients (and Will Messages) to the backbone (DESIGN.md "Subject
 * layout"): QoS 0 is published to live subscribers only; QoS 1 and 2 are appended to the
 * tier stream; a RETAIN message also replaces the topic's retained message. Payload bytes
 * are passed through untouched.
 */
export class Publisher {
  readonly #backbone: Backbone;
  readonly #prefix: string;
  readonly #retained: RetainedStore;

  /** Subjects of recent topics, by QoS class (mapping a topic escapes it character by character). */
  readonly #subjects = [new Map<string, string>(), new Map<string, string>()] as const;
  /** Publisher headers of PUBLISH packets without properties, by client id, then QoS × RETAIN. */
  readonly #plain = new Map<string, Array<PlainHeaders | undefined>>();

  constructor(backbone: Backbone, prefix: string, retained: RetainedStore) {
    this.#backbone = backbone;
    this.#prefix = prefix;
    this.#retained = retained;
  }

  /**
   * Publishes one message. The promise settles once everything that must be stored is
   * (the message for QoS ≥ 1, the retained copy for RETAIN); undefined when nothing is
   * stored (QoS 0 without RETAIN). Throws synchronously when the topic cannot become a
   * subject (longer than a NATS subject may be).
   */
  publish(publish: InboundPublish, payload: Uint8Array, options: PublishOptions = {}): Promise<void> | undefined {
    const subject = this.#subject(publish.topic, publish.qos === 0 ? 0 : 1);
    const now = Date.now();
    // publishedAt: deliveries measure publish-to-delivery latency from it (docs/telemetry.md).
    const headers = publish.properties
      ? encodeMeta({ ...metaFromPublish(publish, now), ...options.trace, publishedAt: now })
      : this.#plainHeaders(publish, now, options.trace);
    // [MQTT-3.3.1-5] / [MQTT-3.3.1-6]: a retained message replaces (or, when empty, clears) the topic's.
    const retained = publish.retain ? this.#retained.set(publish.topic, payload, headers) : undefined;
    if (publish.qos === 0) {
      this.#backbone.publish(subject, payload, headers);
      return retained;
    }
    const appended = this.#backbone.append(subject, payload, {
      headers,
      ...(options.msgId !== undefined && { msgId: options.msgId }),
    });
    if (!retained) return appended.then(() => undefined);
    return Promise.all([appended, retained]).then(() => undefined);
  }

  /**
   * The headers of a PUBLISH without properties — what `encodeMeta` gives for it: the
   * publisher's part (origin, client id, QoS, RETAIN) is encoded once per client and kept,
   * then the publish time and the trace context follow. Without a trace context, messages of
   * one client in the same millisecond share one frozen array, which the backbone encodes
   * (and receivers decode) once.
   */
  #plainHeaders(publish: InboundPublish, now: number, trace: TraceCarrier | undefined): HeaderPairs {
    let slots = this.#plain.get(publish.clientId);
    if (slots === undefined) {
      if (this.#plain.size >= HEADER_CACHE_SIZE) this.#plain.clear();
      slots = [];
      this.#plain.set(publish.clientId, slots);
    }
    const slot = publish.qos * 2 + (publish.retain ? 1 : 0);
    let plain = slots[slot];
    if (plain === undefined) {
      plain = { base: encodeMeta(metaFromPublish(publish, now)), at: -1, headers: [] };
      slots[slot] = plain;
    }
    if (trace?.traceparent === undefined && trace?.tracestate === undefined) {
      if (plain.at !== now) {
        plain.at = now;
        plain.headers = Object.freeze([...plain.base, [HEADER.publishedAt, String(now)] as const]);
      }
      return plain.headers;
    }
    const headers: Array<readonly [string, string]> = plain.base.slice();
    headers.push([HEADER.publishedAt, String(now)]);
    if (trace.traceparent !== undefined) headers.push([HEADER.traceparent, trace.traceparent]);
    if (trace.tracestate !== undefined) headers.push([HEADER.tracestate, trace.tracestate]);
    return headers;
  }

  /** True when `topic` was published recently, so it is a valid topic name (validated then). */
  knows(topic: string): boolean {
    return this.#subjects[0].has(topic) || this.#subjects[1].has(topic);
  }

  /** The subject of `topic` in class `cls` (throws like `topicToSubject`). */
  #subject(topic: string, cls: 0 | 1): string {
    const cache = this.#subjects[cls];
    let subject = cache.get(topic);
    if (subject === undefined) {
      subject = topicToSubject({ prefix: this.#prefix, tier: 'mqtt' }, topic, cls === 0 ? '0' : '1');
      if (cache.size >= SUBJECT_CACHE_SIZE) cache.clear();
      cache.set(topic, subject);
    }
    return subject;
  }
}

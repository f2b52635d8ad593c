import type { Backbone } from '@protomesh/backbone';
import { encodeMeta } from '@protomesh/envelope';
import { messageOf } from '@protomesh/errors';
import {
  failSpan,
  injectTraceHeaders,
  type MessageSpanOptions,
  startPublishSpan,
  type TraceCarrier,
  type Tracing,
} from '@protomesh/telemetry';
import { type SubjectSpace, topicToSubject, validateTopicName } from '@protomesh/topic-map';
import { PublishFailedError, TopicInvalidError } from './errors.js';
import type { WsQos } from './protocol.js';
import type { WsTelemetry } from './telemetry.js';

/** One message to publish into the WebSocket tier. */
export interface PublishInput {
  readonly topic: string;
  readonly qos: WsQos;
  readonly retain: boolean;
  readonly payload: Uint8Array;
  readonly contentType: string | undefined;
  readonly payloadFormat: 1 | undefined;
  /** `Mesh-Client` header: who published it (connection id, client id or API key name). */
  readonly originClient: string;
  /** JetStream deduplication id (`Nats-Msg-Id`), already scoped to the publisher. */
  readonly dedupId?: string | undefined;
  /**
   * The W3C trace context the client sent (already validated): the publish span's parent,
   * and forwarded unchanged in the headers when tracing is off.
   */
  readonly trace?: TraceCarrier | undefined;
  /** A local span the publish belongs to (the HTTP request's); takes precedence over `trace`. */
  readonly parent?: MessageSpanOptions['parent'];
}

/** What the backbone said: the stream position of a stored message, and whether it was a retry. */
export interface PublishOutcome {
  readonly seq?: number;
  readonly duplicate?: boolean;
}

/** Where messages go: the tier space, its stream, and the retained store. */
export interface PublisherOptions {
  readonly space: SubjectSpace;
  readonly backbone: Backbone;
  /** The ws tier stream: QoS 1 appends must land there. */
  readonly streamName: string;
  /** The retained (last value per subject) stream. */
  readonly retainedStream: string;
  /** `layout.retainedPrefix`. */
  readonly retainedPrefix: string;
  readonly telemetry: WsTelemetry;
  readonly tracing: Tracing;
}

/**
 * Publishes into the WebSocket tier, for WebSocket clients and the HTTP API alike (DESIGN.md
 * "Subject layout"): QoS 0 to live subscribers, QoS 1 appended to the tier stream (resolving
 * once stored), and `retain` also written to the retained store (an empty payload clears it).
 */
export class Publisher {
  readonly #options: PublisherOptions;

  constructor(options: PublisherOptions) {
    this.#options = options;
  }

  /** The subject of `topic` at `qos`; throws {@link TopicInvalidError} for an invalid topic name. */
  subjectOf(topic: string, qos: WsQos): string {
    try {
      validateTopicName(topic);
      return topicToSubject(this.#options.space, topic, qos === 0 ? '0' : '1');
    } catch (error) {
      throw new TopicInvalidError(messageOf(error));
    }
  }

  /**
   * Publishes; resolves when the message (and its retained copy) is where QoS asks: handed
   * to NATS for QoS 0, stored for QoS 1. Rejects with {@link TopicInvalidError} or
   * {@link PublishFailedError}. The headers carry `Mesh-Published-At` (delivery latency)
   * and the trace context: this publish's span with tracing on, else the client's own.
   */
  async publish(input: PublishInput): Promise<PublishOutcome> {
    const subject = this.subjectOf(input.topic, input.qos);
    // The one branch the hot path pays when tracing is off (docs/telemetry.md "The rule for the hot path").
    if (!this.#options.tracing.enabled) return this.#publish(input, subject, input.trace);
    return this.#publishTraced(input, subject);
  }

  /** {@link publish} inside a PRODUCER span `publish <topic>`, ended once the backbone has the message. */
  async #publishTraced(input: PublishInput, subject: string): Promise<PublishOutcome> {
    const span = startPublishSpan(this.#options.tracing, {
      system: 'websocket',
      destination: input.topic,
      clientId: input.originClient,
      qos: input.qos,
      tier: 'ws',
      bodySize: input.payload.byteLength,
      messageId: input.dedupId,
      parent: input.parent ?? input.trace,
    });
    try {
      const outcome = await this.#publish(input, subject, injectTraceHeaders(span));
      span.end();
      return outcome;
    } catch (error) {
      failSpan(span, error);
      throw error;
    }
  }

  async #publish(input: PublishInput, subject: string, trace: TraceCarrier | undefined): Promise<PublishOutcome> {
    const { backbone, streamName, telemetry } = this.#options;
    const headers = encodeMeta({
      originTier: 'ws',
      originClient: input.originClient,
      qos: input.qos,
      retain: input.retain,
      contentType: input.contentType,
      payloadFormat: input.payloadFormat,
      publishedAt: Date.now(),
      traceparent: trace?.traceparent,
      tracestate: trace?.tracestate,
    });
    telemetry.published(input.qos, input.payload.byteLength);
    const retained = input.retain ? this.#storeRetained(input.topic, input.payload, headers) : undefined;
    try {
      if (input.qos === 0) {
        backbone.publish(subject, input.payload, headers);
        if (retained) await retained;
        return {};
      }
      const [stored] = await Promise.all([
        backbone.append(subject, input.payload, { headers, expectStream: streamName, msgId: input.dedupId }),
        retained,
      ]);
      return stored.duplicate ? { seq: stored.seq, duplicate: true } : { seq: stored.seq };
    } catch (error) {
      if (TopicInvalidError.is(error)) throw error;
      throw new PublishFailedError(messageOf(error), { cause: error });
    }
  }

  /** Retained store: the newest message per topic; an empty payload removes it (as MQTT does, [MQTT-3.3.1-6]). */
  async #storeRetained(topic: string, payload: Uint8Array, headers: ReturnType<typeof encodeMeta>): Promise<void> {
    const { backbone, retainedPrefix, retainedStream, space } = this.#options;
    const subject = topicToSubject({ prefix: retainedPrefix, tier: space.tier }, topic, '1');
    if (payload.byteLength === 0) await backbone.purge(retainedStream, subject);
    else await backbone.append(subject, payload, { headers, expectStream: retainedStream });
  }
}

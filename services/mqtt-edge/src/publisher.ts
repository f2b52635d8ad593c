import type { Backbone } from '@protomesh/backbone';
import { encodeMeta } from '@protomesh/envelope';
import { topicToSubject } from '@protomesh/topic-map';
import { type InboundPublish, metaFromPublish } from './properties.js';
import type { RetainedStore } from './retained.js';

/** Options of one publish into the mesh. */
export interface PublishOptions {
  /** JetStream deduplication id (inbound QoS 2 of persistent sessions: a resend stores nothing). */
  readonly msgId?: string;
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
    const subject = topicToSubject(
      { prefix: this.#prefix, tier: 'mqtt' },
      publish.topic,
      publish.qos === 0 ? '0' : '1',
    );
    const headers = encodeMeta(metaFromPublish(publish, Date.now()));
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
}

/**
 * Retained messages in JetStream (DESIGN.md "State in JetStream"): the last-value-per-subject
 * stream `layout.streams.retained`, one subject per topic,
 * `topicToSubject({ prefix: layout.retainedPrefix, tier: 'mqtt' }, topic, '1')`. Every replica
 * reads the same stream, so a retained message is the same wherever a client subscribes
 * (other tiers read the same layout). A retained PUBLISH with an empty payload removes the
 * topic's message [MQTT-3.3.1-6] [MQTT-3.3.1-7].
 */
import type { Backbone, HeaderEntries, MeshLayout, StoredMessage } from '@protomesh/backbone';
import { filterToSubjects, subjectToTopic, topicToSubject } from '@protomesh/topic-map';

export class RetainedStore {
  readonly #backbone: Backbone;
  readonly #stream: string;
  readonly #space: { readonly prefix: string; readonly tier: 'mqtt' };
  /** Per topic, the last store or clear under way on this replica: operations on one topic stay in order. */
  readonly #tails = new Map<string, Promise<unknown>>();

  constructor(backbone: Backbone, layout: MeshLayout) {
    this.#backbone = backbone;
    this.#stream = layout.streams.retained.name;
    this.#space = { prefix: layout.retainedPrefix, tier: 'mqtt' };
  }

  /** The retained subject of `topic` (throws like `topicToSubject`). */
  subjectOf(topic: string): string {
    return topicToSubject(this.#space, topic, '1');
  }

  /**
   * Replaces the retained message of `topic` (or removes it when `payload` is empty).
   * Resolves once stored; operations on one topic run in the order they were called.
   */
  set(topic: string, payload: Uint8Array, headers: HeaderEntries): Promise<void> {
    const subject = this.subjectOf(topic);
    const previous = this.#tails.get(subject) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(async () => {
        if (payload.length === 0) await this.#backbone.purge(this.#stream, subject);
        else await this.#backbone.append(subject, payload, { headers, expectStream: this.#stream });
      });
    this.#tails.set(subject, next);
    void next
      .catch(() => undefined)
      .finally(() => {
        if (this.#tails.get(subject) === next) this.#tails.delete(subject);
      });
    return next;
  }

  /**
   * The retained messages matching `filter`, oldest store first. Wildcards in the first
   * level do not match `$` topics [MQTT-4.7.2-1] (the subject mapping takes care of it).
   */
  async lookup(filter: string): Promise<StoredMessage[]> {
    const subjects = filterToSubjects(this.#space, filter, { classes: ['1'] });
    const found = await Promise.all(subjects.map((s) => this.#backbone.lastPerSubject(this.#stream, s)));
    const out = found.flat();
    if (subjects.length > 1) out.sort((a, b) => a.seq - b.seq);
    return out;
  }

  /** Decodes the topic of a retained subject. */
  topicOf(subject: string): string | undefined {
    const decoded = subjectToTopic(this.#space.prefix, subject);
    return decoded?.tier === 'mqtt' ? decoded.topic : undefined;
  }
}

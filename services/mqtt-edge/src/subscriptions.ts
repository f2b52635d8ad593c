/**
 * The subscriptions of one connection and how messages reach it:
 *
 * - live: one `LocalFanout` tap per subject (shared with every local connection);
 * - persistent sessions: QoS ≥ 1 subscriptions take QoS 1/2 traffic (class-1 subjects) from
 *   the session's durable consumers instead, so nothing is lost while the client is away,
 *   and only class-0 traffic live;
 * - shared subscriptions through the broker's {@link SharedSubscriptions}.
 *
 * With overlapping subscriptions a message is sent once, at the highest granted QoS, with
 * every matching Subscription Identifier [MQTT-3.3.4-2] [MQTT-3.3.4-3].
 */
import type { BackboneMessage, DeliveredMessage } from '@protomesh/backbone';
import { decodeMeta, type MessageMeta } from '@protomesh/envelope';
import { filterToSubjects, type QosClass, subjectMatches, subjectToTopic, topicMatches } from '@protomesh/topic-map';
import type { SubscriptionTap } from './context.js';
import type { Outgoing } from './outbound.js';
import type { PublishCache } from './publish-encoder.js';
import type { ConsumerSet } from './session/consumers.js';
import { type MutableSessionRecord, type StoredSubscription, sessionConsumerName } from './session/record.js';

/** How a client asked to receive one subscription (3.1.1 uses the defaults). */
export interface SubscriptionOptions {
  readonly qos: 0 | 1 | 2;
  /** MQTT 5 No Local: never send the client its own messages on this subscription [MQTT-3.8.3-3]. */
  readonly noLocal: boolean;
  /** MQTT 5 Retain As Published: keep the RETAIN flag on forwarded messages [MQTT-3.3.1-12]. */
  readonly retainAsPublished: boolean;
  /** MQTT 5 Subscription Identifier. */
  readonly id?: number;
}

/** One subscription with what serves it. */
export interface SubscriptionEntry extends SubscriptionOptions {
  readonly filter: string;
  /** Group and inner filter of a shared subscription. */
  readonly share?: { readonly group: string; readonly filter: string };
  readonly liveSubjects: readonly string[];
  /** Class-1 subjects served by the session's durable consumers → first sequence each delivers. */
  readonly from: Readonly<Record<string, number>>;
}

/** What the subscriptions need from their connection and broker. */
export interface SubscriptionsHost {
  clientId(): string;
  readonly prefix: string;
  readonly stem: string;
  readonly streamName: string;
  /** Session generation when the session outlives the connection; undefined = clean session. */
  persistentGen(): string | undefined;
  addTap(subject: string, tap: SubscriptionTap): void;
  removeTap(subject: string, tap: SubscriptionTap): void;
  createConsumers(onMessage: (subject: string, message: DeliveredMessage) => void): ConsumerSet;
  streamNextSeq(): Promise<number>;
  joinShared(entry: SubscriptionEntry): Promise<void>;
  leaveShared(entry: SubscriptionEntry, forget: boolean): Promise<void>;
  updateSession(mutate: (record: MutableSessionRecord) => void): Promise<void>;
  deleteConsumer(durable: string): Promise<void>;
  enqueue(message: Outgoing): void;
  isConnected(): boolean;
}

export class Subscriptions {
  readonly #host: SubscriptionsHost;
  readonly #tapOwner: SubscriptionTap['connection'];
  readonly #entries = new Map<string, SubscriptionEntry>();
  readonly #taps = new Map<string, SubscriptionTap>();
  #consumers: ConsumerSet | undefined;

  constructor(host: SubscriptionsHost, tapOwner: SubscriptionTap['connection']) {
    this.#host = host;
    this.#tapOwner = tapOwner;
  }

  get entries(): ReadonlyMap<string, SubscriptionEntry> {
    return this.#entries;
  }

  /** Distinct live subjects this connection listens to. */
  get tapCount(): number {
    return this.#taps.size;
  }

  /**
   * Adds or replaces the subscription for `filter` [MQTT-3.8.4-3]; resolves once messages
   * published from now on reach the client (and it is stored in the session). Returns
   * whether it existed before (for Retain Handling 1).
   */
  async add(
    filter: string,
    options: SubscriptionOptions,
    share: { group: string; filter: string } | undefined,
  ): Promise<boolean> {
    const existing = this.#entries.get(filter);
    const gen = this.#host.persistentGen();
    if (share) {
      const entry: SubscriptionEntry = { ...options, filter, share, liveSubjects: [], from: {} };
      this.#entries.set(filter, entry);
      if (!existing) await this.#host.joinShared(entry);
      if (gen) await this.#persist(entry);
      return existing !== undefined;
    }
    const space = { prefix: this.#host.prefix, tier: 'mqtt' as const };
    const durable = gen !== undefined && options.qos > 0;
    const liveSubjects = filterToSubjects(space, filter, durable ? { classes: ['0'] } : undefined);
    const from: Record<string, number> = {};
    if (durable) {
      const wanted = filterToSubjects(space, filter, { classes: ['1'] });
      let next: number | undefined;
      for (const subject of wanted) {
        const kept = existing?.from[subject];
        if (kept !== undefined) from[subject] = kept;
        else from[subject] = next ??= await this.#host.streamNextSeq();
      }
    }
    const entry: SubscriptionEntry = { ...options, filter, liveSubjects, from };
    this.#entries.set(filter, entry);
    if (gen) {
      for (const subject of Object.keys(from)) {
        await this.#consumerSet().attach(subject, sessionConsumerName(this.#host.stem, gen, subject), {
          kind: 'seq',
          seq: from[subject]!,
        });
      }
    }
    this.#retap(existing, entry);
    if (existing) await this.#dropUnusedConsumers(existing);
    if (gen) await this.#persist(entry);
    return existing !== undefined;
  }

  /** Removes the subscription for `filter`; false when there was none. */
  async remove(filter: string): Promise<boolean> {
    const entry = this.#entries.get(filter);
    if (!entry) return false;
    this.#entries.delete(filter);
    const gen = this.#host.persistentGen();
    if (entry.share) {
      await this.#host.leaveShared(entry, true);
    } else {
      this.#retap(entry, undefined);
      await this.#dropUnusedConsumers(entry);
    }
    if (gen) {
      await this.#host.updateSession((record) => {
        delete record.subs[filter];
      });
    }
    return true;
  }

  /** Restores the subscriptions of a resumed session (taps, consumers, shared groups). */
  async restore(
    subs: Readonly<Record<string, StoredSubscription>>,
    parseShare: (filter: string) => { group: string; filter: string } | undefined,
  ): Promise<void> {
    const gen = this.#host.persistentGen();
    const space = { prefix: this.#host.prefix, tier: 'mqtt' as const };
    for (const [filter, stored] of Object.entries(subs)) {
      const options: SubscriptionOptions = {
        qos: stored.qos,
        noLocal: stored.nl === true,
        retainAsPublished: stored.rap === true,
        ...(stored.sid !== undefined && { id: stored.sid }),
      };
      const share = parseShare(filter);
      if (share) {
        const entry: SubscriptionEntry = { ...options, filter, share, liveSubjects: [], from: {} };
        this.#entries.set(filter, entry);
        await this.#host.joinShared(entry);
        continue;
      }
      const from = stored.from ?? {};
      const durable = gen !== undefined && Object.keys(from).length > 0;
      const liveSubjects = filterToSubjects(space, filter, durable ? { classes: ['0'] } : undefined);
      const entry: SubscriptionEntry = { ...options, filter, liveSubjects, from: durable ? from : {} };
      this.#entries.set(filter, entry);
      if (durable && gen) {
        for (const [subject, seq] of Object.entries(from)) {
          await this.#consumerSet().attach(subject, sessionConsumerName(this.#host.stem, gen, subject), {
            kind: 'seq',
            seq,
          });
        }
      }
      this.#retap(undefined, entry);
    }
  }

  /**
   * The connection ended: stop everything that feeds it. The durable consumers stay when
   * the session continues (`sessionContinues`); shared groups are left for good otherwise.
   */
  async detach(sessionContinues: boolean): Promise<void> {
    for (const tap of this.#taps.values()) this.#host.removeTap(tap.subject, tap);
    this.#taps.clear();
    const consumers = this.#consumers;
    this.#consumers = undefined;
    const shared = [...this.#entries.values()].filter((e) => e.share);
    this.#entries.clear();
    await Promise.all([
      consumers?.stopAll(),
      ...shared.map((entry) => this.#host.leaveShared(entry, !sessionContinues)),
    ]);
  }

  #consumerSet(): ConsumerSet {
    this.#consumers ??= this.#host.createConsumers((subject, message) => this.deliverStored(subject, message));
    return this.#consumers;
  }

  async #persist(entry: SubscriptionEntry): Promise<void> {
    const stored: StoredSubscription = {
      qos: entry.qos,
      ...(entry.noLocal && { nl: true }),
      ...(entry.retainAsPublished && { rap: true }),
      ...(entry.id !== undefined && { sid: entry.id }),
      ...(Object.keys(entry.from).length > 0 && { from: entry.from }),
    };
    await this.#host.updateSession((record) => {
      record.subs[entry.filter] = stored;
    });
  }

  /** Moves the live taps of a subscription from `before` to `after` (either may be absent). */
  #retap(before: SubscriptionEntry | undefined, after: SubscriptionEntry | undefined): void {
    const removed = new Set(before?.liveSubjects ?? []);
    for (const subject of after?.liveSubjects ?? []) {
      if (removed.delete(subject)) continue;
      let tap = this.#taps.get(subject);
      if (!tap) {
        tap = { connection: this.#tapOwner, subject, filters: new Set() };
        this.#taps.set(subject, tap);
        this.#host.addTap(subject, tap);
      }
      tap.filters.add(after!.filter);
    }
    for (const subject of removed) {
      const tap = this.#taps.get(subject);
      if (!tap) continue;
      tap.filters.delete(before!.filter);
      if (tap.filters.size === 0) {
        this.#taps.delete(subject);
        this.#host.removeTap(subject, tap);
      }
    }
  }

  /** Stops and deletes the consumers of `old` no current subscription uses any more. */
  async #dropUnusedConsumers(old: SubscriptionEntry): Promise<void> {
    const gen = this.#host.persistentGen();
    if (!gen || !this.#consumers) return;
    for (const subject of Object.keys(old.from)) {
      let used = false;
      for (const entry of this.#entries.values()) if (subject in entry.from) used = true;
      if (!used) await this.#consumers.detach(subject, sessionConsumerName(this.#host.stem, gen, subject), true);
    }
  }

  // ---------------------------------------------------------------- delivery

  /**
   * A live message through `tap`. With overlapping subscriptions the message arrives once
   * per matching subject; only the arrival through the smallest matching subject is sent,
   * at the highest QoS granted by any matching subscription [MQTT-3.3.4-2].
   */
  deliverLive(
    tap: SubscriptionTap,
    message: BackboneMessage,
    topic: string,
    cls: QosClass,
    meta: MessageMeta,
    publishedQos: 0 | 1 | 2,
    cache?: PublishCache,
  ): void {
    const local = meta.originTier === 'mqtt' && meta.originClient === this.#host.clientId();
    if (this.#taps.size === 1 && tap.filters.size === 1) {
      // The common case, one subscription: no overlap to resolve.
      for (const filter of tap.filters) {
        const entry = this.#entries.get(filter);
        if (!entry || (entry.noLocal && local)) return;
        this.#deliverLiveAs(
          message,
          topic,
          cls,
          meta,
          publishedQos,
          local,
          entry.qos,
          entry.retainAsPublished && meta.retain === true,
          entry.id === undefined ? undefined : [entry.id],
          cache,
        );
      }
      return;
    }
    let granted = -1;
    let retain = false;
    let ids: number[] | undefined;
    const consider = (candidate: SubscriptionTap) => {
      for (const filter of candidate.filters) {
        const entry = this.#entries.get(filter);
        if (!entry || (entry.noLocal && local)) continue;
        if (entry.qos > granted) granted = entry.qos;
        if (entry.retainAsPublished && meta.retain) retain = true;
        if (entry.id !== undefined) ids = addId(ids, entry.id);
      }
    };
    if (this.#taps.size === 1) {
      consider(tap);
    } else {
      for (const other of this.#taps.values()) {
        if (other !== tap && !subjectMatches(other.subject, message.subject)) continue;
        if (other.subject < tap.subject) return; // that subscription sends this message
        consider(other);
      }
    }
    if (granted < 0) return;
    this.#deliverLiveAs(message, topic, cls, meta, publishedQos, local, granted, retain, ids, cache);
  }

  #deliverLiveAs(
    message: BackboneMessage,
    topic: string,
    cls: QosClass,
    meta: MessageMeta,
    publishedQos: 0 | 1 | 2,
    local: boolean,
    granted: number,
    retain: boolean,
    ids: number[] | undefined,
    cache: PublishCache | undefined,
  ): void {
    // A persistent session's consumers send QoS 1/2 traffic of its QoS ≥ 1 subscriptions.
    if (cls === '1' && this.#consumers && this.#coveredByConsumer(topic, local)) return;
    this.#host.enqueue({
      topic,
      payload: toBuffer(message.payload),
      qos: Math.min(publishedQos, granted) as 0 | 1 | 2,
      retain,
      meta,
      ...(ids && { subscriptionIds: ids }),
      ...(cache && { cache }),
    });
  }

  #coveredByConsumer(topic: string, local: boolean): boolean {
    for (const entry of this.#entries.values()) {
      if (entry.share || Object.keys(entry.from).length === 0) continue;
      if (entry.noLocal && local) continue;
      if (topicMatches(entry.filter, topic)) return true;
    }
    return false;
  }

  /**
   * A message from the session consumer of `consumerSubject`. With overlapping filters
   * several consumers hold it; the one with the smallest subject among those that existed
   * when it was stored sends it, the others acknowledge their copy.
   */
  deliverStored(consumerSubject: string, message: DeliveredMessage): void {
    if (!this.#host.isConnected()) {
      message.nak();
      return;
    }
    const decoded = subjectToTopic(this.#host.prefix, message.subject);
    if (decoded?.tier !== 'mqtt') {
      message.ack();
      return;
    }
    const meta = decodeMeta(message.headers);
    const local = meta.originTier === 'mqtt' && meta.originClient === this.#host.clientId();
    let granted = -1;
    let retain = false;
    let ids: number[] | undefined;
    let sender: string | undefined;
    for (const entry of this.#entries.values()) {
      if (entry.share || (entry.noLocal && local)) continue;
      if (!topicMatches(entry.filter, decoded.topic)) continue;
      if (entry.qos > granted) granted = entry.qos;
      if (entry.retainAsPublished && meta.retain) retain = true;
      if (entry.id !== undefined) ids = addId(ids, entry.id);
      for (const [subject, first] of Object.entries(entry.from)) {
        if (
          first <= message.seq &&
          subjectMatches(subject, message.subject) &&
          (sender === undefined || subject < sender)
        ) {
          sender = subject;
        }
      }
    }
    if (granted < 0 || sender !== consumerSubject) {
      message.ack(); // not for this client, or another consumer of the session sends it
      return;
    }
    const publishedQos = meta.qos ?? 1;
    this.#host.enqueue({
      topic: decoded.topic,
      payload: toBuffer(message.payload),
      qos: Math.min(publishedQos === 0 ? 1 : publishedQos, granted) as 0 | 1 | 2,
      retain,
      meta,
      stored: message,
      persistent: true,
      ...(ids && { subscriptionIds: ids }),
    });
  }
}

/** A view of the payload bytes (never copied). */
export function toBuffer(payload: Uint8Array): Buffer {
  return Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
}

/** Adds a Subscription Identifier once. */
function addId(ids: number[] | undefined, id: number): number[] {
  if (!ids) return [id];
  if (!ids.includes(id)) ids.push(id);
  return ids;
}

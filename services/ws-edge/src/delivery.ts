/**
 * Delivery to WebSocket subscribers on one replica. Connections holding the same filter share
 * one {@link FilterGroup}; each message is serialized once per group ({@link FrameSet}), not
 * once per client.
 *
 * - Class 0 (QoS 0) comes from NATS core: one backbone subscription per distinct subject
 *   ({@link LocalFanout}).
 * - Class 1 (QoS 1) comes from JetStream so every delivery carries its stream position
 *   (`seq`, the recovery offset): one consumer per replica reads the tier stream in order
 *   ({@link LiveStream}) and a {@link SubjectIndex} routes each message to the groups it matches.
 */
import {
  type Backbone,
  type BackboneMessage,
  type ConsumerHandle,
  type DeliveredMessage,
  LocalFanout,
  StreamNotFoundError,
} from '@protomesh/backbone';
import { decodeMeta, type MessageMeta } from '@protomesh/envelope';
import { injectTraceHeaders, type Logger, startDeliverSpan, type Tracing } from '@protomesh/telemetry';
import { SubjectIndex, type SubjectSpace, subjectToTopic } from '@protomesh/topic-map';
import { FrameSet } from './frames.js';
import { type Delivery, utf8Text, type WsQos } from './protocol.js';
import type { WsSubscription } from './subscription.js';
import type { WsTelemetry } from './telemetry.js';

/** Redelivery wait of the replica's live consumer, in ms; it acks on receipt, so this only matters if the process stalls. */
export const LIVE_ACK_WAIT_MS = 30_000;
/** Unacked messages the live consumer may have outstanding (it acks on receipt). */
export const LIVE_MAX_ACK_PENDING = 10_000;

/** Every local subscription to one filter string, and the subjects that feed it. */
export class FilterGroup {
  readonly filter: string;
  /** Class-0 subjects (NATS core). */
  readonly liveSubjects: readonly string[];
  /** Class-1 subjects (the tier stream). */
  readonly storedSubjects: readonly string[];
  readonly members = new Set<WsSubscription>();
  /** Members with client acks: their class-1 messages come from their own consumers, not from here. */
  acked = 0;

  constructor(filter: string, liveSubjects: readonly string[], storedSubjects: readonly string[]) {
    this.filter = filter;
    this.liveSubjects = liveSubjects;
    this.storedSubjects = storedSubjects;
  }
}

/**
 * The replica's one JetStream consumer on the tier stream, started on first use: it reads
 * every class-1 message in stream order from the position it started at, so `position`
 * (the newest sequence handed on) is a watermark: every later message will be dispatched.
 */
export class LiveStream {
  readonly #backbone: Backbone;
  readonly #stream: string;
  readonly #logger: Logger;
  readonly #dispatch: (message: DeliveredMessage, groups: FilterGroup[]) => void;
  readonly #index = new SubjectIndex<FilterGroup>();
  #handle: ConsumerHandle | undefined;
  #starting: Promise<void> | undefined;
  #stopped = false;
  #position = 0;

  constructor(
    backbone: Backbone,
    stream: string,
    logger: Logger,
    dispatch: (message: DeliveredMessage, groups: FilterGroup[]) => void,
  ) {
    this.#backbone = backbone;
    this.#stream = stream;
    this.#logger = logger;
    this.#dispatch = dispatch;
  }

  /** Newest stream sequence dispatched (or the stream's end when the consumer started). */
  get position(): number {
    return this.#position;
  }

  /** Resolves once the consumer runs; a failed start is retried by the next call. */
  start(): Promise<void> {
    this.#starting ??= this.#start().catch((error: unknown) => {
      this.#starting = undefined;
      throw error;
    });
    return this.#starting;
  }

  async #start(): Promise<void> {
    const state = await this.#backbone.streamState(this.#stream);
    if (state === undefined) throw new StreamNotFoundError(this.#stream);
    // Start exactly after the end seen now, so `position` is exact: nothing before it is
    // delivered by this consumer and everything after it is.
    const handle = await this.#backbone.consume(
      {
        stream: this.#stream,
        deliver: { kind: 'seq', seq: state.lastSeq + 1 },
        ackWaitMs: LIVE_ACK_WAIT_MS,
        maxAckPending: LIVE_MAX_ACK_PENDING,
      },
      (message) => this.#onMessage(message),
    );
    if (this.#stopped) {
      await handle.stop();
      return;
    }
    this.#handle = handle;
    if (state.lastSeq > this.#position) this.#position = state.lastSeq;
    this.#logger.debug({ stream: this.#stream, from: state.lastSeq + 1 }, 'ws live consumer started');
  }

  add(group: FilterGroup): void {
    for (const subject of group.storedSubjects) this.#index.add(subject, group);
  }

  remove(group: FilterGroup): void {
    for (const subject of group.storedSubjects) this.#index.remove(subject, group);
  }

  #onMessage(message: DeliveredMessage): void {
    message.ack();
    // A redelivery (the process stalled past the ack wait) was dispatched already.
    if (message.seq <= this.#position) return;
    this.#position = message.seq;
    const groups = this.#index.match(message.subject);
    if (groups.length > 0) this.#dispatch(message, groups);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#starting?.catch(() => undefined);
    await this.#handle?.stop();
  }
}

/** What the hub needs from the edge. */
export interface DeliveryHubOptions {
  readonly space: SubjectSpace;
  readonly backbone: Backbone;
  readonly streamName: string;
  readonly telemetry: WsTelemetry;
  readonly tracing: Tracing;
  readonly logger: Logger;
}

/** Filter groups of this replica and the two ways messages reach them. */
export class DeliveryHub {
  readonly live: LiveStream;
  readonly #space: SubjectSpace;
  readonly #telemetry: WsTelemetry;
  readonly #tracing: Tracing;
  readonly #groups = new Map<string, FilterGroup>();
  readonly #fanout: LocalFanout<FilterGroup>;

  constructor(options: DeliveryHubOptions) {
    this.#space = options.space;
    this.#telemetry = options.telemetry;
    this.#tracing = options.tracing;
    this.#fanout = new LocalFanout(options.backbone, (message, groups) => this.#dispatch(message, groups, 0));
    this.live = new LiveStream(options.backbone, options.streamName, options.logger, (message, groups) =>
      this.#dispatch(message, groups, 1),
    );
  }

  /** Distinct filters subscribed on this replica. */
  get groups(): number {
    return this.#groups.size;
  }

  /** `subscription` starts receiving live messages of its filter. */
  join(subscription: WsSubscription, liveSubjects: readonly string[], storedSubjects: readonly string[]): void {
    let group = this.#groups.get(subscription.filter);
    if (group === undefined) {
      group = new FilterGroup(subscription.filter, liveSubjects, storedSubjects);
      this.#groups.set(group.filter, group);
      for (const subject of liveSubjects) this.#fanout.add(subject, group);
      this.live.add(group);
    }
    if (!group.members.has(subscription)) {
      group.members.add(subscription);
      if (subscription.acked) group.acked += 1;
    }
  }

  /** `subscription` stops receiving; the group's subscriptions go with its last member. */
  leave(subscription: WsSubscription): void {
    const group = this.#groups.get(subscription.filter);
    if (!group?.members.delete(subscription)) return;
    if (subscription.acked) group.acked -= 1;
    if (group.members.size > 0) return;
    this.#groups.delete(group.filter);
    for (const subject of group.liveSubjects) this.#fanout.remove(subject, group);
    this.live.remove(group);
  }

  /**
   * One message to every member of every matching group: one {@link FrameSet} per group.
   * Telemetry per message and group, never per client: one latency sample per message, and
   * with tracing on one deliver span per group whose context the group's frame carries.
   */
  #dispatch(message: BackboneMessage & { readonly seq?: number }, groups: Iterable<FilterGroup>, qos: WsQos): void {
    const route = subjectToTopic(this.#space.prefix, message.subject);
    if (!route || route.tier !== this.#space.tier) return;
    const meta = decodeMeta(message.headers);
    const text = utf8Text(message.payload);
    const seq = qos === 1 ? message.seq : undefined;
    const traced = this.#tracing.enabled;
    let sent = 0;
    for (const group of groups) {
      // Class 1 to a group of acked subscriptions only: each gets it from its own consumer.
      const recipients = qos === 1 ? group.members.size - group.acked : group.members.size;
      if (recipients === 0) continue;
      const delivery: Delivery = {
        sub: group.filter,
        topic: route.topic,
        qos,
        payload: message.payload,
        contentType: meta.contentType,
        seq,
        origin: meta.originTier,
        // Tracing off: the message's own trace context passes through unchanged.
        traceparent: meta.traceparent,
        tracestate: meta.tracestate,
      };
      if (traced) sent += this.#deliverTraced(group, recipients, delivery, text, meta);
      else {
        const frames = new FrameSet(delivery, text);
        for (const member of group.members) if (member.deliverLive(frames)) sent += 1;
      }
    }
    if (sent > 0) {
      this.#telemetry.delivered(qos, sent, message.payload.byteLength);
      this.#telemetry.deliveryLatency(meta.publishedAt, meta.originTier, qos);
    }
  }

  /** One group's delivery inside a CONSUMER span `deliver <filter>`, child of the message's context; returns the frames written. */
  #deliverTraced(
    group: FilterGroup,
    recipients: number,
    delivery: Delivery,
    text: string | undefined,
    meta: MessageMeta,
  ): number {
    const span = startDeliverSpan(this.#tracing, {
      system: 'websocket',
      destination: delivery.topic,
      template: group.filter,
      qos: delivery.qos,
      tier: 'ws',
      recipients,
      messageId: delivery.seq,
      parent: meta,
    });
    // W3C Trace Context §3.2: the frame carries this hop's span as the parent.
    const { traceparent, tracestate } = injectTraceHeaders(span);
    const frames = new FrameSet({ ...delivery, traceparent, tracestate }, text);
    let sent = 0;
    for (const member of group.members) if (member.deliverLive(frames)) sent += 1;
    span.end();
    return sent;
  }

  async close(): Promise<void> {
    this.#fanout.close();
    await this.live.stop();
  }
}

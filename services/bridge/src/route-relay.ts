/**
 * QoS 1 for one route on this replica: the partitions of the route this replica owns.
 *
 * nats-server 2.9 cannot filter a consumer by a hash of the subject, so each replica reads
 * the route's messages once with its own ephemeral consumer (one read of the stream per
 * replica), keeps the messages of the partitions it owns and acknowledges the rest at once.
 * The position of record is not the consumer but a cursor per partition in KV (see
 * `cursors.ts`): the consumer is only this replica's reader, started at the lowest cursor
 * of its partitions and restarted lower when it takes over a partition that is behind.
 *
 * Within a partition, messages are appended to the target tier in stream order without
 * waiting for the previous append (one NATS connection keeps the order of its publishes,
 * so the target stores them in order), bounded by `maxInFlight`. A partition's cursor only
 * passes a message once its append resolved, so a crash repeats at most the appends since
 * the last cursor write, which the target's deduplication (`<stream>:<seq>:<route>`) drops.
 */
import type { ConsumerHandle, DeliveredMessage } from '@protomesh/backbone';
import { traceLogFields } from '@protomesh/telemetry';
import { subjectToTopic, type Tier } from '@protomesh/topic-map';
import { type Crossing, carry, publishDeadLetter } from './carry.js';
import { planCrossing, SUBJECT_CACHE_MAX, TopicPlan } from './crossing.js';
import { partitionOf } from './cursors.js';
import { ProcessTrace } from './message-trace.js';
import { TokenBucket } from './rate-limit.js';
import type { RelayContext } from './relay-context.js';
import type { CompiledRoute } from './routes.js';

/** One issued crossing of a partition, not yet settled or not yet passed by the cursor. */
interface Entry {
  readonly seq: number;
  readonly message: DeliveredMessage;
  state: 'waiting' | 'pending' | 'done' | 'failed';
  /** The message's process span (tracing on only). */
  readonly trace: ProcessTrace | undefined;
}

/** An owned partition. */
interface Partition {
  /** Messages of this partition with a lower sequence are handled (here or by a previous owner). */
  next: number;
  /** Crossings in stream order; the head is the oldest not yet done. */
  readonly queue: Entry[];
  /** Set while being released: no new messages, resolve when the queue settled. */
  releasing: (() => void) | undefined;
  /**
   * The position when the release began: messages of the partition after it are no longer
   * taken, so the reader's position must not count for it any more.
   */
  frozen: number | undefined;
  /**
   * Taken behind the reader: its messages between `next` and the reader's position will only
   * come with the next reader, so until then it takes none (and its cursor stays at `next`).
   */
  rewind: boolean;
}

/** Tuning of a {@link RouteRelay}; times in milliseconds. */
export interface RouteRelayOptions {
  readonly partitions: number;
  /** Most crossings in flight on this route on this replica (the reader's `maxAckPending`). */
  readonly maxInFlight: number;
  /** Pause before reading again after a failed append, in ms. */
  readonly restartDelayMs: number;
}

/** Reader redelivery timeout, in ms: the reader is ours alone and acks everything, so it hardly matters. */
const READER_ACK_WAIT_MS = 300_000;

/** A source subject of the route's own partitions: its tier and topic, and what the route makes of the topic. */
interface KnownSubject {
  readonly tier: Tier;
  readonly topic: string;
  readonly plan: TopicPlan;
}

/** The QoS 1 relay of one route on this replica. */
export class RouteRelay {
  readonly route: CompiledRoute;
  readonly #ctx: RelayContext;
  readonly #options: RouteRelayOptions;
  readonly #parts = new Map<number, Partition>();
  #reader: ConsumerHandle | undefined;
  /** Next sequence the current reader delivers (its start until something arrives). */
  #readerNext = 0;
  /** Bumped on every reader (re)start, so deliveries of a stopped reader are ignored. */
  #generation = 0;
  /** Serialises reader starts and stops. */
  #chain: Promise<void> = Promise.resolve();
  #outstanding = 0;
  #failed = false;
  #closed = false;
  #bucket: TokenBucket | undefined;
  readonly #waiting: Array<{ entry: Entry; plan: Crossing; part: Partition }> = [];
  #drainTimer: NodeJS.Timeout | undefined;
  #share = 1;
  /** Source subject → what it maps to: `invalid` when not a class 1 mesh subject, `unmatched` outside the route's filter. */
  readonly #subjects = new Map<string, KnownSubject | 'invalid' | 'unmatched'>();
  /** The plan context, reused: only `now` changes per message. */
  readonly #planContext: { prefix: string; retainedPrefix: string; maxHops: number; now: number };

  constructor(route: CompiledRoute, context: RelayContext, options: RouteRelayOptions) {
    this.route = route;
    this.#ctx = context;
    this.#options = options;
    const { layout, maxHops } = context;
    this.#planContext = { prefix: layout.prefix, retainedPrefix: layout.retainedPrefix, maxHops, now: 0 };
    if (route.rateLimit) this.#bucket = new TokenBucket(route.rateLimit.perSecond, route.rateLimit.burst);
  }

  /** Partitions owned now, ascending. */
  held(): number[] {
    return [...this.#parts.keys()].sort((a, b) => a - b);
  }

  /** Crossings issued and not yet stored. */
  get inFlight(): number {
    return this.#outstanding;
  }

  /** This replica's part of the route's rate limit: `1/replicas` of it. */
  setShare(replicas: number): void {
    this.#share = Math.max(1, replicas);
    const rate = this.route.rateLimit;
    if (rate && this.#bucket) {
      this.#bucket.configure(rate.perSecond / this.#share, Math.max(1, Math.floor(rate.burst / this.#share)));
    }
  }

  /** Where partition `p` stands now: every message of it below this sequence is stored or skipped. */
  cursor(p: number): number | undefined {
    const part = this.#parts.get(p);
    if (!part) return undefined;
    for (const entry of part.queue) if (entry.state !== 'done') return entry.seq;
    if (part.frozen !== undefined) return part.frozen;
    return part.rewind ? part.next : Math.max(part.next, this.#readerNext);
  }

  /** Takes partition `p` starting at stream sequence `from`; (re)starts the reader when it is behind. */
  hold(p: number, from: number): Promise<void> {
    if (this.#closed || this.#parts.has(p)) return Promise.resolve();
    const part: Partition = { next: from, queue: [], releasing: undefined, frozen: undefined, rewind: false };
    if (this.#reader !== undefined && from < this.#readerNext) part.rewind = true;
    this.#parts.set(p, part);
    this.#ctx.metrics.partitionsHeld(this.route.id, this.#parts.size);
    return this.#enqueue(async () => {
      if (this.#parts.get(p) !== part || this.#failed) return;
      // A reader started since (for another partition) already went back far enough.
      if (this.#reader === undefined || part.rewind) await this.#startReader(this.#lowest());
    });
  }

  /**
   * Gives partition `p` up gracefully: no new messages, waits up to `graceMs` for its
   * crossings in flight, and returns its cursor for the caller to write before it releases
   * the lease (undefined when not held).
   */
  async release(p: number, graceMs: number): Promise<number | undefined> {
    const part = this.#parts.get(p);
    if (!part) return undefined;
    part.frozen = part.rewind ? part.next : Math.max(part.next, this.#readerNext);
    part.releasing = () => {};
    if (part.queue.some((e) => e.state === 'pending' || e.state === 'waiting')) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => {
          part.releasing = resolve;
        }),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
        }),
      ]);
      clearTimeout(timer);
    }
    const cursor = this.cursor(p);
    this.#forget(p);
    return cursor;
  }

  /** Drops partition `p` at once (its lease is lost: another replica may own it already). */
  drop(p: number): void {
    this.#forget(p);
  }

  /** Releases every partition (see {@link release}); resolves to their cursors. */
  async close(graceMs: number): Promise<Map<number, number>> {
    const cursors = new Map<number, number>();
    await Promise.all(
      this.held().map(async (p) => {
        const cursor = await this.release(p, graceMs);
        if (cursor !== undefined) cursors.set(p, cursor);
      }),
    );
    this.#closed = true;
    clearTimeout(this.#drainTimer);
    await this.#enqueue(() => this.#stopReader());
    return cursors;
  }

  /** The reader's lag: messages of the route not yet delivered to this replica (undefined without a reader). */
  async lag(): Promise<number | undefined> {
    const reader = this.#reader;
    if (!reader) return undefined;
    const state = await this.#ctx.backbone.consumerState(
      this.#ctx.layout.streams[this.route.from.tier].name,
      reader.name,
    );
    return state === undefined ? undefined : state.pending;
  }

  #forget(p: number): void {
    const part = this.#parts.get(p);
    if (!part) return;
    this.#parts.delete(p);
    part.releasing?.();
    this.#ctx.metrics.partitionsHeld(this.route.id, this.#parts.size);
    if (this.#parts.size === 0) void this.#enqueue(() => this.#stopReader());
  }

  #lowest(): number {
    let lowest = Number.POSITIVE_INFINITY;
    for (const p of this.#parts.keys()) lowest = Math.min(lowest, this.cursor(p) ?? lowest);
    return lowest;
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    this.#chain = this.#chain.then(step).catch((error: unknown) => {
      this.#ctx.logger.error({ err: error, route: this.route.id }, 'bridge reader transition failed');
    });
    return this.#chain;
  }

  async #startReader(from: number): Promise<void> {
    await this.#stopReader();
    if (this.#closed || this.#parts.size === 0 || !Number.isFinite(from)) return;
    const generation = ++this.#generation;
    this.#ctx.logger.debug({ route: this.route.id, from, partitions: this.held() }, 'bridge reader started');
    this.#readerNext = from;
    // The new reader starts at or below every partition's position.
    for (const part of this.#parts.values()) part.rewind = false;
    const { backbone, layout } = this.#ctx;
    try {
      this.#reader = await backbone.consume(
        {
          // No filter subject: on nats-server 2.9 a filtered consumer re-reading a range the
          // server no longer caches (a takeover) is about 100× slower than an unfiltered one
          // (measured 0.9k vs 91k msg/s), so the reader reads the stream whole and the route's
          // filter picks the topics here.
          stream: layout.streams[this.route.from.tier].name,
          deliver: { kind: 'seq', seq: from },
          ackWaitMs: READER_ACK_WAIT_MS,
          maxAckPending: this.#options.maxInFlight,
        },
        (message) => {
          if (generation === this.#generation) this.#receive(message);
          else ack(message);
        },
      );
    } catch (error) {
      // The backbone is down or closing: try again later from the cursors.
      this.#ctx.logger.warn({ err: error, route: this.route.id }, 'bridge reader could not start');
      this.#scheduleRestart();
    }
  }

  async #stopReader(): Promise<void> {
    const reader = this.#reader;
    this.#reader = undefined;
    this.#generation++;
    // Until the next reader delivers, positions come from the partitions alone.
    this.#readerNext = 0;
    await reader?.stop().catch(() => undefined);
  }

  #receive(message: DeliveredMessage): void {
    if (this.#failed) {
      // Recovery reads this again from the cursors; the position must not pass it.
      ack(message);
      return;
    }
    const seq = message.seq;
    if (seq >= this.#readerNext) this.#readerNext = seq + 1;
    if (message.deliveryCount > 1) this.#ctx.metrics.redelivered(this.route.from.tier);
    // Other replicas' partitions (most messages with several replicas): decided by the subject alone.
    const part = this.#parts.get(partitionOf(message.subject, this.#options.partitions));
    if (part === undefined || part.releasing || part.rewind || seq < part.next) {
      ack(message);
      return;
    }
    part.next = seq + 1;
    const { metrics, backbone, layout, now, tracing } = this.#ctx;
    const route = this.route;
    metrics.received(route.from.tier, '1', message.payload.byteLength);
    const source = this.#known(message.subject);
    if (source === 'unmatched') {
      ack(message);
      return;
    }
    if (source === 'invalid') {
      metrics.outcome(route.id, 'invalid'); // not a mesh subject (a plain NATS publisher's own escaping)
      if (tracing.enabled) this.#trace(message).settle('invalid');
      ack(message);
      return;
    }
    const context = this.#planContext;
    context.now = now();
    const plan = planCrossing(
      route,
      { tier: source.tier, cls: '1', topic: source.topic, payload: message.payload, headers: message.headers },
      context,
      source.plan,
    );
    switch (plan.kind) {
      case 'no_match':
        ack(message);
        return;
      case 'skip':
        metrics.outcome(route.id, plan.reason);
        // A message this bridge already carried coming back (loop prevention) is not worked on: no span.
        if (tracing.enabled && plan.reason !== 'skipped_loop') this.#trace(message).settle(plan.reason);
        ack(message);
        return;
      case 'dead_letter':
        publishDeadLetter(
          backbone,
          layout.prefix,
          route,
          { tier: source.tier, topic: source.topic, payload: message.payload, headers: message.headers },
          plan.error,
        );
        metrics.outcome(route.id, 'dead_lettered');
        if (tracing.enabled) this.#trace(message).settle('dead_lettered');
        ack(message);
        return;
      case 'cross': {
        const trace = tracing.enabled ? this.#trace(message) : undefined;
        const entry: Entry = { seq: message.seq, message, state: 'waiting', trace };
        part.queue.push(entry);
        if (this.#bucket && (this.#waiting.length > 0 || !this.#bucket.take())) {
          // Over the rate: wait (QoS 1 is never dropped); order kept by the FIFO.
          this.#waiting.push({ entry, plan, part });
          this.#scheduleDrain();
          return;
        }
        this.#issue(entry, plan, part);
      }
    }
  }

  /** What `subject` maps to on this route, worked out once per subject. */
  #known(subject: string): KnownSubject | 'invalid' | 'unmatched' {
    let known = this.#subjects.get(subject);
    if (known === undefined) {
      const source = subjectToTopic(this.#ctx.layout.prefix, subject);
      if (source?.cls !== '1') known = 'invalid';
      else {
        const plan = new TopicPlan(this.route, source.tier, source.topic, this.#planContext);
        known = plan.matches ? { tier: source.tier, topic: source.topic, plan } : 'unmatched';
      }
      if (this.#subjects.size >= SUBJECT_CACHE_MAX) this.#subjects.clear();
      this.#subjects.set(subject, known);
    }
    return known;
  }

  #scheduleDrain(): void {
    if (this.#drainTimer || !this.#bucket) return;
    this.#drainTimer = setTimeout(
      () => {
        this.#drainTimer = undefined;
        while (this.#waiting.length > 0 && this.#bucket!.take()) {
          const { entry, plan, part } = this.#waiting.shift()!;
          if (this.#parts.get(this.#partOf(entry)) !== part || this.#failed) {
            entry.trace?.span.end(); // released meanwhile: the next owner processes it
            continue;
          }
          this.#issue(entry, plan, part);
        }
        if (this.#waiting.length > 0) this.#scheduleDrain();
      },
      Math.max(1, this.#bucket.waitMs()),
    );
  }

  #partOf(entry: Entry): number {
    return partitionOf(entry.message.subject, this.#options.partitions);
  }

  #issue(entry: Entry, plan: Crossing, part: Partition): void {
    entry.state = 'pending';
    this.#outstanding += 1;
    const { backbone, layout, metrics, retained } = this.#ctx;
    const route = this.route;
    const message = entry.message;
    const forward = entry.trace?.forward(route.id, plan);
    // Stream, sequence and route identify this crossing: a repeat stores nothing new.
    carry(backbone, layout, retained, forward?.plan ?? plan, `${message.stream}:${message.seq}:${route.id}`).then(
      () => {
        if (forward) entry.trace?.forwarded(forward.span, 'bridged');
        this.#outstanding -= 1;
        entry.state = 'done';
        metrics.outcome(route.id, 'bridged');
        metrics.sent(plan.tier, plan.qos === 0 ? '0' : '1', plan.payload.byteLength);
        ack(message);
        this.#settled(part);
      },
      (error: unknown) => {
        if (forward) entry.trace?.forwarded(forward.span, 'failed', error);
        this.#outstanding -= 1;
        entry.state = 'failed';
        metrics.outcome(route.id, 'failed');
        this.#settled(part);
        if (!this.#failed) {
          this.#failed = true;
          this.#ctx.logger.warn(
            { err: error, route: route.id, ...(forward ? traceLogFields(forward.span) : {}) },
            'bridge append failed: reading again from the cursors',
          );
          void this.#enqueue(() => this.#recover());
        }
      },
    );
  }

  /** Drops the done head of a partition's queue; wakes a release waiting for it. */
  #settled(part: Partition): void {
    while (part.queue.length > 0 && part.queue[0]!.state === 'done') part.queue.shift();
    if (part.releasing && !part.queue.some((e) => e.state === 'pending' || e.state === 'waiting')) {
      part.releasing();
    }
  }

  /**
   * After a failed append: stop reading, let what is in flight settle, rewind every
   * partition to its cursor and read again from there after a pause. Appends after the
   * failed one that did store are repeated and dropped by deduplication.
   */
  async #recover(): Promise<void> {
    await this.#stopReader();
    while (this.#outstanding > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    for (const { entry } of this.#waiting) entry.trace?.span.end(); // read again after the pause
    this.#waiting.length = 0;
    for (const part of this.#parts.values()) {
      const first = part.queue.find((e) => e.state !== 'done');
      if (first) part.next = first.seq;
      part.queue.length = 0;
      // A partition being given back hands over from its first message not stored.
      if (part.frozen !== undefined) {
        part.frozen = Math.min(part.frozen, part.next);
        part.releasing?.();
      }
    }
    await new Promise((resolve) => setTimeout(resolve, this.#options.restartDelayMs));
    this.#failed = false;
    if (!this.#closed) await this.#startReader(this.#lowest());
  }

  /** The process span of `message` on this route, with the route counted as matched. */
  #trace(message: DeliveredMessage): ProcessTrace {
    const trace = new ProcessTrace(this.#ctx.tracing, {
      tier: this.route.from.tier,
      message,
      seq: message.seq,
      clientId: this.#ctx.replicaId,
    });
    trace.route(this.route.id);
    trace.done();
    return trace;
  }

  #scheduleRestart(): void {
    setTimeout(() => {
      if (!this.#closed && this.#reader === undefined && this.#parts.size > 0) {
        void this.#enqueue(() => this.#startReader(this.#lowest()));
      }
    }, this.#options.restartDelayMs).unref();
  }
}

/** An ack that cannot throw: the reader is ours alone, a lost ack costs at most a skipped redelivery. */
function ack(message: DeliveredMessage): void {
  try {
    message.ack();
  } catch {
    // The connection is closing.
  }
}

/**
 * An in-memory JetStream consumer with explicit acks: a delivery cursor (after an initial
 * last-per-subject batch when asked), per-message ack timers, nak with delay, `working`,
 * a `maxAckPending` bound, `maxDeliver`, and round-robin between the handles of a durable.
 * The stream tells it about appends and removals, so pending counts stay exact.
 */
import { subjectMatches } from '@protomesh/topic-map';
import type {
  ConsumerHandle,
  ConsumerHandler,
  ConsumerState,
  DeliveredMessage,
  DeliverFrom,
  StoredMessage,
} from '../contract.js';
import { DEFAULT_ACK_WAIT_MS, DEFAULT_MAX_ACK_PENDING } from '../defaults.js';
import type { BackboneLogger } from '../logger.js';
import type { MemoryStream, StreamObserver } from './stream.js';
import { Deferred, type Timers } from './timers.js';

/** Deliveries per event-loop turn before yielding. */
const DELIVERIES_PER_TURN = 1_000;

/** The settings of a consumer that may change when a durable is opened again. */
export interface ConsumerSettings {
  readonly ackWaitMs: number;
  readonly maxAckPending: number;
  /** Infinity = unlimited. */
  readonly maxDeliver: number;
}

export function consumerSettings(spec: {
  ackWaitMs?: number;
  maxAckPending?: number;
  maxDeliver?: number;
}): ConsumerSettings {
  return {
    ackWaitMs: spec.ackWaitMs ?? DEFAULT_ACK_WAIT_MS,
    maxAckPending: spec.maxAckPending ?? DEFAULT_MAX_ACK_PENDING,
    maxDeliver: spec.maxDeliver ?? Number.POSITIVE_INFINITY,
  };
}

/** A delivered message not yet acked (or given up on). */
interface Outstanding {
  deliveries: number;
  timer: NodeJS.Timeout | undefined;
  /** Bumped on each delivery, so a late timer or ack of an old delivery is recognised. */
  token: number;
}

export class MemoryConsumer implements StreamObserver {
  readonly name: string;
  readonly durable: boolean;
  readonly filter: string | undefined;
  #settings: ConsumerSettings;
  readonly #stream: MemoryStream;
  readonly #timers: Timers;
  readonly #logger: BackboneLogger;
  readonly #stopObserving: () => void;
  readonly #pump = new Deferred(() => this.#deliver());
  /** The initial last-per-subject batch, ascending, delivered before the cursor. */
  #initial: number[];
  #initialSet: Set<number>;
  /** Next stream sequence to consider for a first delivery. */
  #cursor: number;
  /** Highest sequence handed out for the first time (or the start position - 1). */
  #lastDelivered: number;
  /** Messages not yet delivered (the contract's `pending`). */
  #pending: number;
  readonly #outstanding = new Map<number, Outstanding>();
  /** Outstanding messages due again, in due order. */
  #redeliver: number[] = [];
  #handles: EmbeddedConsumerHandle[] = [];
  #turn = 0;
  #token = 0;
  #deleted = false;

  constructor(
    stream: MemoryStream,
    name: string,
    durable: boolean,
    filter: string | undefined,
    deliver: DeliverFrom,
    settings: ConsumerSettings,
    timers: Timers,
    logger: BackboneLogger,
  ) {
    this.name = name;
    this.durable = durable;
    this.filter = filter === '>' ? undefined : filter;
    this.#settings = settings;
    this.#stream = stream;
    this.#timers = timers;
    this.#logger = logger;
    stream.expire();
    this.#initial = [];
    switch (deliver.kind) {
      case 'all':
        this.#cursor = 1;
        break;
      case 'new':
        this.#cursor = stream.lastSeq + 1;
        break;
      case 'seq':
        this.#cursor = deliver.seq;
        break;
      case 'last-per-subject':
        this.#initial = stream.lastPerSubject(this.filter).map((m) => m.seq);
        this.#cursor = stream.lastSeq + 1;
        break;
    }
    this.#initialSet = new Set(this.#initial);
    const start = this.#initial[0] ?? this.#cursor;
    this.#lastDelivered = start - 1;
    this.#pending = this.#initial.length + stream.count(this.#cursor, this.filter);
    this.#stopObserving = stream.observe(this);
  }

  get settings(): ConsumerSettings {
    return this.#settings;
  }

  set settings(settings: ConsumerSettings) {
    this.#settings = settings;
    this.#pump.request();
  }

  #matches(subject: string): boolean {
    return this.filter === undefined || subjectMatches(this.filter, subject);
  }

  /** True when `message` is still to be delivered for the first time. */
  #undelivered(message: StoredMessage): boolean {
    return this.#initialSet.has(message.seq) || (message.seq >= this.#cursor && this.#matches(message.subject));
  }

  onAppend(message: StoredMessage): void {
    if (message.seq >= this.#cursor && this.#matches(message.subject)) {
      this.#pending++;
      this.#pump.request();
    }
  }

  onRemove(message: StoredMessage): void {
    if (this.#undelivered(message)) {
      this.#pending--;
      if (this.#initialSet.delete(message.seq)) this.#initial = this.#initial.filter((s) => s !== message.seq);
    }
    const entry = this.#outstanding.get(message.seq);
    if (entry !== undefined) {
      // Gone from the stream: nothing to redeliver, and it no longer counts as unacked.
      this.#timers.clear(entry.timer);
      this.#outstanding.delete(message.seq);
      this.#redeliver = this.#redeliver.filter((s) => s !== message.seq);
      this.#pump.request();
    }
  }

  attach(handle: EmbeddedConsumerHandle): void {
    this.#handles.push(handle);
    this.#pump.request();
  }

  detach(handle: EmbeddedConsumerHandle): void {
    this.#handles = this.#handles.filter((h) => h !== handle);
  }

  get handles(): number {
    return this.#handles.length;
  }

  state(): ConsumerState {
    this.#stream.expire();
    let floor = this.#lastDelivered;
    for (const seq of this.#outstanding.keys()) if (seq - 1 < floor) floor = seq - 1;
    return {
      name: this.name,
      ackFloor: Math.max(0, floor),
      pending: this.#pending,
      ackPending: this.#outstanding.size,
    };
  }

  /** Deletes the consumer; returns the handles that were attached (they get nothing more from it). */
  delete(): EmbeddedConsumerHandle[] {
    if (this.#deleted) return [];
    this.#deleted = true;
    this.#stopObserving();
    this.#pump.cancel();
    for (const entry of this.#outstanding.values()) this.#timers.clear(entry.timer);
    const handles = this.#handles;
    this.#handles = [];
    return handles;
  }

  /**
   * A new consumer of the same name and settings, starting at this one's oldest unacked
   * message, else after its newest delivery: what a NATS consume loop recreates when the
   * server lost its consumer. Call after {@link delete}.
   */
  successor(): MemoryConsumer {
    let from = this.#lastDelivered + 1;
    for (const seq of this.#outstanding.keys()) if (seq < from) from = seq;
    for (const seq of this.#initial) if (seq < from) from = seq;
    this.#outstanding.clear();
    this.#redeliver = [];
    return new MemoryConsumer(
      this.#stream,
      this.name,
      this.durable,
      this.filter,
      { kind: 'seq', seq: Math.max(1, from) },
      this.#settings,
      this.#timers,
      this.#logger,
    );
  }

  /** The next message to hand out: a due redelivery first, then the initial batch, then the cursor. */
  #take(): { message: StoredMessage; redelivery: boolean } | undefined {
    while (this.#redeliver.length > 0) {
      const seq = this.#redeliver.shift()!;
      const message = this.#stream.get(seq);
      if (message !== undefined && this.#outstanding.has(seq)) return { message, redelivery: true };
    }
    while (this.#initial.length > 0) {
      const seq = this.#initial.shift()!;
      this.#initialSet.delete(seq);
      const message = this.#stream.get(seq);
      if (message !== undefined) return { message, redelivery: false };
    }
    this.#stream.expire();
    const message = this.#stream.next(this.#cursor, this.filter);
    if (message === undefined) return undefined;
    this.#cursor = message.seq + 1;
    return { message, redelivery: false };
  }

  #deliver(): void {
    let n = 0;
    while (!this.#deleted && this.#handles.length > 0 && n < DELIVERIES_PER_TURN) {
      // Redeliveries are already counted in the outstanding set; new messages need room.
      if (this.#redeliver.length === 0 && this.#outstanding.size >= this.#settings.maxAckPending) break;
      const next = this.#take();
      if (next === undefined) break;
      n++;
      const { message, redelivery } = next;
      if (!redelivery) {
        this.#pending--;
        if (message.seq > this.#lastDelivered) this.#lastDelivered = message.seq;
      }
      const entry = this.#outstanding.get(message.seq) ?? { deliveries: 0, timer: undefined, token: 0 };
      entry.deliveries++;
      entry.token = ++this.#token;
      this.#outstanding.set(message.seq, entry);
      this.#armAckWait(message.seq, entry);
      const handle = this.#handles[this.#turn++ % this.#handles.length]!;
      handle.deliver(this.#delivered(message, entry));
    }
    if (n === DELIVERIES_PER_TURN) this.#pump.request();
  }

  #armAckWait(seq: number, entry: Outstanding): void {
    this.#timers.clear(entry.timer);
    const token = entry.token;
    entry.timer = this.#timers.set(() => this.#ackWaitExpired(seq, token), this.#settings.ackWaitMs);
  }

  #ackWaitExpired(seq: number, token: number): void {
    const entry = this.#outstanding.get(seq);
    if (entry === undefined || entry.token !== token) return;
    entry.timer = undefined;
    if (entry.deliveries >= this.#settings.maxDeliver) {
      // Given up on, as nats-server does after max deliveries: no longer pending an ack.
      this.#outstanding.delete(seq);
    } else {
      this.#redeliver.push(seq);
    }
    this.#pump.request();
  }

  #delivered(message: StoredMessage, entry: Outstanding): DeliveredMessage {
    const token = entry.token;
    let settled = false;
    const current = () => {
      const now = this.#outstanding.get(message.seq);
      return now !== undefined && now.token === token ? now : undefined;
    };
    return Object.freeze({
      ...message,
      deliveryCount: entry.deliveries,
      pending: this.#pending,
      // Like a NATS ack, ack settles the stream sequence whichever delivery it came from.
      ack: () => {
        if (settled) return;
        settled = true;
        const now = this.#outstanding.get(message.seq);
        if (now === undefined) return;
        this.#timers.clear(now.timer);
        this.#outstanding.delete(message.seq);
        this.#redeliver = this.#redeliver.filter((s) => s !== message.seq);
        this.#pump.request();
      },
      nak: (delayMs?: number) => {
        if (settled) return;
        settled = true;
        const now = current();
        if (now === undefined) return;
        this.#timers.clear(now.timer);
        now.timer = undefined;
        const due = () => {
          if (current() === undefined) return;
          now.timer = undefined;
          this.#redeliver.push(message.seq);
          this.#pump.request();
        };
        if (delayMs !== undefined && delayMs > 0) now.timer = this.#timers.set(due, delayMs);
        else due();
      },
      working: () => {
        if (settled) return;
        const now = current();
        if (now !== undefined) this.#armAckWait(message.seq, now);
      },
    });
  }

  /** Logs a failing handler; the message stays unacked and comes back after the ack wait. */
  handlerFailed(err: unknown, seq: number): void {
    this.#logger.error({ stream: this.#stream.name, consumer: this.name, seq, err }, 'consumer handler failed');
  }
}

/** One `consume()` call on an embedded consumer. */
export class EmbeddedConsumerHandle implements ConsumerHandle {
  readonly name: string;
  #consumer: MemoryConsumer;
  readonly #handler: ConsumerHandler;
  readonly #onStop: (handle: EmbeddedConsumerHandle, consumer: MemoryConsumer) => void;
  #stopped = false;

  constructor(
    consumer: MemoryConsumer,
    handler: ConsumerHandler,
    onStop: (handle: EmbeddedConsumerHandle, consumer: MemoryConsumer) => void,
  ) {
    this.name = consumer.name;
    this.#consumer = consumer;
    this.#handler = handler;
    this.#onStop = onStop;
  }

  deliver(message: DeliveredMessage): void {
    try {
      const result = this.#handler(message);
      if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
        (result as Promise<void>).then(undefined, (err: unknown) => this.#consumer.handlerFailed(err, message.seq));
      }
    } catch (err) {
      this.#consumer.handlerFailed(err, message.seq);
    }
  }

  /** Moves this handle to `consumer` (its consumer was deleted and recreated). */
  rebind(consumer: MemoryConsumer): void {
    if (this.#stopped) return;
    this.#consumer = consumer;
    consumer.attach(this);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#consumer.detach(this);
    this.#onStop(this, this.#consumer);
  }
}

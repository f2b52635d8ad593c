/**
 * The QoS 1 path of one route while this replica owns its consumer: every delivered message
 * is appended to the target tier without waiting for the previous append (one NATS
 * connection keeps the order of its publishes, so the target stores them in stream order),
 * bounded by the consumer's `maxAckPending`. Acks go out strictly in stream order, each once
 * its append resolved, so the consumer's ack floor never passes a message the target has
 * not stored.
 */
import type { ConsumerHandle, DeliveredMessage, DeliverFrom } from '@protomesh/backbone';
import { subjectToTopic, topicToSubject } from '@protomesh/topic-map';
import { bridgedHeaders, verdict } from './forward.js';
import type { RelayContext } from './relay-context.js';
import { type CompiledRoute, routeMatches, targetTopic } from './routes.js';

interface Entry {
  readonly message: DeliveredMessage;
  state: 'pending' | 'done' | 'failed';
}

/** What a {@link Pipeline} is built from. */
export interface PipelineOptions {
  readonly route: CompiledRoute;
  readonly context: RelayContext;
  /** Most messages delivered but not yet acked (the consumer's `maxAckPending`). */
  readonly maxInFlight: number;
  /** Redelivery timeout of the consumer, in ms. */
  readonly ackWaitMs: number;
  /** Called once, on the first append that fails; the pipeline has stopped issuing. */
  readonly onFailure: (error: unknown) => void;
}

/** One consumer handle's worth of QoS 1 relaying; a restart makes a new pipeline. */
export class Pipeline {
  readonly #route: CompiledRoute;
  readonly #ctx: RelayContext;
  readonly #options: PipelineOptions;
  /** Issued and not yet acked, in stream order. */
  readonly #queue: Entry[] = [];
  readonly #bySeq = new Map<number, Entry>();
  #highestSeq = 0;
  /** Appends not yet settled. */
  #outstanding = 0;
  #stopping = false;
  #failed = false;
  #onSettled: (() => void) | undefined;
  #handle: ConsumerHandle | undefined;

  constructor(options: PipelineOptions) {
    this.#route = options.route;
    this.#ctx = options.context;
    this.#options = options;
  }

  /** Stream sequence of the oldest message issued but not acked (undefined when none). */
  get firstUnacked(): number | undefined {
    return this.#queue[0]?.message.seq;
  }

  /** Attaches to the route's durable consumer (creating it at `deliver` when absent). */
  async start(deliver: DeliverFrom): Promise<void> {
    const { backbone, layout } = this.#ctx;
    this.#handle = await backbone.consume(
      {
        stream: layout.streams[this.#route.from.tier].name,
        durable: this.#route.durable,
        filterSubject: this.#route.consumerFilter,
        deliver,
        ackWaitMs: this.#options.ackWaitMs,
        maxAckPending: this.#options.maxInFlight,
      },
      (message) => this.#receive(message),
    );
  }

  /**
   * Stops issuing, waits up to `graceMs` for in-flight appends, acks the settled prefix and
   * detaches from the consumer. Whatever stays unacked is redelivered to the next owner.
   */
  async drain(graceMs: number): Promise<void> {
    this.#stopping = true;
    if (this.#outstanding > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => {
          this.#onSettled = resolve;
        }),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
        }),
      ]);
      clearTimeout(timer);
      this.#onSettled = undefined;
    }
    this.#flush();
    await this.#handle?.stop();
  }

  #receive(message: DeliveredMessage): void {
    // Not issued: left unacked, the next consumer of this durable gets it again.
    if (this.#stopping || this.#failed) return;
    if (message.seq <= this.#highestSeq) {
      // A redelivery (the ack wait ran out): still in the queue means its append is pending
      // and will ack it; otherwise it was acked already and a second ack is harmless.
      if (!this.#bySeq.has(message.seq)) ack(message);
      return;
    }
    this.#highestSeq = message.seq;
    const entry: Entry = { message, state: 'pending' };
    this.#queue.push(entry);
    this.#bySeq.set(message.seq, entry);
    const route = this.#route;
    const { metrics, layout, backbone } = this.#ctx;
    metrics.received(route.from.tier, '1', message.payload.byteLength);

    const source = subjectToTopic(layout.prefix, message.subject);
    let subject: string | undefined;
    if (source && source.tier === route.from.tier && routeMatches(route, source.topic)) {
      const v = verdict(message.headers, this.#ctx.now());
      if (v !== 'bridge') {
        metrics.outcome(route.id, v);
      } else {
        try {
          subject = topicToSubject(
            { prefix: layout.prefix, tier: route.to.tier },
            targetTopic(route, source.topic),
            '1',
          );
        } catch {
          metrics.outcome(route.id, 'invalid'); // e.g. the target subject would be too long: it can never cross
        }
      }
    } else if (!source) {
      metrics.outcome(route.id, 'invalid'); // not a mesh subject (a plain NATS publisher's own escaping)
    }
    if (subject === undefined) {
      // Skipped for good: acked in order like any other message.
      entry.state = 'done';
      this.#flush();
      return;
    }

    this.#outstanding += 1;
    let append: Promise<unknown>;
    try {
      append = backbone.append(subject, message.payload, {
        headers: bridgedHeaders(message.headers, route.id),
        // Stream, sequence and route identify this crossing: a redelivery or a new owner's
        // replay stores nothing new in the target stream.
        msgId: `${message.stream}:${message.seq}:${route.id}`,
        expectStream: layout.streams[route.to.tier].name,
      });
    } catch (error) {
      append = Promise.reject(error);
    }
    append.then(
      () => {
        entry.state = 'done';
        metrics.outcome(route.id, 'bridged');
        metrics.sent(route.to.tier, '1', message.payload.byteLength);
        this.#settle();
      },
      (error: unknown) => {
        entry.state = 'failed';
        metrics.outcome(route.id, 'failed');
        if (!this.#failed) {
          this.#failed = true;
          this.#options.onFailure(error);
        }
        this.#settle();
      },
    );
  }

  #settle(): void {
    this.#outstanding -= 1;
    this.#flush();
    if (this.#outstanding === 0) this.#onSettled?.();
  }

  /** Acks the done prefix of the queue; stops at the first pending or failed append. */
  #flush(): void {
    while (this.#queue.length > 0 && this.#queue[0]!.state === 'done') {
      const entry = this.#queue.shift()!;
      this.#bySeq.delete(entry.message.seq);
      ack(entry.message);
    }
  }
}

/** An ack that cannot throw into the consumer: a lost ack only means one redelivery, which dedup absorbs. */
function ack(message: DeliveredMessage): void {
  try {
    message.ack();
  } catch {
    // The connection is closing; the next owner replays from the ack floor.
  }
}

/**
 * JetStream pull consumers behind `Backbone.consume`: provisioning (durable or ephemeral,
 * one `filter_subject` — nats-server 2.9 has no `filter_subjects`) and a supervised
 * `consumer.consume()` loop that survives reconnects and a consumer deleted under it.
 */
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  ReplayPolicy,
} from '@nats-io/jetstream';
import { nanos, nuid } from '@nats-io/transport-node';
import type { ConsumerHandle, ConsumerHandler, ConsumerSpec, DeliveredMessage, DeliverFrom } from '../contract.js';
import { DEFAULT_ACK_WAIT_MS, DEFAULT_MAX_ACK_PENDING } from '../defaults.js';
import { ConsumerConflictError, StreamNotFoundError } from '../errors.js';
import type { BackboneLogger } from '../logger.js';
import { ApiCode, apiCode, requestFailed } from './api-errors.js';
import { deliveryOf } from './delivery.js';

/** An ephemeral consumer the server deletes after this long without a pull (a crashed process), in ms. */
const EPHEMERAL_INACTIVE_THRESHOLD_MS = 30_000;
/** Messages requested per pull; the server still caps unacked messages at `max_ack_pending`. */
const MAX_PULL_BATCH = 100;
/** Backoff between restarts of a consume loop, in ms: doubles from the first to the cap. */
const RESTART_BACKOFF_FIRST_MS = 100;
const RESTART_BACKOFF_MAX_MS = 5_000;

/** What a consumer handle needs from its backbone. */
export interface ConsumerContext {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly logger: BackboneLogger;
  /** True once the connection is closed for good (no point restarting). */
  isClosed(): boolean;
  /** True while connected (ephemeral deletion is skipped when not: inactivity cleans up). */
  isConnected(): boolean;
}

function deliverConfig(deliver: DeliverFrom): Partial<ConsumerConfig> {
  switch (deliver.kind) {
    case 'all':
      return { deliver_policy: DeliverPolicy.All };
    case 'new':
      return { deliver_policy: DeliverPolicy.New };
    case 'last-per-subject':
      return { deliver_policy: DeliverPolicy.LastPerSubject };
    case 'seq':
      return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: deliver.seq };
  }
}

/** The consumer configuration for `spec`, named `name`, starting at `deliver`. */
export function consumerConfig(spec: ConsumerSpec, name: string, deliver: DeliverFrom): Partial<ConsumerConfig> {
  const config: Partial<ConsumerConfig> = {
    ack_policy: AckPolicy.Explicit,
    replay_policy: ReplayPolicy.Instant,
    ack_wait: nanos(Math.round(spec.ackWaitMs ?? DEFAULT_ACK_WAIT_MS)),
    max_ack_pending: spec.maxAckPending ?? DEFAULT_MAX_ACK_PENDING,
    max_deliver: spec.maxDeliver ?? -1,
    ...deliverConfig(deliver),
  };
  // nats-server 2.9 insists on a filter for last-per-subject; `>` means "every subject".
  const filter = spec.filterSubject ?? (deliver.kind === 'last-per-subject' ? '>' : undefined);
  if (filter !== undefined) config.filter_subject = filter;
  if (spec.durable !== undefined) {
    config.durable_name = name;
  } else {
    config.name = name;
    config.inactive_threshold = nanos(EPHEMERAL_INACTIVE_THRESHOLD_MS);
  }
  return config;
}

function sameFilter(a: string | undefined, b: string | undefined): boolean {
  const norm = (s: string | undefined) => (s === undefined || s === '' || s === '>' ? '' : s);
  return norm(a) === norm(b);
}

/**
 * Creates the consumer, or for a durable that exists already, reuses it (its position is
 * kept; `deliver` is ignored) after aligning ack wait and limits. Several replicas may call
 * this at once for one durable: a create that loses the race re-reads.
 */
export async function provisionConsumer(
  ctx: ConsumerContext,
  spec: ConsumerSpec,
  name: string,
  deliver: DeliverFrom,
): Promise<ConsumerInfo> {
  const wanted = consumerConfig(spec, name, deliver);
  try {
    if (spec.durable === undefined) return await ctx.jsm.consumers.add(spec.stream, wanted);
    for (let attempt = 0; ; attempt++) {
      const existing = await consumerInfo(ctx.jsm, spec.stream, name);
      if (existing !== undefined) return await alignDurable(ctx, spec, existing, wanted);
      try {
        return await ctx.jsm.consumers.add(spec.stream, wanted);
      } catch (err) {
        const code = apiCode(err);
        const lostRace = code === ApiCode.ConsumerNameInUse || code === ApiCode.ConsumerAlreadyExists;
        if (!lostRace || attempt >= 2) throw err;
      }
    }
  } catch (err) {
    if (apiCode(err) === ApiCode.StreamNotFound) throw new StreamNotFoundError(spec.stream, { cause: err });
    if (err instanceof ConsumerConflictError) throw err;
    throw requestFailed(`consume ${spec.stream}/${name}`, err);
  }
}

async function alignDurable(
  ctx: ConsumerContext,
  spec: ConsumerSpec,
  existing: ConsumerInfo,
  wanted: Partial<ConsumerConfig>,
): Promise<ConsumerInfo> {
  const have = existing.config;
  if (!sameFilter(have.filter_subject, wanted.filter_subject)) {
    throw new ConsumerConflictError(
      existing.name,
      `exists with filter ${JSON.stringify(have.filter_subject ?? '')}, asked for ${JSON.stringify(spec.filterSubject ?? '')}`,
    );
  }
  const update: Partial<ConsumerConfig> = {};
  if (have.ack_wait !== wanted.ack_wait) update.ack_wait = wanted.ack_wait;
  if (have.max_ack_pending !== wanted.max_ack_pending) update.max_ack_pending = wanted.max_ack_pending;
  if ((have.max_deliver ?? -1) !== wanted.max_deliver) update.max_deliver = wanted.max_deliver;
  if (Object.keys(update).length === 0) return existing;
  try {
    const info = await ctx.jsm.consumers.update(spec.stream, existing.name, update);
    ctx.logger.info({ stream: spec.stream, consumer: existing.name, update }, 'durable consumer updated');
    return info;
  } catch (err) {
    // Another replica may run an older definition; keep consuming with what the server has.
    ctx.logger.warn({ stream: spec.stream, consumer: existing.name, err }, 'durable consumer update failed');
    return existing;
  }
}

/** Consumer info, or undefined when the consumer (or its stream) does not exist. */
export async function consumerInfo(
  jsm: JetStreamManager,
  stream: string,
  name: string,
): Promise<ConsumerInfo | undefined> {
  try {
    return await jsm.consumers.info(stream, name);
  } catch (err) {
    const code = apiCode(err);
    if (code === ApiCode.ConsumerNotFound || code === ApiCode.StreamNotFound) return undefined;
    throw err;
  }
}

/** A name for an ephemeral consumer: unique, and valid as an API subject token. */
export function ephemeralName(): string {
  return `eph_${nuid.next()}`;
}

/** One `consume()` call: a supervised pull loop delivering to `handler`. */
export class NatsConsumerHandle implements ConsumerHandle {
  readonly name: string;
  readonly #ctx: ConsumerContext;
  readonly #spec: ConsumerSpec;
  readonly #handler: ConsumerHandler;
  readonly #onStopped: (handle: NatsConsumerHandle) => void;
  #info: ConsumerInfo;
  #stopped = false;
  #stopping: Promise<void> | undefined;
  #messages: ConsumerMessages | undefined;
  /** Set when the server lost the consumer: the next loop turn creates it again. */
  #recreate = false;
  #failures = 0;
  #wake: (() => void) | undefined;
  readonly #loop: Promise<void>;
  /**
   * Where to resume if the consumer must be recreated: the oldest message this handle got
   * and has not settled, else the one after the newest it got.
   */
  readonly #unsettled = new Set<number>();
  #lastSeq = 0;
  /** True once this handle got a message. */
  #seen = false;

  constructor(
    ctx: ConsumerContext,
    spec: ConsumerSpec,
    info: ConsumerInfo,
    handler: ConsumerHandler,
    onStopped: (handle: NatsConsumerHandle) => void,
  ) {
    this.#ctx = ctx;
    this.#spec = spec;
    this.#info = info;
    this.name = info.name;
    this.#handler = handler;
    this.#onStopped = onStopped;
    // Until something is delivered: the stream position when the consumer was made ("new").
    this.#lastSeq = info.delivered.stream_seq;
    this.#loop = this.#run();
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#messages?.close().catch(() => undefined);
    await this.#loop;
    if (this.#spec.durable === undefined && this.#ctx.isConnected()) {
      try {
        await this.#ctx.jsm.consumers.delete(this.#spec.stream, this.name);
      } catch (err) {
        const code = apiCode(err);
        if (code !== ApiCode.ConsumerNotFound && code !== ApiCode.StreamNotFound) {
          this.#ctx.logger.warn(
            { stream: this.#spec.stream, consumer: this.name, err },
            'ephemeral consumer delete failed',
          );
        }
      }
    }
    this.#onStopped(this);
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        if (this.#recreate) {
          this.#info = await provisionConsumer(this.#ctx, this.#spec, this.name, this.#resumeFrom());
          this.#recreate = false;
          this.#ctx.logger.info({ stream: this.#spec.stream, consumer: this.name }, 'consumer recreated');
        }
        const consumer = this.#ctx.js.consumers.getConsumerFromInfo(this.#info);
        const messages = await consumer.consume({
          max_messages: Math.min(MAX_PULL_BATCH, this.#info.config.max_ack_pending ?? MAX_PULL_BATCH),
          callback: (m) => this.#deliver(m),
        });
        this.#messages = messages;
        if (this.#stopped) {
          await messages.close();
          break;
        }
        void this.#watch(messages);
        const ended = await messages.closed();
        this.#messages = undefined;
        if (this.#stopped || this.#ctx.isClosed()) break;
        if (!this.#recreate) {
          this.#ctx.logger.warn(
            { stream: this.#spec.stream, consumer: this.name, err: ended },
            'consume loop ended; restarting',
          );
        }
      } catch (err) {
        if (this.#stopped || this.#ctx.isClosed()) break;
        const code = apiCode(err) ?? apiCode((err as Error | undefined)?.cause);
        if (code === ApiCode.ConsumerNotFound) this.#recreate = true;
        this.#ctx.logger.warn({ stream: this.#spec.stream, consumer: this.name, err }, 'consume failed; retrying');
      }
      await this.#sleep(Math.min(RESTART_BACKOFF_FIRST_MS * 2 ** this.#failures, RESTART_BACKOFF_MAX_MS));
      this.#failures++;
    }
  }

  /** Ends the current loop turn when the server says the consumer is gone, so the next turn recreates it. */
  async #watch(messages: ConsumerMessages): Promise<void> {
    for await (const note of messages.status()) {
      if (note.type === 'consumer_deleted' || note.type === 'consumer_not_found') {
        if (this.#stopped) return;
        this.#recreate = true;
        await messages.close();
        return;
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  #resumeFrom(): DeliverFrom {
    if (this.#unsettled.size > 0) return { kind: 'seq', seq: Math.min(...this.#unsettled) };
    if (this.#seen) return { kind: 'seq', seq: this.#lastSeq + 1 };
    // Nothing delivered yet: the original start, with "new" pinned to where it began.
    if (this.#spec.deliver.kind !== 'new') return this.#spec.deliver;
    return { kind: 'seq', seq: this.#lastSeq + 1 };
  }

  #deliver(m: JsMsg): void {
    if (this.#stopped) {
      // Hand it back at once instead of waiting for the ack wait.
      safely(() => m.nak());
      return;
    }
    this.#failures = 0;
    const delivery = deliveryOf(m);
    const seq = delivery.streamSeq;
    if (!this.#seen || seq > this.#lastSeq) this.#lastSeq = seq;
    this.#seen = true;
    const maxDeliver = this.#spec.maxDeliver;
    // After its last allowed delivery the server gives up on it; so does the resume point.
    if (maxDeliver === undefined || delivery.deliveryCount < maxDeliver) this.#unsettled.add(seq);
    else this.#unsettled.delete(seq);
    const unsettled = this.#unsettled;
    const message: DeliveredMessage = {
      stream: delivery.stream,
      seq,
      subject: m.subject,
      payload: m.data,
      headers: delivery.headers,
      time: delivery.time,
      deliveryCount: delivery.deliveryCount,
      pending: delivery.pending,
      ack() {
        unsettled.delete(seq);
        safely(() => m.ack());
      },
      nak(delayMs?: number) {
        safely(() => m.nak(delayMs));
      },
      working() {
        safely(() => m.working());
      },
    };
    try {
      const result = this.#handler(message);
      if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
        (result as Promise<void>).then(undefined, (err: unknown) => this.#handlerFailed(err, seq));
      }
    } catch (err) {
      this.#handlerFailed(err, seq);
    }
  }

  #handlerFailed(err: unknown, seq: number): void {
    // The message stays unacked and comes back after the ack wait.
    this.#ctx.logger.error({ stream: this.#spec.stream, consumer: this.name, seq, err }, 'consumer handler failed');
  }
}

/** Acks on a closed connection throw; the message is simply redelivered later. */
function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // The connection is closed or draining: the server redelivers after the ack wait.
  }
}

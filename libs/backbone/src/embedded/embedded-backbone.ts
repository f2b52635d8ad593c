/**
 * The in-process backbone: the same contract as NATS JetStream, held in memory, so the
 * whole mesh runs in one process with no server. Deliveries are asynchronous (never inside
 * the publisher's call) and ordered per subscription and per consumer handle.
 */

import type {
  AppendOptions,
  AppendResult,
  Backbone,
  BackboneMessage,
  BackboneStatus,
  ConsumerHandle,
  ConsumerHandler,
  ConsumerSpec,
  ConsumerState,
  HeaderEntries,
  KvBucket,
  KvSpec,
  ReadStreamOptions,
  StoredMessage,
  StreamSpec,
  StreamState,
  SubscribeOptions,
  Subscription,
} from '../contract.js';
import { copyBytes } from '../copy.js';
import {
  BackboneClosedError,
  ConsumerConflictError,
  NoStreamError,
  StreamConflictError,
  StreamMismatchError,
  StreamNotFoundError,
} from '../errors.js';
import { appendHeaders, MSG_ID_HEADER } from '../jetstream-headers.js';
import { type BackboneLogger, silentLogger } from '../logger.js';
import {
  assertAppendOptions,
  assertConsumerSpec,
  assertHeaders,
  assertKvSpec,
  assertName,
  assertQueue,
  assertReadStreamOptions,
  assertStreamSpec,
  assertSubject,
  assertSubjectPattern,
  normalizeHeaders,
} from '../validate.js';
import { Bus } from './bus.js';
import { consumerSettings, EmbeddedConsumerHandle, MemoryConsumer } from './consumer.js';
import { MemoryKvBucket } from './kv.js';
import { MemoryStream, streamLimits } from './stream.js';
import { Timers } from './timers.js';

/** Options of {@link createEmbeddedBackbone}. */
export interface EmbeddedBackboneOptions {
  /** Wall clock in epoch ms (message times, max age, dedup window, KV TTL); `Date.now` by default. */
  readonly clock?: () => number;
  /** pino-compatible; silent when omitted. */
  readonly logger?: BackboneLogger;
}

/** Subjects whose capturing stream is remembered; the cache starts over when full. */
const CAPTURE_CACHE_SIZE = 10_000;
/** How long `close()` waits for queued deliveries to run, in ms. */
const CLOSE_DRAIN_MS = 2_000;

/** Creates an in-process backbone. Synchronous: it is ready at once. */
export function createEmbeddedBackbone(options: EmbeddedBackboneOptions = {}): Backbone {
  return new EmbeddedBackbone(options);
}

/** True when some subject matches both patterns (both valid). */
export function patternsOverlap(a: string, b: string): boolean {
  const at = a.split('.');
  const bt = b.split('.');
  for (let i = 0; ; i++) {
    const x = at[i];
    const y = bt[i];
    if (x === undefined || y === undefined) return x === y;
    // '>' takes one or more tokens, and the other pattern has a token here.
    if (x === '>' || y === '>') return true;
    if (x !== '*' && y !== '*' && x !== y) return false;
  }
}

let ephemeralCounter = 0;

class EmbeddedBackbone implements Backbone {
  readonly kind = 'embedded' as const;
  readonly serverVersion = 'embedded';
  readonly #clock: () => number;
  readonly #logger: BackboneLogger;
  readonly #timers = new Timers();
  readonly #bus: Bus;
  readonly #streams = new Map<string, MemoryStream>();
  /** The stream capturing each recent subject (null: none); cleared when a stream is defined. */
  readonly #captured = new Map<string, MemoryStream | null>();
  readonly #consumers = new Map<string, Map<string, MemoryConsumer>>();
  readonly #buckets = new Map<string, MemoryKvBucket>();
  readonly #handles = new Set<EmbeddedConsumerHandle>();
  readonly #listeners = new Set<(status: BackboneStatus) => void>();
  #closing: Promise<void> | undefined;

  constructor(options: EmbeddedBackboneOptions) {
    this.#clock = options.clock ?? Date.now;
    this.#logger = options.logger ?? silentLogger;
    this.#bus = new Bus(this.#logger);
  }

  #assertOpen(operation: string): void {
    if (this.#closing !== undefined) throw new BackboneClosedError(operation);
  }

  isReady(): boolean {
    return this.#closing === undefined;
  }

  onStatus(listener: (status: BackboneStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  publish(subject: string, payload: Uint8Array, headers?: HeaderEntries): void {
    this.#assertOpen('publish');
    assertSubject(subject);
    assertHeaders(headers);
    const normalized = normalizeHeaders(headers);
    // As on NATS, a plain publish to a captured subject is stored too (without an ack).
    const stream = this.#capturing(subject);
    if (stream !== undefined) {
      const msgId = normalized?.find(([name]) => name === MSG_ID_HEADER)?.[1];
      stream.store(subject, payload, normalized, msgId);
    }
    this.#bus.publish({ subject, payload: copyBytes(payload), headers: normalized });
  }

  subscribe(subject: string, onMessage: (message: BackboneMessage) => void, options?: SubscribeOptions): Subscription {
    this.#assertOpen('subscribe');
    assertSubjectPattern(subject);
    if (options?.queue !== undefined) assertQueue(options.queue);
    const unsubscribe = this.#bus.subscribe(subject, onMessage, options?.queue);
    return { subject, unsubscribe };
  }

  async flush(): Promise<void> {
    this.#assertOpen('flush');
  }

  #capturing(subject: string): MemoryStream | undefined {
    const known = this.#captured.get(subject);
    if (known !== undefined) return known ?? undefined;
    let found: MemoryStream | null = null;
    for (const stream of this.#streams.values()) {
      if (stream.captures(subject)) {
        found = stream;
        break;
      }
    }
    if (this.#captured.size >= CAPTURE_CACHE_SIZE) this.#captured.clear();
    this.#captured.set(subject, found);
    return found ?? undefined;
  }

  #stream(name: string): MemoryStream {
    const stream = this.#streams.get(name);
    if (stream === undefined) throw new StreamNotFoundError(name);
    return stream;
  }

  async ensureStream(spec: StreamSpec): Promise<void> {
    this.#assertOpen('ensureStream');
    assertStreamSpec(spec);
    const limits = streamLimits(spec);
    this.#captured.clear();
    for (const other of this.#streams.values()) {
      if (other.name === spec.name) continue;
      for (const mine of limits.subjects) {
        const clash = other.limits.subjects.find((theirs) => patternsOverlap(mine, theirs));
        if (clash !== undefined) {
          throw new StreamConflictError(spec.name, `subject ${mine} overlaps ${clash} of stream ${other.name}`);
        }
      }
    }
    const existing = this.#streams.get(spec.name);
    if (existing === undefined) {
      this.#streams.set(spec.name, new MemoryStream(spec.name, limits, this.#clock));
      this.#consumers.set(spec.name, new Map());
      return;
    }
    if (existing.limits.storage !== limits.storage) {
      throw new StreamConflictError(spec.name, 'cannot change storage of an existing stream');
    }
    existing.update(limits);
  }

  async streamState(stream: string): Promise<StreamState | undefined> {
    this.#assertOpen('streamState');
    assertName('stream', stream);
    return this.#streams.get(stream)?.state();
  }

  async append(subject: string, payload: Uint8Array, options: AppendOptions = {}): Promise<AppendResult> {
    this.#assertOpen('append');
    assertSubject(subject);
    assertAppendOptions(options);
    const stream = this.#capturing(subject);
    if (stream === undefined) throw new NoStreamError(subject);
    if (options.expectStream !== undefined && options.expectStream !== stream.name) {
      throw new StreamMismatchError(subject, options.expectStream);
    }
    // Stored headers match what NATS stores: the caller's, plus the headers the client
    // adds for msgId and expectStream.
    // A frozen, already-normal array comes back as it is (shared by a run of messages).
    const normalized = normalizeHeaders(appendHeaders(options));
    const msgId = options.msgId ?? normalized?.find(([name]) => name === MSG_ID_HEADER)?.[1];
    const { seq, duplicate } = stream.store(subject, payload, normalized, msgId);
    // Live subscribers see every append, duplicates included: on NATS the stream is just
    // one more subscriber of the subject and deduplication happens inside it.
    this.#bus.publish({ subject, payload: copyBytes(payload), headers: normalized });
    return { stream: stream.name, seq, duplicate };
  }

  async getMessage(stream: string, seq: number): Promise<StoredMessage | undefined> {
    this.#assertOpen('getMessage');
    assertName('stream', stream);
    return this.#stream(stream).get(seq);
  }

  async readStream(stream: string, options: ReadStreamOptions): Promise<StoredMessage[]> {
    this.#assertOpen('readStream');
    assertReadStreamOptions(stream, options);
    return this.#stream(stream).read(options.fromSeq, options.filter, options.maxMessages);
  }

  async consume(spec: ConsumerSpec, handler: ConsumerHandler): Promise<ConsumerHandle> {
    this.#assertOpen('consume');
    assertConsumerSpec(spec);
    const stream = this.#stream(spec.stream);
    const consumers = this.#consumers.get(spec.stream)!;
    const settings = consumerSettings(spec);
    let consumer: MemoryConsumer | undefined;
    if (spec.durable !== undefined) {
      consumer = consumers.get(spec.durable);
      if (consumer !== undefined) {
        const wanted = spec.filterSubject === '>' ? undefined : spec.filterSubject;
        if (consumer.filter !== wanted) {
          throw new ConsumerConflictError(
            spec.durable,
            `exists with filter ${JSON.stringify(consumer.filter ?? '')}, asked for ${JSON.stringify(spec.filterSubject ?? '')}`,
          );
        }
        consumer.settings = settings;
      }
    }
    if (consumer === undefined) {
      const name = spec.durable ?? `eph_${++ephemeralCounter}`;
      consumer = new MemoryConsumer(
        stream,
        name,
        spec.durable !== undefined,
        spec.filterSubject,
        spec.deliver,
        settings,
        this.#timers,
        this.#logger,
      );
      consumers.set(name, consumer);
    }
    const handle = new EmbeddedConsumerHandle(consumer, handler, (h, current) => {
      this.#handles.delete(h);
      // An ephemeral consumer lives as long as its one handle.
      if (!current.durable) {
        current.delete();
        if (consumers.get(current.name) === current) consumers.delete(current.name);
      }
    });
    this.#handles.add(handle);
    consumer.attach(handle);
    return handle;
  }

  async consumerState(stream: string, durable: string): Promise<ConsumerState | undefined> {
    this.#assertOpen('consumerState');
    assertName('stream', stream);
    assertName('consumer', durable);
    return this.#consumers.get(stream)?.get(durable)?.state();
  }

  async deleteConsumer(stream: string, durable: string): Promise<boolean> {
    this.#assertOpen('deleteConsumer');
    assertName('stream', stream);
    assertName('consumer', durable);
    const consumers = this.#consumers.get(stream);
    const consumer = consumers?.get(durable);
    if (consumers === undefined || consumer === undefined) return false;
    const handles = consumer.delete();
    consumers.delete(durable);
    if (handles.length > 0) {
      // As on NATS, handles still running recreate the consumer and carry on from where they were.
      const recreated = consumer.successor();
      consumers.set(recreated.name, recreated);
      for (const handle of handles) handle.rebind(recreated);
    }
    return true;
  }

  async lastBySubject(stream: string, subject: string): Promise<StoredMessage | undefined> {
    this.#assertOpen('lastBySubject');
    assertName('stream', stream);
    assertSubject(subject);
    return this.#stream(stream).lastBySubject(subject);
  }

  async lastPerSubject(stream: string, filter: string): Promise<StoredMessage[]> {
    this.#assertOpen('lastPerSubject');
    assertName('stream', stream);
    assertSubjectPattern(filter);
    return this.#stream(stream).lastPerSubject(filter);
  }

  async purge(stream: string, filter: string): Promise<void> {
    this.#assertOpen('purge');
    assertName('stream', stream);
    assertSubjectPattern(filter);
    this.#stream(stream).purge(filter);
  }

  async kv(spec: KvSpec): Promise<KvBucket> {
    this.#assertOpen('kv');
    assertKvSpec(spec);
    let bucket = this.#buckets.get(spec.bucket);
    if (bucket === undefined) {
      bucket = new MemoryKvBucket(spec.bucket, spec.ttlMs, this.#clock, (operation) => this.#assertOpen(operation));
      this.#buckets.set(spec.bucket, bucket);
    } else {
      bucket.ttlMs = spec.ttlMs;
    }
    return bucket;
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // Let deliveries already queued run (the embedded analogue of a drain), within a bound.
    const deadline = Date.now() + CLOSE_DRAIN_MS;
    while (!this.#bus.idle && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    await Promise.allSettled([...this.#handles].map((handle) => handle.stop()));
    for (const consumers of this.#consumers.values()) for (const consumer of consumers.values()) consumer.delete();
    this.#bus.close();
    this.#timers.clearAll();
    for (const listener of [...this.#listeners]) {
      try {
        listener('closed');
      } catch (err) {
        this.#logger.error({ err }, 'backbone status listener failed');
      }
    }
  }
}

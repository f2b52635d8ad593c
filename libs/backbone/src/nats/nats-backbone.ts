/**
 * The production backbone: NATS core for pub/sub, JetStream for streams and consumers, and
 * JetStream KV, through the nats.js v3 modules. Works against nats-server 2.9 and later;
 * nothing here needs a newer server.
 */

import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  StorageType,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection, nanos } from '@nats-io/transport-node';
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
import { DEFAULT_APPEND_TIMEOUT_MS, DEFAULT_REPLICAS } from '../defaults.js';
import { Bus } from '../embedded/bus.js';
import { BackboneClosedError, BackboneConnectError, StreamConflictError, StreamNotFoundError } from '../errors.js';
import { appendHeaders } from '../jetstream-headers.js';
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
import { ApiCode, apiCode, requestFailed } from './api-errors.js';
import { Appender } from './appender.js';
import {
  type ConsumerContext,
  consumerInfo,
  ephemeralName,
  NatsConsumerHandle,
  provisionConsumer,
} from './consumer.js';
import { deliveryOf } from './delivery.js';
import { fromNatsHeaders, messageHeaders, toNatsHeaders } from './headers.js';
import { NatsKvBucket } from './kv.js';
import { configDiff, IMMUTABLE_FIELDS, streamConfig } from './stream-config.js';

/** Options of {@link connectNats}. */
export interface NatsBackboneOptions {
  /** One or more `nats://host:port` URLs. */
  readonly servers: string | string[];
  /** Connection name shown by the server (`connz`). */
  readonly name?: string;
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
  /** pino-compatible; silent when omitted. */
  readonly logger?: BackboneLogger;
  /** Replicas of streams and buckets whose spec names none (default 1). */
  readonly replicas?: number;
}

/** Time between reconnect attempts, in ms (the client adds jitter). */
const RECONNECT_WAIT_MS = 1_000;
/**
 * How long `close()` lets appends in flight finish and a drain run before closing hard, in ms
 * (a drain waits for a server).
 */
const DRAIN_TIMEOUT_MS = 10_000;
/** Inactivity after which the server removes the helper consumer of `lastPerSubject`, in ms. */
const SCAN_INACTIVE_THRESHOLD_MS = 10_000;
/** How long one pull of a `lastPerSubject` scan waits, in ms (the minimum nats.js allows). */
const SCAN_FETCH_EXPIRES_MS = 1_000;
/** Most messages one pull of a `lastPerSubject` scan asks for. */
const SCAN_BATCH = 1_000;

/**
 * Connects to NATS and returns the JetStream backbone. The first connection must succeed
 * (else `BackboneConnectError`); afterwards the client reconnects forever and
 * `isReady()`/`onStatus` follow the connection.
 */
export async function connectNats(options: NatsBackboneOptions): Promise<Backbone> {
  const servers = options.servers;
  const settings = {
    servers,
    user: options.user,
    pass: options.pass,
    token: options.token,
    maxReconnectAttempts: -1,
    waitOnFirstConnect: false,
    reconnectTimeWait: RECONNECT_WAIT_MS,
    // Capturing a stack trace per request costs about a quarter of the CPU of a JetStream
    // append in profiles of the bridge; errors still carry their own stacks.
    noAsyncTraces: true,
  };
  let nc: NatsConnection;
  let echo: NatsConnection;
  try {
    // The main connection does not get its own messages back (see `NatsBackbone#loopback`).
    nc = await connect({ ...settings, name: options.name, noEcho: true });
  } catch (cause) {
    throw new BackboneConnectError(Array.isArray(servers) ? servers.join(',') : servers, { cause });
  }
  try {
    echo = await connect({ ...settings, name: options.name && `${options.name}-queue-publisher` });
  } catch (cause) {
    await nc.close().catch(() => undefined);
    throw new BackboneConnectError(Array.isArray(servers) ? servers.join(',') : servers, { cause });
  }
  try {
    const jsm = await jetstreamManager(nc);
    return new NatsBackbone(nc, echo, jsm, options);
  } catch (cause) {
    await Promise.all([nc.close().catch(() => undefined), echo.close().catch(() => undefined)]);
    throw new BackboneConnectError(`${nc.getServer()} (JetStream unavailable)`, { cause });
  }
}

/**
 * The JetStream backbone. Its main connection is `noEcho`: what it publishes reaches this
 * backbone's own subscriptions through an in-process loopback (the embedded `Bus`), not a
 * round trip through the server, so a message published and consumed on one replica costs no
 * NATS parsing on the way back. Queue groups are the exception — the server must choose among
 * all members, ours included — so a subject one of our queue subscriptions matches is
 * published over a second, echoing connection instead, and not looped back.
 */
class NatsBackbone implements Backbone {
  readonly kind = 'nats' as const;
  readonly serverVersion: string;
  readonly #nc: NatsConnection;
  /** Publishes subjects our own queue groups listen to (echo on, never subscribes). */
  readonly #echo: NatsConnection;
  /** This backbone's plain subscriptions, for the loopback. */
  readonly #loopback: Bus;
  /** This backbone's queue subscriptions (only asked whether a subject matches one). */
  readonly #queues: Bus;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #kvm: Kvm;
  readonly #logger: BackboneLogger;
  readonly #replicas: number;
  readonly #listeners = new Set<(status: BackboneStatus) => void>();
  readonly #handles = new Set<NatsConsumerHandle>();
  readonly #consumerContext: ConsumerContext;
  readonly #appender: Appender;
  #status: BackboneStatus = 'connected';
  #closing: Promise<void> | undefined;

  constructor(nc: NatsConnection, echo: NatsConnection, jsm: JetStreamManager, options: NatsBackboneOptions) {
    this.#nc = nc;
    this.#echo = echo;
    this.#jsm = jsm;
    this.#js = jetstream(nc);
    this.#kvm = new Kvm(this.#js);
    this.#logger = options.logger ?? silentLogger;
    this.#loopback = new Bus(this.#logger);
    this.#queues = new Bus(this.#logger);
    this.#replicas = options.replicas ?? DEFAULT_REPLICAS;
    this.serverVersion = nc.info?.version ?? 'unknown';
    this.#consumerContext = {
      js: this.#js,
      jsm: this.#jsm,
      logger: this.#logger,
      isClosed: () => this.#nc.isClosed(),
      isConnected: () => this.#status === 'connected',
    };
    this.#appender = new Appender({
      nc,
      connectionFor: (subject) => (this.#queues.wants(subject) ? echo : nc),
      logger: this.#logger,
      isConnected: () => this.#status === 'connected',
      captured: (subject) => this.#captured(subject),
    });
    void this.#watchStatus();
    void nc.closed().then(() => this.#setStatus('closed'));
  }

  async #watchStatus(): Promise<void> {
    for await (const s of this.#nc.status()) {
      switch (s.type) {
        case 'disconnect':
        case 'reconnecting':
          this.#setStatus('reconnecting');
          break;
        case 'reconnect':
          this.#logger.info({ server: s.server }, 'backbone reconnected');
          this.#setStatus('connected');
          break;
        case 'close':
          this.#setStatus('closed');
          break;
        case 'error':
          this.#logger.warn({ err: s.error }, 'backbone server error');
          break;
        default:
      }
    }
  }

  #setStatus(status: BackboneStatus): void {
    if (this.#status === status || this.#status === 'closed') return;
    if (status === 'reconnecting') this.#logger.warn({ server: this.#nc.getServer() }, 'backbone disconnected');
    this.#status = status;
    for (const listener of [...this.#listeners]) {
      try {
        listener(status);
      } catch (err) {
        this.#logger.error({ err }, 'backbone status listener failed');
      }
    }
  }

  #assertOpen(operation: string): void {
    if (this.#closing !== undefined || this.#nc.isClosed()) throw new BackboneClosedError(operation);
  }

  isReady(): boolean {
    return this.#status === 'connected' && this.#closing === undefined;
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
    try {
      if (this.#queues.wants(subject)) {
        this.#echo.publish(subject, payload, { headers: toNatsHeaders(headers) });
        return;
      }
      this.#nc.publish(subject, payload, { headers: toNatsHeaders(headers) });
    } catch (err) {
      throw requestFailed(`publish ${subject}`, err);
    }
    this.#loopBack(subject, payload, headers);
  }

  /** Hands what the main connection sent to this backbone's own matching subscriptions. */
  #loopBack(subject: string, payload: Uint8Array, headers: HeaderEntries | undefined): void {
    if (!this.#loopback.wants(subject)) return;
    this.#loopback.publish({ subject, payload: copyBytes(payload), headers: normalizeHeaders(headers) });
  }

  subscribe(subject: string, onMessage: (message: BackboneMessage) => void, options?: SubscribeOptions): Subscription {
    this.#assertOpen('subscribe');
    assertSubjectPattern(subject);
    if (options?.queue !== undefined) assertQueue(options.queue);
    const logger = this.#logger;
    const queue = options?.queue;
    const sub = this.#nc.subscribe(subject, {
      queue,
      callback: (err, msg) => {
        if (err !== null) {
          logger.error({ subject, err }, 'subscription failed');
          return;
        }
        try {
          onMessage({ subject: msg.subject, payload: msg.data, headers: messageHeaders(msg) });
        } catch (handlerErr) {
          logger.error({ subject, err: handlerErr }, 'subscriber failed');
        }
      },
    });
    const local =
      queue === undefined ? this.#loopback.subscribe(subject, onMessage) : this.#queues.subscribe(subject, noop, queue);
    return {
      subject,
      unsubscribe() {
        local();
        if (!sub.isClosed()) sub.unsubscribe();
      },
    };
  }

  async flush(): Promise<void> {
    this.#assertOpen('flush');
    try {
      await this.#nc.flush();
    } catch (err) {
      throw requestFailed('flush', err);
    }
  }

  async ensureStream(spec: StreamSpec): Promise<void> {
    this.#assertOpen('ensureStream');
    assertStreamSpec(spec);
    const want = streamConfig(spec, this.#replicas);
    // Several replicas provision at start-up: a create that loses the race re-reads and compares.
    for (let attempt = 0; ; attempt++) {
      const info = await this.#streamInfo(spec.name);
      if (info === undefined) {
        try {
          await this.#jsm.streams.add({ ...want });
          this.#logger.info({ stream: spec.name, subjects: want.subjects }, 'stream created');
          return;
        } catch (err) {
          const code = apiCode(err);
          if (code === ApiCode.StreamNameInUse && attempt < 3) continue;
          throw this.#streamError(spec.name, err);
        }
      }
      const diff = configDiff(info.config, want);
      if (diff.length === 0) return;
      const immutable = diff.filter((field) => IMMUTABLE_FIELDS.has(field));
      if (immutable.length > 0) {
        throw new StreamConflictError(spec.name, `cannot change ${immutable.join(', ')} of an existing stream`);
      }
      const update = Object.fromEntries(diff.map((field) => [field, want[field]]));
      try {
        await this.#jsm.streams.update(spec.name, update);
        this.#logger.info({ stream: spec.name, changed: diff }, 'stream updated');
        return;
      } catch (err) {
        throw this.#streamError(spec.name, err);
      }
    }
  }

  #streamError(stream: string, err: unknown): Error {
    if (apiCode(err) === ApiCode.StreamSubjectOverlap) {
      return new StreamConflictError(stream, 'its subjects overlap those of another stream', { cause: err });
    }
    if (apiCode(err) !== undefined) {
      return new StreamConflictError(stream, (err as Error).message, { cause: err });
    }
    return requestFailed(`ensureStream ${stream}`, err);
  }

  async #streamInfo(stream: string) {
    try {
      return await this.#jsm.streams.info(stream);
    } catch (err) {
      if (apiCode(err) === ApiCode.StreamNotFound) return undefined;
      throw requestFailed(`stream info ${stream}`, err);
    }
  }

  async streamState(stream: string): Promise<StreamState | undefined> {
    this.#assertOpen('streamState');
    assertName('stream', stream);
    const info = await this.#streamInfo(stream);
    if (info === undefined) return undefined;
    const { first_seq, last_seq, messages } = info.state;
    return { name: stream, firstSeq: messages === 0 ? last_seq + 1 : first_seq, lastSeq: last_seq, messages };
  }

  append(subject: string, payload: Uint8Array, options: AppendOptions = {}): Promise<AppendResult> {
    try {
      this.#assertOpen('append');
      assertSubject(subject);
      assertAppendOptions(options);
    } catch (err) {
      return Promise.reject(err);
    }
    const appended = this.#appender.append(subject, payload, options, options.timeoutMs ?? DEFAULT_APPEND_TIMEOUT_MS);
    // As on the server, live subscribers get the message whether or not the stream keeps it.
    if (!this.#queues.wants(subject)) this.#loopBack(subject, payload, appendHeaders(options));
    return appended;
  }

  /** True when some stream captures `subject` (true too when the server cannot tell us). */
  async #captured(subject: string): Promise<boolean> {
    try {
      await this.#jsm.streams.find(subject);
      return true;
    } catch (err) {
      return apiCode(err) !== ApiCode.StreamNotFound && !(err instanceof Error && err.message.includes('no stream'));
    }
  }

  async getMessage(stream: string, seq: number): Promise<StoredMessage | undefined> {
    this.#assertOpen('getMessage');
    assertName('stream', stream);
    if (!Number.isInteger(seq) || seq < 1) return undefined;
    return this.#getStored(stream, { seq }, 'getMessage');
  }

  async #getStored(
    stream: string,
    query: { seq: number } | { last_by_subj: string },
    operation: string,
  ): Promise<StoredMessage | undefined> {
    try {
      const sm = await this.#jsm.streams.getMessage(stream, query);
      if (sm === null) return undefined;
      return {
        stream,
        seq: sm.seq,
        subject: sm.subject,
        payload: sm.data,
        headers: fromNatsHeaders(sm.header),
        time: sm.time.getTime(),
      };
    } catch (err) {
      if (apiCode(err) === ApiCode.StreamNotFound) throw new StreamNotFoundError(stream, { cause: err });
      throw requestFailed(`${operation} ${stream}`, err);
    }
  }

  async readStream(stream: string, options: ReadStreamOptions): Promise<StoredMessage[]> {
    this.#assertOpen('readStream');
    assertReadStreamOptions(stream, options);
    return this.#scan(
      stream,
      'readStream',
      {
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: options.fromSeq,
        ...(options.filter === undefined ? {} : { filter_subject: options.filter }),
      },
      options.maxMessages,
    );
  }

  async consume(spec: ConsumerSpec, handler: ConsumerHandler): Promise<ConsumerHandle> {
    this.#assertOpen('consume');
    assertConsumerSpec(spec);
    const name = spec.durable ?? ephemeralName();
    const info = await provisionConsumer(this.#consumerContext, spec, name, spec.deliver);
    if (this.#closing !== undefined) {
      if (spec.durable === undefined) await this.#jsm.consumers.delete(spec.stream, name).catch(() => false);
      throw new BackboneClosedError('consume');
    }
    const handle = new NatsConsumerHandle(this.#consumerContext, spec, info, handler, (h) => this.#handles.delete(h));
    this.#handles.add(handle);
    return handle;
  }

  async consumerState(stream: string, durable: string): Promise<ConsumerState | undefined> {
    this.#assertOpen('consumerState');
    assertName('stream', stream);
    assertName('consumer', durable);
    try {
      const info = await consumerInfo(this.#jsm, stream, durable);
      if (info === undefined) return undefined;
      return {
        name: info.name,
        ackFloor: info.ack_floor.stream_seq,
        pending: info.num_pending,
        ackPending: info.num_ack_pending,
      };
    } catch (err) {
      throw requestFailed(`consumerState ${stream}/${durable}`, err);
    }
  }

  async deleteConsumer(stream: string, durable: string): Promise<boolean> {
    this.#assertOpen('deleteConsumer');
    assertName('stream', stream);
    assertName('consumer', durable);
    try {
      return await this.#jsm.consumers.delete(stream, durable);
    } catch (err) {
      const code = apiCode(err);
      if (code === ApiCode.ConsumerNotFound || code === ApiCode.StreamNotFound) return false;
      throw requestFailed(`deleteConsumer ${stream}/${durable}`, err);
    }
  }

  async lastBySubject(stream: string, subject: string): Promise<StoredMessage | undefined> {
    this.#assertOpen('lastBySubject');
    assertName('stream', stream);
    assertSubject(subject);
    return this.#getStored(stream, { last_by_subj: subject }, 'lastBySubject');
  }

  async lastPerSubject(stream: string, filter: string): Promise<StoredMessage[]> {
    this.#assertOpen('lastPerSubject');
    assertName('stream', stream);
    assertSubjectPattern(filter);
    // Positioned at the last message of each subject; one filter subject, as 2.9 requires.
    return this.#scan(
      stream,
      'lastPerSubject',
      { deliver_policy: DeliverPolicy.LastPerSubject, filter_subject: filter },
      Number.POSITIVE_INFINITY,
    );
  }

  /**
   * Reads stored messages through a throwaway consumer (no acks, memory state) placed by
   * `position`, up to `limit` or until it reports nothing pending (the end of the stream when
   * it was created). A filter that matches none of the stream's subjects reads nothing.
   */
  async #scan(
    stream: string,
    operation: string,
    position: Pick<ConsumerConfig, 'deliver_policy' | 'opt_start_seq' | 'filter_subject'>,
    limit: number,
  ): Promise<StoredMessage[]> {
    const name = ephemeralName();
    let info: Awaited<ReturnType<JetStreamManager['consumers']['add']>>;
    try {
      info = await this.#jsm.consumers.add(stream, {
        name,
        ack_policy: AckPolicy.None,
        ...position,
        inactive_threshold: nanos(SCAN_INACTIVE_THRESHOLD_MS),
        mem_storage: true,
        num_replicas: 1,
      });
    } catch (err) {
      const code = apiCode(err);
      if (code === ApiCode.StreamNotFound) throw new StreamNotFoundError(stream, { cause: err });
      if (code === ApiCode.ConsumerFilterNotSubset) return [];
      throw requestFailed(`${operation} ${stream}`, err);
    }
    const out: StoredMessage[] = [];
    try {
      let wanted = Math.min(info.num_pending, limit);
      const consumer = this.#js.consumers.getConsumerFromInfo(info);
      while (wanted > 0) {
        const batch = await consumer.fetch({
          max_messages: Math.min(wanted, SCAN_BATCH),
          expires: SCAN_FETCH_EXPIRES_MS,
        });
        let got = 0;
        for await (const m of batch) {
          got++;
          const delivery = deliveryOf(m);
          out.push({
            stream,
            seq: delivery.streamSeq,
            subject: m.subject,
            payload: m.data,
            headers: delivery.headers,
            time: delivery.time,
          });
          wanted = Math.min(delivery.pending, limit - out.length);
          if (wanted === 0) break;
        }
        // Messages removed while reading: ask the server what is left rather than wait forever.
        if (got === 0)
          wanted = Math.min((await this.#jsm.consumers.info(stream, name)).num_pending, limit - out.length);
      }
      return out;
    } catch (err) {
      throw requestFailed(`${operation} ${stream}`, err);
    } finally {
      await this.#jsm.consumers.delete(stream, name).catch(() => false);
    }
  }

  async purge(stream: string, filter: string): Promise<void> {
    this.#assertOpen('purge');
    assertName('stream', stream);
    assertSubjectPattern(filter);
    try {
      await this.#jsm.streams.purge(stream, { filter });
    } catch (err) {
      if (apiCode(err) === ApiCode.StreamNotFound) throw new StreamNotFoundError(stream, { cause: err });
      throw requestFailed(`purge ${stream}`, err);
    }
  }

  async kv(spec: KvSpec): Promise<KvBucket> {
    this.#assertOpen('kv');
    assertKvSpec(spec);
    try {
      const kv = await this.#kvm.create(spec.bucket, {
        history: 1,
        ttl: spec.ttlMs,
        replicas: spec.replicas ?? this.#replicas,
        storage: spec.storage === 'memory' ? StorageType.Memory : StorageType.File,
      });
      // `create` opens an existing bucket as it is; align its TTL (the bucket stream's max_age).
      const status = await kv.status();
      if (status.ttl !== (spec.ttlMs ?? 0)) {
        await this.#jsm.streams.update(status.streamInfo.config.name, { max_age: nanos(spec.ttlMs ?? 0) });
        this.#logger.info({ bucket: spec.bucket, ttlMs: spec.ttlMs }, 'bucket ttl updated');
      }
      return new NatsKvBucket(spec.bucket, kv, (operation) => this.#assertOpen(operation));
    } catch (err) {
      throw requestFailed(`kv ${spec.bucket}`, err);
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await Promise.allSettled([...this.#handles].map((handle) => handle.stop()));
    if (!this.#nc.isClosed()) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), DRAIN_TIMEOUT_MS);
        timer.unref();
      });
      try {
        // Appends in flight get their acks first (or time out); then subscriptions drain.
        const drained = this.#appender
          .idle()
          .then(() => Promise.all([this.#nc.drain(), this.#echo.drain().catch(() => undefined)]))
          .then(() => 'drained' as const);
        const result = await Promise.race([drained, timeout]);
        if (result === 'timeout') await Promise.all([this.#nc.close(), this.#echo.close()]);
      } catch {
        await Promise.all([this.#nc.close().catch(() => undefined), this.#echo.close().catch(() => undefined)]);
      } finally {
        clearTimeout(timer);
      }
    }
    this.#setStatus('closed');
  }
}

function noop(): void {}

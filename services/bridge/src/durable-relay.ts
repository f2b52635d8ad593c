/**
 * QoS 1 for one route: a durable JetStream consumer on the source tier's stream that every
 * bridge replica shares, with one active replica at a time.
 *
 * Why one active replica: order per topic must hold. Two replicas pulling from one shared
 * consumer would reorder (A has message 1 in flight while B appends message 2), and a
 * replica that stops would have its in-flight messages redelivered after newer ones. So the
 * replicas elect an owner per route with a lease in the leases bucket; the owner pipelines
 * appends (throughput comes from not waiting on each append, not from more consumers), and
 * standbys take over within about a second of a graceful release or a TTL after a crash.
 * Scaling QoS 1 past one replica per route means partitioning the topics (several consumers
 * per route, each with its own lease), which comes in a later issue.
 */
import type { DeliverFrom, KvBucket } from '@protomesh/backbone';
import { Lease, type LeaseTimings } from './lease.js';
import { Pipeline } from './pipeline.js';
import type { RelayContext } from './relay-context.js';
import type { CompiledRoute } from './routes.js';

/** Tuning of a {@link DurableRelay}; times in milliseconds. */
export interface DurableRelayOptions {
  /** Identifies this replica in the lease value. */
  readonly owner: string;
  readonly lease: LeaseTimings;
  /** Most appends in flight (the consumer's `maxAckPending`). */
  readonly maxInFlight: number;
  /** Consumer redelivery timeout, in ms. */
  readonly ackWaitMs: number;
  /** How long stopping waits for in-flight appends, in ms. */
  readonly graceMs: number;
  /** Pause before restarting the consumer after a failed append, in ms. */
  readonly restartDelayMs: number;
}

/** The QoS 1 relay of one route on this replica: standby or active. */
export class DurableRelay {
  readonly #route: CompiledRoute;
  readonly #ctx: RelayContext;
  readonly #options: DurableRelayOptions;
  readonly #lease: Lease;
  #pipeline: Pipeline | undefined;
  /** Activation, deactivation and restarts run one after another, in order. */
  #chain: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(route: CompiledRoute, context: RelayContext, bucket: KvBucket, options: DurableRelayOptions) {
    this.#route = route;
    this.#ctx = context;
    this.#options = options;
    this.#lease = new Lease(bucket, route.leaseKey, options.owner, options.lease, {
      acquired: () => {
        this.#enqueue(() => this.#activate());
      },
      lost: (reason) => {
        this.#enqueue(async () => {
          this.#ctx.logger.info({ route: route.id, reason }, 'bridge lease lost: consumer stopped');
          await this.#deactivate();
        });
      },
    });
  }

  /** True while this replica runs the route's consumer. */
  get active(): boolean {
    return this.#pipeline !== undefined;
  }

  /** Competes for the lease; resolves once this replica is either consuming or standing by. */
  async start(): Promise<void> {
    this.#ctx.metrics.leaseHeld(this.#route.id, false);
    await this.#lease.start();
    await this.#chain;
  }

  /** Drains in-flight appends (bounded by `graceMs`), then deletes the lease so a standby takes over at once. */
  async close(): Promise<void> {
    this.#closed = true;
    // The lease is kept renewed while draining, so no standby starts before we finish.
    await this.#enqueue(() => this.#deactivate());
    await this.#lease.release();
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    this.#chain = this.#chain.then(step).catch((error: unknown) => {
      this.#ctx.logger.error({ err: error, route: this.#route.id }, 'bridge consumer transition failed');
    });
    return this.#chain;
  }

  /** Starts consuming; `resumeFrom` (after a failed append) forces a restart from the ack floor. */
  async #activate(resumeFrom?: number): Promise<void> {
    if (this.#closed || !this.#lease.held || this.#pipeline) return;
    const route = this.#route;
    const { backbone, layout, logger, metrics } = this.#ctx;
    const stream = layout.streams[route.from.tier].name;
    try {
      const state = await backbone.consumerState(stream, route.durable);
      let deliver: DeliverFrom = { kind: 'new' };
      if (state && (state.ackPending > 0 || resumeFrom !== undefined)) {
        // A previous owner stopped (or our append failed) with messages unacked: their
        // redeliveries would arrive after newer messages and break per-topic order. Start a
        // fresh consumer just past the ack floor instead; the target's msgId dedup swallows
        // whatever was already stored.
        await backbone.deleteConsumer(stream, route.durable);
        deliver = { kind: 'seq', seq: state.ackFloor + 1 };
      } else if (!state && resumeFrom !== undefined) {
        deliver = { kind: 'seq', seq: resumeFrom };
      }
      const pipeline = new Pipeline({
        route,
        context: this.#ctx,
        maxInFlight: this.#options.maxInFlight,
        ackWaitMs: this.#options.ackWaitMs,
        onFailure: (error) => this.#enqueue(() => this.#restart(pipeline, error)),
      });
      this.#pipeline = pipeline;
      await pipeline.start(deliver);
      metrics.leaseHeld(route.id, true);
      const from = !state ? 'created' : deliver.kind === 'seq' ? `recreated at seq ${deliver.seq}` : 'resumed';
      logger.info({ route: route.id, durable: route.durable, consumer: from }, 'bridge lease acquired: consuming');
    } catch (error) {
      // Give the lease back so another replica (or this one, on a later try) starts over.
      logger.warn({ err: error, route: route.id }, 'bridge consumer could not start: lease released');
      this.#pipeline = undefined;
      await this.#lease.relinquish();
    }
  }

  /** After a failed append: drain what is in flight, then consume again from the ack floor. */
  async #restart(pipeline: Pipeline, error: unknown): Promise<void> {
    if (this.#pipeline !== pipeline) return;
    this.#ctx.logger.warn({ err: error, route: this.#route.id }, 'bridge append failed: restarting from the ack floor');
    const resumeFrom = pipeline.firstUnacked;
    await this.#deactivate();
    await new Promise((resolve) => setTimeout(resolve, this.#options.restartDelayMs));
    await this.#activate(resumeFrom ?? 1);
  }

  async #deactivate(): Promise<void> {
    const pipeline = this.#pipeline;
    if (!pipeline) return;
    this.#pipeline = undefined;
    await pipeline.drain(this.#options.graceMs);
    this.#ctx.metrics.leaseHeld(this.#route.id, false);
  }
}

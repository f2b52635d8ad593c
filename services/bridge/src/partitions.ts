/**
 * Who owns which QoS 1 partition. Every route has `BRIDGE_PARTITIONS` partitions; each is
 * owned by at most one replica at a time through a lease `bridge.<route>.<partition>` in
 * the leases bucket (TTL {@link LEASE_TTL_MS}): taken with `create`, kept with
 * compare-and-set `update` every tick, released with a delete after its cursor is written.
 *
 * Replicas find each other by heartbeat keys `bridge-replica.<id>` in the same bucket and
 * balance: each holds at most `ceil(partitions / live replicas)` partitions per route,
 * gives back the surplus gracefully (drain, write cursor, delete lease) and takes free
 * partitions up to its share. A replica that dies stops renewing; its leases expire after
 * the TTL and the survivors take its partitions from their cursors. A replica that cannot
 * renew in time stops issuing on its own (fencing) before its leases can expire.
 */
import { encodeKey, type KvBucket, KvConflictError } from '@protomesh/backbone';
import type { Logger } from '@protomesh/telemetry';
import type { CursorStore } from './cursors.js';
import type { RouteRelay } from './route-relay.js';

/** Partition ownership timings, in milliseconds. */
export interface PartitionTimings {
  /** Renew leases, refresh the heartbeat and rebalance this often. */
  readonly tickMs: number;
  /** The leases bucket's TTL: a lease or heartbeat is gone this long after its last write. */
  readonly ttlMs: number;
  /** Write moved cursors this often (bounds what a crash repeats). */
  readonly cursorFlushMs: number;
}

/** Default tick, in ms: a 5 s TTL survives three missed renewals. */
export const DEFAULT_TICK_MS = 1_000;
/** Default cursor write interval, in ms. */
export const DEFAULT_CURSOR_FLUSH_MS = 250;

interface Held {
  readonly relay: RouteRelay;
  readonly partition: number;
  revision: number;
  /** performance.now() of the last successful create or renewal. */
  renewedAt: number;
  /** Last cursor written. */
  written: number;
}

/** What a {@link PartitionManager} works with. */
export interface PartitionManagerOptions {
  readonly leases: KvBucket;
  readonly cursors: CursorStore;
  readonly replicaId: string;
  readonly partitions: number;
  readonly timings: PartitionTimings;
  /** How long giving a partition back waits for its crossings in flight, in ms. */
  readonly graceMs: number;
  readonly logger: Logger;
  /** Told the number of live replicas after every heartbeat. */
  readonly onReplicas: (replicas: number) => void;
}

/** Balances the partitions of every route's {@link RouteRelay} across live replicas. */
export class PartitionManager {
  readonly #o: PartitionManagerOptions;
  readonly #value: Uint8Array;
  readonly #heartbeatKey: string;
  /** Lease key → held partition. */
  readonly #held = new Map<string, Held>();
  #relays: RouteRelay[] = [];
  #replicas = 1;
  #chain: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #flushTimer: NodeJS.Timeout | undefined;
  #flushing = false;
  #closed = false;
  /** Rotates where this replica starts looking for free partitions, so replicas do not all race for 0. */
  readonly #offset: number;

  constructor(options: PartitionManagerOptions) {
    this.#o = options;
    this.#value = new TextEncoder().encode(JSON.stringify({ owner: options.replicaId }));
    this.#heartbeatKey = `bridge-replica.${encodeKey(options.replicaId)}`;
    let h = 0;
    for (const c of options.replicaId) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    this.#offset = h % options.partitions;
  }

  /** Live replicas seen at the last heartbeat (this one included). */
  get replicas(): number {
    return this.#replicas;
  }

  /** Partitions held per route id. */
  held(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const relay of this.#relays) out.set(relay.route.id, relay.held());
    return out;
  }

  /** Runs the first tick (heartbeat, take a share), then ticks and flushes cursors on timers. */
  async start(relays: readonly RouteRelay[]): Promise<void> {
    this.#relays = [...relays];
    await this.#enqueue(() => this.#tick());
    this.#schedule();
    this.#flushTimer = setInterval(() => void this.#flush(), this.#o.timings.cursorFlushMs);
    this.#flushTimer.unref();
  }

  /**
   * Swaps the relays: `removed` give their partitions back (cursors written, leases
   * deleted; `forget` also deletes the positions of routes that no longer exist) before
   * `added` compete for partitions at the next tick.
   */
  reconfigure(
    added: readonly RouteRelay[],
    removed: readonly RouteRelay[],
    forget: ReadonlySet<string>,
  ): Promise<void> {
    return this.#enqueue(async () => {
      await Promise.all(removed.map((relay) => this.#releaseRelay(relay)));
      await Promise.all(removed.map((relay) => relay.close(0)));
      for (const relay of removed)
        if (forget.has(relay.route.id)) await this.#o.cursors.forget(relay.route).catch(() => undefined);
      this.#relays = [...this.#relays.filter((r) => !removed.includes(r)), ...added];
      await this.#tick();
    });
  }

  /** Gives every partition back, stops the timers and removes the heartbeat. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    clearInterval(this.#flushTimer);
    await this.#enqueue(async () => {
      await Promise.all(this.#relays.map((relay) => this.#releaseRelay(relay)));
      await Promise.all(this.#relays.map((relay) => relay.close(0)));
      await this.#o.leases.delete(this.#heartbeatKey).catch(() => undefined);
    });
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    this.#chain = this.#chain.then(step).catch((error: unknown) => {
      this.#o.logger.warn({ err: error }, 'bridge partition balancing failed');
    });
    return this.#chain;
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      void this.#enqueue(() => this.#tick()).then(() => this.#schedule());
    }, this.#o.timings.tickMs);
    this.#timer.unref();
  }

  static leaseKey(relay: RouteRelay, partition: number): string {
    return `bridge.${relay.route.slug}.${partition}`;
  }

  async #tick(): Promise<void> {
    if (this.#closed) return;
    const { leases, timings } = this.#o;
    // 1. Heartbeat, and how many replicas are alive.
    try {
      await leases.put(this.#heartbeatKey, this.#value);
      // A key written while NATS lists the keys can be listed twice: count distinct keys.
      const live = new Set(await leases.keys('bridge-replica.>'));
      live.add(this.#heartbeatKey);
      this.#replicas = live.size;
    } catch (error) {
      this.#o.logger.warn({ err: error }, 'bridge heartbeat failed');
    }
    this.#o.onReplicas(this.#replicas);
    // 2. Renew what we hold; fence what we could not renew in time.
    const now = performance.now();
    await Promise.all(
      [...this.#held].map(async ([key, held]) => {
        try {
          held.revision = await leases.update(key, this.#value, held.revision);
          held.renewedAt = performance.now();
        } catch (error) {
          if (KvConflictError.is(error)) this.#lose(key, held, 'taken over or expired');
        }
        if (this.#held.get(key) === held && now - held.renewedAt > timings.ttlMs - 2 * timings.tickMs) {
          this.#lose(key, held, 'not renewed in time');
        }
      }),
    );
    // 3. Balance: give back the surplus, take free partitions up to the share.
    const share = Math.ceil(this.#o.partitions / this.#replicas);
    for (const relay of this.#relays) {
      if (this.#closed) return;
      const mine = relay.held();
      for (const p of mine.slice(share).reverse()) await this.#release(relay, p);
      let count = Math.min(mine.length, share);
      for (let k = 0; k < this.#o.partitions && count < share; k++) {
        const p = (this.#offset + k) % this.#o.partitions;
        if (mine.includes(p)) continue;
        if (await this.#acquire(relay, p)) count++;
      }
    }
  }

  async #acquire(relay: RouteRelay, p: number): Promise<boolean> {
    const key = PartitionManager.leaseKey(relay, p);
    let revision: number;
    try {
      revision = await this.#o.leases.create(key, this.#value);
    } catch {
      return false; // held by another replica (KvConflictError) or the backbone is down
    }
    try {
      const from = await this.#o.cursors.read(relay.route, p);
      this.#held.set(key, { relay, partition: p, revision, renewedAt: performance.now(), written: from });
      await relay.hold(p, from);
      this.#o.logger.debug({ route: relay.route.id, partition: p, from }, 'bridge partition taken');
      return true;
    } catch (error) {
      this.#o.logger.warn({ err: error, route: relay.route.id, partition: p }, 'bridge partition could not start');
      this.#held.delete(key);
      relay.drop(p);
      await this.#o.leases.delete(key, { revision }).catch(() => undefined);
      return false;
    }
  }

  async #release(relay: RouteRelay, p: number): Promise<void> {
    const key = PartitionManager.leaseKey(relay, p);
    const held = this.#held.get(key);
    const cursor = await relay.release(p, this.#o.graceMs);
    if (!held) return;
    this.#held.delete(key);
    if (cursor !== undefined && cursor > held.written) {
      await this.#o.cursors.write(relay.route, p, cursor).catch((error: unknown) => {
        this.#o.logger.warn({ err: error, route: relay.route.id, partition: p }, 'bridge cursor write failed');
      });
    }
    await this.#o.leases.delete(key, { revision: held.revision }).catch(() => undefined);
    this.#o.logger.debug({ route: relay.route.id, partition: p, cursor }, 'bridge partition given back');
  }

  async #releaseRelay(relay: RouteRelay): Promise<void> {
    await Promise.all(relay.held().map((p) => this.#release(relay, p)));
  }

  #lose(key: string, held: Held, reason: string): void {
    if (this.#held.get(key) !== held) return;
    this.#held.delete(key);
    held.relay.drop(held.partition);
    this.#o.logger.warn({ route: held.relay.route.id, partition: held.partition, reason }, 'bridge partition lost');
  }

  /** Writes every cursor that moved since it was last written. */
  async #flush(): Promise<void> {
    if (this.#flushing || this.#closed) return;
    this.#flushing = true;
    try {
      await Promise.all(
        [...this.#held.values()].map(async (held) => {
          const cursor = held.relay.cursor(held.partition);
          if (cursor === undefined || cursor <= held.written) return;
          await this.#o.cursors.write(held.relay.route, held.partition, cursor);
          held.written = Math.max(held.written, cursor);
        }),
      );
    } catch (error) {
      this.#o.logger.warn({ err: error }, 'bridge cursor write failed');
    } finally {
      this.#flushing = false;
    }
  }
}

/**
 * An ownership lease in a KV bucket with a TTL: at most one replica holds a key at a time.
 * The holder takes it with `create` and keeps it with compare-and-set `update` well inside
 * the TTL; when the holder dies its entry expires and a standby's `create` succeeds.
 */
import { type KvBucket, KvConflictError } from '@protomesh/backbone';

/** Lease renewal timings, in milliseconds. */
export interface LeaseTimings {
  /** The holder renews this often: three renewals fit in the default 5 s TTL. */
  readonly renewMs: number;
  /** A standby tries to take the lease this often. */
  readonly retryMs: number;
  /** The bucket's TTL: the lease is gone this long after its last renewal. */
  readonly ttlMs: number;
}

/** Default renewal interval, in ms (a 5 s TTL survives two missed renewals). */
export const DEFAULT_LEASE_RENEW_MS = 1_500;
/** Default standby retry interval, in ms (bounds takeover after a graceful release to ~1 s). */
export const DEFAULT_LEASE_RETRY_MS = 1_000;

/** What the owner of a {@link Lease} hears. Handlers must not throw. */
export interface LeaseEvents {
  acquired(): void;
  lost(reason: string): void;
}

/** One lease key, held or awaited by this replica. */
export class Lease {
  readonly #bucket: KvBucket;
  readonly #key: string;
  readonly #value: Uint8Array;
  readonly #timings: LeaseTimings;
  readonly #events: LeaseEvents;
  #held = false;
  #revision = 0;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  /** Declares the lease lost when no renewal succeeded in time (the holder fences itself). */
  #fence: NodeJS.Timeout | undefined;
  #tick: Promise<void> = Promise.resolve();

  constructor(bucket: KvBucket, key: string, owner: string, timings: LeaseTimings, events: LeaseEvents) {
    this.#bucket = bucket;
    this.#key = key;
    this.#value = new TextEncoder().encode(JSON.stringify({ owner }));
    this.#timings = timings;
    this.#events = events;
  }

  /** True from a successful `create` until the lease is lost, relinquished or released. */
  get held(): boolean {
    return this.#held;
  }

  /** Makes the first attempt (awaited), then keeps trying or renewing on timers. */
  async start(): Promise<void> {
    this.#run();
    await this.#tick;
  }

  /** Stops every timer and, when held, deletes the key so a standby takes over at once. */
  async release(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#fence);
    await this.#tick;
    await this.#drop();
  }

  /** Gives the lease up (a standby, or this replica on a later try, takes it) and keeps competing. */
  async relinquish(): Promise<void> {
    await this.#drop();
  }

  #run(): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    this.#tick = (this.#held ? this.#renew() : this.#acquire()).finally(() => {
      if (this.#stopped) return;
      this.#timer = setTimeout(() => this.#run(), this.#held ? this.#timings.renewMs : this.#timings.retryMs);
      this.#timer.unref();
    });
  }

  async #acquire(): Promise<void> {
    let revision: number;
    try {
      revision = await this.#bucket.create(this.#key, this.#value);
    } catch {
      return; // held by another replica (KvConflictError) or the backbone is down: try again later
    }
    if (this.#stopped) {
      await this.#bucket.delete(this.#key, { revision }).catch(() => {});
      return;
    }
    this.#held = true;
    this.#revision = revision;
    this.#armFence();
    this.#events.acquired();
  }

  async #renew(): Promise<void> {
    const revision = this.#revision;
    try {
      const next = await this.#bucket.update(this.#key, this.#value, revision);
      if (this.#held && this.#revision === revision) {
        this.#revision = next;
        this.#armFence();
      } else {
        // The fence fired while this renewal was in flight: the owner already stopped, so hand the key back.
        await this.#bucket.delete(this.#key, { revision: next }).catch(() => {});
      }
    } catch (error) {
      // A conflict means the entry expired or another replica took it; other errors are
      // transient and the fence decides when the lease must be considered gone.
      if (KvConflictError.is(error)) this.#lose('taken over or expired');
    }
  }

  #armFence(): void {
    clearTimeout(this.#fence);
    // Stop consuming one renewal interval before the entry can expire on the server.
    this.#fence = setTimeout(() => this.#lose('not renewed in time'), this.#timings.ttlMs - this.#timings.renewMs);
    this.#fence.unref();
  }

  #lose(reason: string): void {
    if (!this.#held) return;
    this.#held = false;
    clearTimeout(this.#fence);
    this.#events.lost(reason);
  }

  async #drop(): Promise<void> {
    if (!this.#held) return;
    this.#held = false;
    clearTimeout(this.#fence);
    await this.#bucket.delete(this.#key, { revision: this.#revision }).catch(() => {});
  }
}

/**
 * Replica liveness in the leases bucket (TTL `LEASE_TTL_MS`): each mqtt-edge replica keeps
 * `mqtt-edge.<node>` alive while it runs. A session record owned by a replica whose lease
 * is gone belongs to a crashed replica: a new connection does not wait for its answer, and
 * the sweeper treats the session as disconnected.
 */
import { type Backbone, type KvBucket, type KvSpec, LEASE_TTL_MS } from '@protomesh/backbone';
import type { Logger } from '@protomesh/telemetry';

/** Renew the lease this often, in ms: well inside its TTL. */
const RENEW_EVERY_MS = Math.floor(LEASE_TTL_MS / 3);
const encoder = new TextEncoder();

export class Presence {
  readonly #bucket: Promise<KvBucket>;
  readonly #node: string;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(backbone: Backbone, spec: KvSpec, node: string, logger: Logger) {
    this.#bucket = backbone.kv(spec);
    this.#bucket.catch(() => undefined);
    this.#node = node;
    this.#logger = logger;
    void this.#renew();
  }

  async #renew(): Promise<void> {
    if (this.#stopped) return;
    try {
      const kv = await this.#bucket;
      await kv.put(leaseKey(this.#node), encoder.encode(String(Date.now())));
    } catch (error) {
      this.#logger.debug({ err: error }, 'mqtt-edge presence lease not renewed');
    }
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#renew(), RENEW_EVERY_MS);
    this.#timer.unref();
  }

  /** True while replica `node` renews its lease (this replica always is). */
  async isAlive(node: string): Promise<boolean> {
    if (node === this.#node) return !this.#stopped;
    try {
      const kv = await this.#bucket;
      return (await kv.get(leaseKey(node))) !== undefined;
    } catch {
      // Cannot tell: assume alive, so a takeover waits for the answer (bounded by its timeout).
      return true;
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    try {
      const kv = await this.#bucket;
      await kv.delete(leaseKey(this.#node));
    } catch {
      // The lease expires on its own.
    }
  }
}

function leaseKey(node: string): string {
  return `mqtt-edge.${node}`;
}

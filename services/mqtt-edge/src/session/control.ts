/**
 * Session takeover across replicas over two control subjects (core NATS, no storage):
 *
 * - `<prefix>.ctl.mqtt.session`: every replica hears that a client id connected somewhere
 *   ({@link TakeoverNotice}) and closes its own older connection with that id (MQTT 5
 *   reason 0x8E) [MQTT-3.1.4-3].
 * - `<prefix>.ctl.mqtt.released.<node>`: the replica that owned the session answers the
 *   new owner once the old connection has handed everything back (consumers stopped,
 *   unacknowledged messages returned), so the new owner resumes without losing a message.
 *
 * The session record's compare-and-set claim happens before the notice, so a slow or
 * partitioned old owner can no longer write the session even if it never hears it.
 */
import type { Backbone, BackboneMessage, Subscription } from '@protomesh/backbone';

/** A client id connected at `node`/`conn` at time `at` (epoch ms). */
export interface TakeoverNotice {
  readonly clientId: string;
  readonly node: string;
  readonly conn: number;
  readonly at: number;
  /** The new connection starts a new session (the old one ends, its Will is due). */
  readonly clean: boolean;
  /** Replica that owned the stored session before the claim: it answers on the released subject. */
  readonly prev?: string;
  /** Revision of the new owner's claim in the sessions bucket (orders claims of one session). */
  readonly rev?: number;
}

interface Released {
  readonly clientId: string;
  readonly conn: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class SessionControl {
  readonly #backbone: Backbone;
  readonly #noticeSubject: string;
  readonly #releasedPrefix: string;
  readonly #node: string;
  readonly #waiters = new Map<string, () => void>();
  readonly #subscriptions: Subscription[] = [];

  /**
   * @param onNotice handles a notice from any replica (this one included); resolves once the
   *   local connections it closed have handed their session back.
   */
  constructor(backbone: Backbone, prefix: string, node: string, onNotice: (notice: TakeoverNotice) => Promise<void>) {
    this.#backbone = backbone;
    this.#noticeSubject = `${prefix}.ctl.mqtt.session`;
    this.#releasedPrefix = `${prefix}.ctl.mqtt.released`;
    this.#node = node;
    this.#subscriptions.push(
      backbone.subscribe(this.#noticeSubject, (message) => {
        const notice = parse<TakeoverNotice>(message);
        if (!notice || typeof notice.clientId !== 'string') return;
        void onNotice(notice).then(() => {
          if (notice.prev === node && notice.node !== node) this.#answer(notice);
        });
      }),
      backbone.subscribe(`${this.#releasedPrefix}.${node}`, (message) => {
        const released = parse<Released>(message);
        if (!released) return;
        const key = waiterKey(released.clientId, released.conn);
        this.#waiters.get(key)?.();
      }),
    );
  }

  /** Tells every replica that `notice.clientId` now belongs to this node's connection. */
  announce(notice: TakeoverNotice): void {
    this.#backbone.publish(this.#noticeSubject, encoder.encode(JSON.stringify(notice)));
  }

  /**
   * Announces and, when another replica owned the stored session, waits (at most
   * `timeoutMs`) for it to hand the session back. True when it answered.
   */
  async announceAndWait(notice: TakeoverNotice, timeoutMs: number): Promise<boolean> {
    if (notice.prev === undefined || notice.prev === this.#node) {
      this.announce(notice);
      return true;
    }
    const key = waiterKey(notice.clientId, notice.conn);
    let timer: NodeJS.Timeout | undefined;
    const answered = new Promise<boolean>((resolve) => {
      this.#waiters.set(key, () => resolve(true));
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    this.announce(notice);
    try {
      return await answered;
    } finally {
      clearTimeout(timer);
      this.#waiters.delete(key);
    }
  }

  #answer(notice: TakeoverNotice): void {
    const released: Released = { clientId: notice.clientId, conn: notice.conn };
    this.#backbone.publish(`${this.#releasedPrefix}.${notice.node}`, encoder.encode(JSON.stringify(released)));
  }

  close(): void {
    for (const subscription of this.#subscriptions.splice(0)) subscription.unsubscribe();
    for (const wake of this.#waiters.values()) wake();
  }
}

function waiterKey(clientId: string, conn: number): string {
  return `${conn}\u0000${clientId}`;
}

function parse<T>(message: BackboneMessage): T | undefined {
  try {
    return JSON.parse(decoder.decode(message.payload)) as T;
  } catch {
    return undefined;
  }
}
